namespace Rempart.Imap;
