using CeleryActors.Redis;
using StackExchange.Redis;
using Xunit;

namespace CeleryActors.Tests.Fixtures;

/// <summary>A private redis-server on a free loopback port for one test class; stopped when the class is done.</summary>
public sealed class RedisFixture : IAsyncLifetime
{
    private ConnectionMultiplexer? _connection;

    /// <summary>The server.</summary>
    public RedisServerProcess Server { get; private set; } = null!;

    /// <summary>A connection of the test's own (the publisher side).</summary>
    public ConnectionMultiplexer Connection => _connection ??= ConnectionMultiplexer.Connect(Server.ConnectionString);

    public async Task InitializeAsync() => Server = await RedisServerProcess.StartAsync();

    public async Task DisposeAsync()
    {
        if (_connection is not null) await _connection.DisposeAsync();
        await Server.DisposeAsync();
    }
}
