using StackExchange.Redis;

namespace CeleryActors.Redis;

/// <summary>
/// A parsed <c>redis://[:password@]host:port[/db]</c> or <c>rediss://</c> URL (the form of <c>REDIS_URL</c> and
/// <c>CELERY_BROKER_URL</c>).
/// </summary>
/// <param name="Host">Host name or address.</param>
/// <param name="Port">TCP port, 6379 when the URL names none.</param>
/// <param name="Database">Logical database, 0 when the URL names none.</param>
/// <param name="User">ACL user name, if any.</param>
/// <param name="Password">Password, if any.</param>
/// <param name="UseTls">True for <c>rediss://</c>.</param>
public sealed record RedisUrl(string Host, int Port, int Database, string? User, string? Password, bool UseTls)
{
    /// <summary>The port Redis listens on when a URL names none.</summary>
    public const int DefaultPort = 6379;

    /// <summary>Parses <paramref name="text"/>, or says in <paramref name="error"/> what is wrong with it.</summary>
    public static bool TryParse(string? text, out RedisUrl? url, out string? error)
    {
        url = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "is empty; expected redis://[:password@]host:port[/db]";
            return false;
        }
        if (!Uri.TryCreate(text.Trim(), UriKind.Absolute, out var uri))
        {
            error = $"'{Redact(text)}' is not a URL; expected redis://[:password@]host:port[/db]";
            return false;
        }
        var tls = uri.Scheme switch { "redis" => false, "rediss" => true, _ => (bool?)null };
        if (tls is null)
        {
            error = $"scheme '{uri.Scheme}' is not supported; use redis:// or rediss://";
            return false;
        }
        if (string.IsNullOrEmpty(uri.Host))
        {
            error = "names no host";
            return false;
        }
        var port = uri.IsDefaultPort || uri.Port < 0 ? DefaultPort : uri.Port;
        if (port is < 1 or > 65535)
        {
            error = $"port {port} is out of range 1-65535";
            return false;
        }
        var db = 0;
        var path = uri.AbsolutePath.Trim('/');
        if (path.Length > 0 && (!int.TryParse(path, out db) || db < 0))
        {
            error = $"database '{path}' is not a non-negative number";
            return false;
        }
        string? user = null, password = null;
        if (!string.IsNullOrEmpty(uri.UserInfo))
        {
            var colon = uri.UserInfo.IndexOf(':');
            var rawUser = colon < 0 ? uri.UserInfo : uri.UserInfo[..colon];
            var rawPassword = colon < 0 ? null : uri.UserInfo[(colon + 1)..];
            user = rawUser.Length == 0 ? null : Uri.UnescapeDataString(rawUser);
            password = rawPassword is null ? null : Uri.UnescapeDataString(rawPassword);
            // redis://secret@host is the common old form: a lone user part is the password.
            if (colon < 0) (user, password) = (null, user);
        }
        url = new RedisUrl(uri.Host.Trim('[', ']'), port, db, user, password, tls.Value);
        error = null;
        return true;
    }

    /// <summary>Parses <paramref name="text"/> or throws <see cref="FormatException"/> saying what is wrong.</summary>
    public static RedisUrl Parse(string text) =>
        TryParse(text, out var url, out var error) ? url! : throw new FormatException($"Redis URL {error}");

    /// <summary>A URL for a server on loopback, as the embedded server and the test fixtures use.</summary>
    public static RedisUrl Loopback(int port) => new("127.0.0.1", port, 0, null, null, false);

    /// <summary>StackExchange.Redis options for this URL; the caller may tune them further.</summary>
    public ConfigurationOptions ToConfigurationOptions()
    {
        var options = new ConfigurationOptions
        {
            EndPoints = { { Host, Port } },
            DefaultDatabase = Database,
            User = User,
            Password = Password,
            Ssl = UseTls,
            AbortOnConnectFail = false,
            ClientName = "celeryactors",
            // Socket reads on the .NET thread pool, where the actors run, rather than on the library's own threads:
            // a reply or a pub/sub message is then often handled by a thread that is awake already. At a paced load
            // each handoff to another sleeping thread was a wake-up, and on a VM a wake-up across cores costs tens
            // of microseconds (docs/allocator.md, Figures). Nothing in the node blocks a pool thread on Redis.
            SocketManager = SocketManager.ThreadPool,
        };
        return options;
    }

    /// <summary>The URL without its password, fit for logs.</summary>
    public override string ToString() =>
        $"{(UseTls ? "rediss" : "redis")}://{(Password is null ? "" : (User ?? "") + ":***@")}{Host}:{Port}/{Database}";

    private static string Redact(string text)
    {
        var at = text.LastIndexOf('@');
        var scheme = text.IndexOf("://", StringComparison.Ordinal);
        return at > 0 && scheme >= 0 && at > scheme ? text[..(scheme + 3)] + "***" + text[at..] : text;
    }
}
