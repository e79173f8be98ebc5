using CeleryActors.Actors.Subscription;
using CeleryActors.Messages.Subscription;
using Xunit;

namespace CeleryActors.Tests.Node.Domain;

public class ChannelNamesTests
{
    [Theory]
    [InlineData("", "metrics", ChannelKind.Metrics)]
    [InlineData("", "tasks:data_processing", ChannelKind.Tasks)]
    [InlineData("", "workers:control", ChannelKind.WorkersControl)]
    [InlineData("", "task-status", ChannelKind.TaskStatus)]
    [InlineData("prod.", "prod.metrics", ChannelKind.Metrics)]
    [InlineData("prod.", "prod.tasks:q", ChannelKind.Tasks)]
    public void Classifies_channels_behind_the_prefix(string prefix, string channel, ChannelKind kind) =>
        Assert.Equal(kind, new ChannelNames(prefix).Classify(channel));

    [Theory]
    [InlineData("", "tasks:")]
    [InlineData("", "other")]
    [InlineData("prod.", "metrics")]
    [InlineData("prod.", "dev.metrics")]
    public void Ignores_channels_it_does_not_serve(string prefix, string channel) =>
        Assert.Null(new ChannelNames(prefix).Classify(channel));

    [Fact]
    public void Builds_names_with_the_prefix()
    {
        var names = new ChannelNames("p:");
        Assert.Equal("p:metrics", names.Metrics);
        Assert.Equal("p:tasks:*", names.TasksPattern);
        Assert.Equal("p:worker:w1", names.Worker("w1"));
    }
}
