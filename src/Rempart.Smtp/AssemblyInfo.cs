namespace Rempart.Smtp;
