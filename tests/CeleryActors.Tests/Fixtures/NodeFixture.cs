using Xunit;

namespace CeleryActors.Tests.Fixtures;

/// <summary>A private Redis and one host node using it, shared by the tests of one class.</summary>
public sealed class NodeFixture : IAsyncLifetime
{
    public RedisFixture Redis { get; } = new();
    public HostNodeProcess Node { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        await Redis.InitializeAsync();
        Node = await HostNodeProcess.StartAsync(new Dictionary<string, string>
        {
            ["REDIS_URL"] = Redis.Server.Url.ToString(),
            ["METRICS_MAX_LABEL_VALUES"] = "500",
        });
    }

    public async Task DisposeAsync()
    {
        if (Node is not null) await Node.DisposeAsync();
        await Redis.DisposeAsync();
    }
}
