namespace Rempart.Store.Auth;

/// <summary>Argon2id password hashing in the PHC string format (<c>$argon2id$v=19$m=...,t=...,p=...$salt$hash</c>).</summary>
public sealed class PasswordHasher(int memoryKib = 19456, int iterations = 2, int parallelism = 1)
{
    public string Hash(string password) => throw new NotImplementedException();

    public bool Verify(string password, string encodedHash) => throw new NotImplementedException();
}
