using CeleryActors.Redis;
using StackExchange.Redis;
using Xunit;

namespace CeleryActors.Persistence.Redis.Tests.Infrastructure;

/// <summary>
/// A private redis-server (AOF on) on a free loopback port for one test class; never Redis's default port, never shared.
/// xunit disposes it after the class even when tests fail, and RedisServerProcess kills any leftover child
/// when the test process exits.
/// </summary>
public sealed class RedisFixture : IAsyncLifetime
{
    private RedisServerProcess? _server;
    private ConnectionMultiplexer? _admin;

    public RedisServerProcess Server => _server ?? throw new InvalidOperationException("redis-server not started");

    public string ConnectionString => Server.ConnectionString;

    /// <summary>A connection for tests that look at the raw keys. Fail-fast, so a stopped server fails at once.</summary>
    public IDatabase Db => (_admin ?? throw new InvalidOperationException("not connected")).GetDatabase();

    public async Task InitializeAsync()
    {
        _server = await RedisServerProcess.StartAsync(new RedisServerSettings(AppendOnly: true));
        _admin = await ConnectionMultiplexer.ConnectAsync(AdminOptions());
    }

    public ConfigurationOptions AdminOptions()
    {
        var options = ConfigurationOptions.Parse(Server.ConnectionString);
        options.AllowAdmin = true;
        options.BacklogPolicy = BacklogPolicy.FailFast;
        return options;
    }

    public async Task DisposeAsync()
    {
        if (_admin is not null) await _admin.DisposeAsync();
        if (_server is not null) await _server.DisposeAsync();
    }
}
