using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("Rempart.Imap.Tests")]

namespace Rempart.Imap;
