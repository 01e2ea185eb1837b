using System.Runtime.CompilerServices;

// The store tests hold the writer loop with a gate to prove batching deterministically.
[assembly: InternalsVisibleTo("Rempart.Store.Tests")]
