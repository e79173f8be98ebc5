using CeleryActors.Cli;
using CeleryActors.Messages.Allocator;
using Xunit;

namespace CeleryActors.Tests.Client;

public class CliArgumentsTests
{
    private static CliArguments Parse(string line, string? env = null) =>
        CliArguments.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries), env);

    [Fact]
    public void Publish_takes_queue_name_and_its_options()
    {
        var a = Parse("--contact h1:4053 --contact h2:4054 --json publish images resize --data {\"x\":1} --priority 9 --id t1 --requires cpu=4 --requires zone=eu");
        Assert.Equal(CliCommandKind.Publish, a.Kind);
        Assert.Equal(["h1:4053", "h2:4054"], a.Contacts);
        Assert.True(a.Json);
        Assert.Equal(("images", "resize", "{\"x\":1}", 9, "t1"), (a.Name, a.TaskName, a.Data, a.Priority, a.TaskId));
        Assert.Equal(CapabilityValue.Of(4), a.Requires!["cpu"]);
        Assert.Equal(CapabilityValue.Of("eu"), a.Requires["zone"]);
    }

    [Fact]
    public void Defaults_and_contacts_from_the_environment()
    {
        var a = Parse("publish q job", env: "a:1, b:2");
        Assert.Equal(["a:1", "b:2"], a.Contacts);
        Assert.Equal((5, (string?)null, (string?)null, false, TimeSpan.FromSeconds(10)), (a.Priority, a.TaskId, a.Data, a.Json, a.Timeout));
        Assert.Equal(["x:1"], Parse("--contact x:1 workers", env: "a:1").Contacts);
    }

    [Fact]
    public void Every_query_command_parses()
    {
        Assert.Equal(CliCommandKind.Workers, Parse("--contact a:1 workers").Kind);
        Assert.Equal(CliCommandKind.Queues, Parse("queues --contact a:1 --timeout 2.5").Kind);
        Assert.Equal(TimeSpan.FromSeconds(2.5), Parse("queues --contact a:1 --timeout 2.5").Timeout);
        Assert.Equal((CliCommandKind.Queue, "images"), (Parse("--contact a:1 queue images").Kind, Parse("--contact a:1 queue images").Name));
        var h = Parse("--contact a:1 history images --limit 7");
        Assert.Equal((CliCommandKind.History, "images", 7), (h.Kind, h.Name, h.Limit));
        Assert.Equal(50, Parse("--contact a:1 history images").Limit);
    }

    [Theory]
    [InlineData("workers", "no contact")]
    [InlineData("--contact nohost workers", "not HOST:PORT")]
    [InlineData("--contact a:1", "no command")]
    [InlineData("--contact a:1 frobnicate", "unknown command 'frobnicate'")]
    [InlineData("--contact a:1 --bogus workers", "unknown option --bogus")]
    [InlineData("--contact a:1 publish q", "publish wants QUEUE TASK_NAME")]
    [InlineData("--contact a:1 publish q job --priority 10", "--priority wants an integer from 0 to 9")]
    [InlineData("--contact a:1 publish q job --data {nope", "--data is not JSON")]
    [InlineData("--contact a:1 publish q job --requires cpu", "--requires wants NAME=VALUE")]
    [InlineData("--contact a:1 publish q job --id", "--id needs a value")]
    [InlineData("--contact a:1 queue", "queue wants NAME")]
    [InlineData("--contact a:1 workers extra", "workers takes no operands")]
    [InlineData("--contact a:1 history q --limit -1", "--limit wants an integer")]
    [InlineData("--contact a:1 queues --limit 3", "--limit goes with history only")]
    [InlineData("--contact a:1 queues --priority 3", "go with publish only")]
    [InlineData("--contact a:1 --timeout 0 queues", "--timeout wants a number")]
    public void Bad_arguments_say_what_is_wrong(string line, string expected) =>
        Assert.Contains(expected, Assert.Throws<CliUsageException>(() => Parse(line)).Message);
}
