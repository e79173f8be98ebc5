using CeleryActors.Host.Configuration;
using Xunit;

namespace CeleryActors.Tests.Node.Domain;

public class NodeOptionsTests
{
    private static (NodeOptions? Options, IReadOnlyList<SettingError> Errors) Bind(
        Dictionary<string, string?> environment, params string[] args) =>
        NodeConfiguration.Bind(NodeConfiguration.Build(args, environment));

    [Fact]
    public void Defaults_follow_the_spec()
    {
        var (options, errors) = Bind([]);
        Assert.Empty(errors);
        Assert.Equal(9540, options!.Metrics.Port);
        Assert.Equal("0.0.0.0", options.Metrics.Host);
        Assert.Null(options.Redis.Url);
        Assert.Equal("", options.Allocator.ChannelPrefix);
        Assert.Equal(30, options.Allocator.AckTimeout);
        Assert.Equal(15, options.Allocator.WorkerTimeout);
        Assert.Equal("127.0.0.1", options.Cluster.Hostname);
        Assert.Equal(4053, options.Cluster.Port);
    }

    [Fact]
    public void Spec_environment_variables_override_prefixed_ones_and_the_command_line_overrides_both()
    {
        var (options, _) = Bind(new()
        {
            ["CeleryActors__Metrics__Port"] = "1111",
            ["METRICS_PORT"] = "2222",
            ["REDIS_URL"] = "redis://127.0.0.1:7000/2",
            ["ALLOCATOR_CHANNEL_PREFIX"] = "prod.",
            ["CLUSTER_SEEDS"] = "10.0.0.1:4053",
        });
        Assert.Equal(2222, options!.Metrics.Port);
        Assert.Equal("redis://127.0.0.1:7000/2", options.Redis.Url);
        Assert.Equal("prod.", options.Allocator.ChannelPrefix);

        var (fromArgs, _) = Bind(new() { ["METRICS_PORT"] = "2222" }, "--CeleryActors:Metrics:Port=3333");
        Assert.Equal(3333, fromArgs!.Metrics.Port);
    }

    [Theory]
    [InlineData("METRICS_PORT", "70000", "METRICS_PORT", "not a port")]
    [InlineData("METRICS_PORT", "abc", "METRICS_PORT", "not a whole number")]
    [InlineData("METRICS_REFRESH_INTERVAL", "-5", "METRICS_REFRESH_INTERVAL", "not a positive number")]
    [InlineData("REDIS_URL", "localhost:7000", "REDIS_URL", "scheme")]
    [InlineData("CELERY_BROKER_URL", "redis://host/x", "CELERY_BROKER_URL", "database")]
    [InlineData("CELERY_BROKERS", "redis://h:7001/0", "CELERY_BROKERS", "not name=url")]
    [InlineData("CELERY_BROKERS", "eu west=redis://h:7001/0", "CELERY_BROKERS", "not name=url")]
    [InlineData("CELERY_BROKERS", "eu=redis://h:7001/0,eu=redis://h2:7001/0", "CELERY_BROKERS", "given twice")]
    [InlineData("CELERY_BROKERS", "eu=h:7001", "CELERY_BROKERS", "broker 'eu'")]
    [InlineData("ALLOCATOR_ACK_TIMEOUT", "0", "ALLOCATOR_ACK_TIMEOUT", "not a positive number")]
    [InlineData("CLUSTER_PORT", "-1", "CLUSTER_PORT", "not a port")]
    [InlineData("CLUSTER_SEEDS", "nohostport", "CLUSTER_SEEDS", "neither HOST:PORT")]
    [InlineData("CLUSTER_SEEDS", "akka.tcp://other@h:1", "CLUSTER_SEEDS", "names actor system")]
    [InlineData("METRICS_HOST", "not a host!", "METRICS_HOST", "not a host name")]
    [InlineData("CELERY_BROKER_SEPARATOR", "\\q", "CELERY_BROKER_SEPARATOR", "escape")]
    [InlineData("CELERY_KEY_PREFIX", "app*", "CELERY_KEY_PREFIX", "pattern character")]
    [InlineData("ALLOCATOR_CHANNEL_PREFIX", "a[b]", "ALLOCATOR_CHANNEL_PREFIX", "pattern character")]
    [InlineData("ALLOCATOR_CHANNEL_PREFIX", "a\\", "ALLOCATOR_CHANNEL_PREFIX", "pattern character")]
    [InlineData("ALLOCATOR_CHANNEL_PREFIX", "a\u001b", "ALLOCATOR_CHANNEL_PREFIX", "control character")]
    public void A_bad_value_is_named_with_what_is_wrong(string variable, string value, string named, string problem)
    {
        var (options, errors) = Bind(new() { [variable] = value });
        Assert.Null(options);
        var error = Assert.Single(errors);
        Assert.Contains(named, error.ToString());
        Assert.Contains(problem, error.ToString());
    }

    [Fact]
    public void Several_brokers_are_named_in_order_and_exclude_the_single_broker_setting()
    {
        var (options, errors) = Bind(new() { ["CELERY_BROKERS"] = " eu=redis://:s3cret@10.0.0.1:7001/0 , us.east-1=redis://10.0.0.2:6380/3" });
        Assert.Empty(errors);
        var brokers = CeleryMonitoring.Brokers(options!);
        Assert.Equal([("eu", "10.0.0.1", 7001, 0), ("us.east-1", "10.0.0.2", 6380, 3)],
            brokers.Select(b => (b.Name!, b.Url.Host, b.Url.Port, b.Url.Database)));
        Assert.True(CeleryMonitoring.ByBroker(options!));

        var (single, _) = Bind(new() { ["CELERY_BROKER_URL"] = "redis://10.0.0.1:7001/0" });
        Assert.Equal([(null, "10.0.0.1")], CeleryMonitoring.Brokers(single!).Select(b => (b.Name, b.Url.Host)));
        Assert.False(CeleryMonitoring.ByBroker(single!));

        var (both, bothErrors) = Bind(new()
        {
            ["CELERY_BROKER_URL"] = "redis://10.0.0.1:7001/0", ["CELERY_BROKERS"] = "eu=redis://10.0.0.1:7001/0",
        });
        Assert.Null(both);
        Assert.Contains("CELERY_BROKERS", Assert.Single(bothErrors).ToString());
        // A malformed entry is quoted without what follows its scheme: that may hold a password.
        var (_, hidden) = Bind(new() { ["CELERY_BROKERS"] = "redis://:s3cret@h:7001/0" });
        Assert.DoesNotContain("s3cret", Assert.Single(hidden).ToString());
    }

    [Fact]
    public void Seeds_accept_host_port_and_full_addresses()
    {
        Assert.True(SeedNodes.TryParse("10.0.0.1:4053, akka.tcp://celery-actors@node2:4054", out var seeds, out _));
        Assert.Equal(["akka.tcp://celery-actors@10.0.0.1:4053", "akka.tcp://celery-actors@node2:4054"], seeds);
    }
}
