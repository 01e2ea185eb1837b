using System.Net;
using Rempart.Common.Configuration;

namespace Rempart.Monitoring.Reporting;

/// <summary>Where the report page may take an administrator's password.</summary>
public static class ReportLoginPolicy
{
    /// <summary>
    /// Over TLS always; over plain HTTP only from loopback (the password never crosses a network in clear), unless
    /// <see cref="ReportOptions.AllowPlainHttpLogin"/> says a TLS-terminating proxy on this host stands in front.
    /// </summary>
    public static bool PasswordAllowed(bool isHttps, IPAddress? remote, ReportOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (isHttps || options.AllowPlainHttpLogin)
        {
            return true;
        }

        if (remote is null)
        {
            return false;
        }

        if (remote.IsIPv4MappedToIPv6)
        {
            remote = remote.MapToIPv4();
        }

        return IPAddress.IsLoopback(remote);
    }
}
