using System.Security.Cryptography;
using System.Text;

namespace CeleryActors.Host.Http;

/// <summary>
/// Optional bearer tokens in front of the HTTP surface: with <c>API_TOKEN</c> set, <c>/api/*</c> answers 401
/// unless the request carries <c>Authorization: Bearer &lt;token&gt;</c>; with <c>METRICS_TOKEN</c> set, so do
/// <c>/metrics</c> and <c>/health/*</c>. Tokens are compared in constant time.
/// </summary>
public static class BearerTokens
{
    /// <summary>Adds the checks for the tokens that are set (null or empty: that part stays open).</summary>
    public static WebApplication UseBearerTokens(this WebApplication app, string? apiToken, string? metricsToken)
    {
        var api = Bytes(apiToken);
        var metrics = Bytes(metricsToken);
        if (api is null && metrics is null) return app;
        app.Use(async (context, next) =>
        {
            var path = context.Request.Path;
            var expected = path.StartsWithSegments("/api") ? api
                : path.StartsWithSegments("/metrics") || path.StartsWithSegments("/health") ? metrics
                : null;
            if (expected is null || Presents(context.Request.Headers.Authorization.ToString(), expected))
            {
                await next(context);
                return;
            }
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            context.Response.Headers.WWWAuthenticate = "Bearer";
            await context.Response.WriteAsJsonAsync(new { error = "a bearer token is required" });
        });
        return app;
    }

    private static byte[]? Bytes(string? token) => string.IsNullOrEmpty(token) ? null : Encoding.UTF8.GetBytes(token);

    private static bool Presents(string header, byte[] expected)
    {
        const string scheme = "Bearer ";
        if (!header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)) return false;
        return CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(header[scheme.Length..].Trim()), expected);
    }
}
