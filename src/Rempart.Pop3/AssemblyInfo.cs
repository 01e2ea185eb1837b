using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("Rempart.Pop3.Tests")]
