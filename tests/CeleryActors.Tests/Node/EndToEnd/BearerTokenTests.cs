using System.Net;
using System.Net.Http.Headers;
using CeleryActors.Tests.Fixtures;
using Xunit;

namespace CeleryActors.Tests.Node.EndToEnd;

/// <summary>API_TOKEN and METRICS_TOKEN against a real node: each part asks for its token, and only its own.</summary>
public class BearerTokenTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    private const string ApiToken = "api-3f9c", MetricsToken = "metrics-77aa";

    private static async Task<HttpStatusCode> Get(HostNodeProcess node, string path, string? token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await node.Http.SendAsync(request);
        if (response.StatusCode == HttpStatusCode.Unauthorized)
        {
            Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
            Assert.DoesNotContain("127.0.0.1", await response.Content.ReadAsStringAsync());
        }
        return response.StatusCode;
    }

    [Fact]
    public async Task Each_token_guards_its_own_endpoints()
    {
        await using var node = await HostNodeProcess.StartAsync(new Dictionary<string, string>
        {
            ["REDIS_URL"] = redis.Server.Url.ToString(),
            ["API_TOKEN"] = ApiToken,
            ["METRICS_TOKEN"] = MetricsToken,
        });
        foreach (var path in new[] { "/api/queues", "/api/workers", "/api/entities" })
        {
            Assert.Equal(HttpStatusCode.Unauthorized, await Get(node, path, null));
            Assert.Equal(HttpStatusCode.Unauthorized, await Get(node, path, MetricsToken)); // the other part's token
            Assert.Equal(HttpStatusCode.Unauthorized, await Get(node, path, ApiToken + "x"));
            Assert.Equal(HttpStatusCode.OK, await Get(node, path, ApiToken));
        }
        foreach (var path in new[] { "/metrics", "/health/live", "/health/ready" })
        {
            Assert.Equal(HttpStatusCode.Unauthorized, await Get(node, path, null));
            Assert.Equal(HttpStatusCode.Unauthorized, await Get(node, path, ApiToken));
            Assert.Equal(HttpStatusCode.OK, await Get(node, path, MetricsToken));
        }
    }

    [Fact]
    public async Task With_only_an_api_token_metrics_and_health_stay_open()
    {
        await using var node = await HostNodeProcess.StartAsync(new Dictionary<string, string>
        {
            ["REDIS_URL"] = redis.Server.Url.ToString(),
            ["API_TOKEN"] = ApiToken,
        });
        Assert.Equal(HttpStatusCode.Unauthorized, await Get(node, "/api/queues", null));
        Assert.Equal(HttpStatusCode.OK, await Get(node, "/api/queues", ApiToken));
        Assert.Equal(HttpStatusCode.OK, await Get(node, "/metrics", null));
        Assert.Equal(HttpStatusCode.OK, await Get(node, "/health/live", null));
    }
}
