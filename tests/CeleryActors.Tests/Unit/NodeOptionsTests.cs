using CeleryActors.Host.Configuration;
using Xunit;

namespace CeleryActors.Tests.Unit;

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
    public void Seeds_accept_host_port_and_full_addresses()
    {
        Assert.True(SeedNodes.TryParse("10.0.0.1:4053, akka.tcp://celery-actors@node2:4054", out var seeds, out _));
        Assert.Equal(["akka.tcp://celery-actors@10.0.0.1:4053", "akka.tcp://celery-actors@node2:4054"], seeds);
    }
}
