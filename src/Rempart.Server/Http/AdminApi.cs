using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Rempart.Server.Http;

/// <summary>
/// Who may call the admin HTTP API (/api/...): the CLI on this machine, with the bearer token the server writes to
/// <see cref="DataFolder.AdminTokenPath"/> (mode 0600, so only the server's user and root read it), or an
/// administrator logged in to the report page (<see cref="SessionValidator"/>, set by the report).
/// </summary>
public sealed class AdminApi
{
    private readonly byte[] _token;

    private AdminApi(string token) => _token = Encoding.ASCII.GetBytes(token);

    /// <summary>Checks a request's session cookie; returns the administrator's address or null.</summary>
    public Func<HttpContext, string?> SessionValidator { get; set; } = _ => null;

    /// <summary>Creates a fresh token at every start (an old one stops working), written 0600 before use.</summary>
    public static AdminApi Create(DataFolder data)
    {
        var token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        var tmp = data.AdminTokenPath + ".tmp";
        File.Delete(tmp);
        var fileOptions = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            fileOptions.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var f = new FileStream(tmp, fileOptions))
        {
            f.Write(Encoding.ASCII.GetBytes(token + "\n"));
            f.Flush(flushToDisk: true);
        }

        File.Move(tmp, data.AdminTokenPath, overwrite: true);
        return new AdminApi(token);
    }

    /// <summary>The administrator behind a request ("cli" for the token), or null when it is not an admin's.</summary>
    public string? Authenticate(HttpContext ctx)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        var header = ctx.Request.Headers.Authorization.ToString();
        if (header.StartsWith("Bearer ", StringComparison.Ordinal))
        {
            var presented = Encoding.ASCII.GetBytes(header["Bearer ".Length..].Trim());
            return CryptographicOperations.FixedTimeEquals(presented, _token) ? "cli" : null;
        }

        return SessionValidator(ctx);
    }

    /// <summary>Endpoint filter: 401 unless <see cref="Authenticate"/> names an administrator.</summary>
    public TBuilder Require<TBuilder>(TBuilder builder)
        where TBuilder : IEndpointConventionBuilder
    {
        builder.AddEndpointFilter(async (context, next) =>
            Authenticate(context.HttpContext) is null
                ? Results.Text("admin login or the CLI token is required\n", "text/plain", statusCode: StatusCodes.Status401Unauthorized)
                : await next(context));
        return builder;
    }
}
