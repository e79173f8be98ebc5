using Akka.Actor;
using Akka.Configuration;
using Akka.Hosting;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using CeleryActors.Persistence.Redis.Hosting;
using CeleryActors.Persistence.Redis.Journal;
using CeleryActors.Persistence.Redis.Snapshot;
using CeleryActors.Persistence.Redis.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using StackExchange.Redis;
using Xunit;

namespace CeleryActors.Persistence.Redis.Tests.Plugin;

/// <summary>Settings parsing, the reference.conf defaults, and registration through Akka.Hosting.</summary>
public sealed class SettingsSpec(RedisFixture redis) : IClassFixture<RedisFixture>
{
    private static Config JournalDefaults => RedisPersistence.DefaultConfig().GetConfig(RedisPersistence.JournalConfigPath);

    [Fact]
    public void Reference_conf_gives_the_documented_defaults()
    {
        var journal = new RedisJournalSettings(JournalDefaults);
        Assert.Equal($"localhost:{CeleryActors.Redis.RedisUrl.DefaultPort}", journal.ConfigurationString);
        Assert.Equal(-1, journal.Database);
        Assert.Equal("akka:persistence:", journal.KeyPrefix);
        Assert.Null(journal.Serializer);
        Assert.Equal(1000, journal.ReplayBatchSize);
        Assert.Equal(typeof(RedisJournal).FullName + ", CeleryActors.Persistence.Redis", JournalDefaults.GetString("class"));
        var snapshots = new RedisSnapshotSettings(RedisPersistence.DefaultConfig().GetConfig(RedisPersistence.SnapshotStoreConfigPath));
        Assert.Equal("akka:persistence:", snapshots.KeyPrefix);
    }

    [Theory]
    [InlineData("key-prefix = \"a{b\"")]
    [InlineData("key-prefix = \"a}b\"")]
    [InlineData("replay-batch-size = 0")]
    [InlineData("database = -2")]
    public void Bad_values_are_refused_with_a_message_naming_the_setting(string hocon)
    {
        var e = Assert.Throws<ConfigurationException>(() =>
            new RedisJournalSettings(ConfigurationFactory.ParseString(hocon).WithFallback(JournalDefaults)));
        Assert.Contains(hocon.Split(' ')[0], e.Message);
    }

    [Fact]
    public void Hosting_options_override_only_what_they_set()
    {
        var options = new RedisJournalOptions { ConfigurationString = "redis-a:6380", KeyPrefix = "app:", ReplayBatchSize = 50 };
        var config = options.ToConfig().WithFallback(RedisPersistence.DefaultConfig());
        Assert.Equal("akka.persistence.journal.redis", config.GetString("akka.persistence.journal.plugin"));
        var settings = new RedisJournalSettings(config.GetConfig("akka.persistence.journal.redis"));
        Assert.Equal("redis-a:6380", settings.ConfigurationString);
        Assert.Equal("app:", settings.KeyPrefix);
        Assert.Equal(50, settings.ReplayBatchSize);
        Assert.Equal(-1, settings.Database); // untouched: the reference default
        Assert.Null(settings.Serializer);
    }

    [Fact]
    public async Task A_hosted_actor_system_persists_through_WithRedisPersistence()
    {
        using var host = Host.CreateDefaultBuilder()
            .ConfigureServices(services => services.AddAkka("hosted", builder =>
                builder.WithRedisPersistence(redis.ConnectionString, journal => journal.KeyPrefix = "hosted:",
                    snapshots => snapshots.KeyPrefix = "hosted:")))
            .Build();
        await host.StartAsync();
        try
        {
            var system = host.Services.GetRequiredService<ActorSystem>();
            var probe = new TestProbe(system, new XunitAssertions());
            var pid = "hosted-" + Guid.NewGuid();
            var counter = system.ActorOf(CounterActor.Props(pid, snapshotEvery: 2));
            counter.Tell(new Append(1), probe.Ref);
            counter.Tell(new Append(2), probe.Ref);
            await probe.ExpectMsgAsync<Appended>(TimeSpan.FromSeconds(10));
            await probe.ExpectMsgAsync<Appended>(a => Assert.Equal(2, a.SequenceNr), TimeSpan.FromSeconds(10));
            await probe.AwaitAssertAsync(async () =>
            {
                Assert.True(await redis.Db.KeyExistsAsync($"hosted:j:{{{pid}}}:events"));
                Assert.True(await redis.Db.KeyExistsAsync($"hosted:s:{{{pid}}}:index"));
            }, TimeSpan.FromSeconds(10));
            Assert.False(await redis.Db.KeyExistsAsync((RedisKey)$"akka:persistence:j:{{{pid}}}:events"));
        }
        finally
        {
            await host.StopAsync();
        }
    }
}
