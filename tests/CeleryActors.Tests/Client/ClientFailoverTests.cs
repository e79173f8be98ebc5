using CeleryActors.Tests.Fixtures;
using CeleryActors.Tests.Support;
using Xunit;

namespace CeleryActors.Tests.Client;

/// <summary>The client keeps working when its contact node leaves: two host nodes form one cluster on one Redis,
/// node A stops, and calls go on through node B.</summary>
[Collection(ClientNodesCollection.Name)]
public class ClientFailoverTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    [Theory]
    // Both contacts given, as users do.
    [InlineData(false)]
    // Only A given: the client surely talked to A, and must find B by itself from A's receptionist.
    [InlineData(true)]
    public async Task When_a_contact_node_stops_the_client_goes_on_through_the_other(bool onlyFirstContact)
    {
        var (a, contactA) = await ClientNodes.StartAsync(redis);
        await using var nodeA = a;
        var (b, contactB) = await ClientNodes.StartAsync(redis, seed: contactA);
        await using var nodeB = b;
        await using var client = onlyFirstContact
            ? ClientNodes.Client(TimeSpan.FromSeconds(20), contactA)
            : ClientNodes.Client(TimeSpan.FromSeconds(20), contactA, contactB);
        var (worker, queue) = ("survivor-" + onlyFirstContact, "failover-" + onlyFirstContact);

        await client.RegisterWorkerAsync(worker, [queue], poolSize: 1);
        await client.PublishTaskAsync(queue, "job", taskId: "before");
        Assert.Contains(await client.GetWorkersAsync(), w => w.Worker == worker);

        // A leaves the cluster the graceful way (SIGTERM: coordinated shutdown hands its shards over to B).
        Assert.Equal(0, await StopAsync(nodeA));

        // The same client, no new contacts: its calls now reach B, which serves the moved entities from the journal.
        // A worker entity that moved is offline until the worker is heard from; its heartbeat brings it back.
        await Eventually.Holds(async () =>
            Assert.Contains(await client.GetWorkersAsync(), w => w.Worker == worker), TimeSpan.FromSeconds(30));
        await Eventually.Holds(async () =>
        {
            await client.HeartbeatAsync(worker);
            Assert.Contains(await client.GetWorkersAsync(), w => w.Worker == worker && w.Online);
        }, TimeSpan.FromSeconds(30));
        var after = await client.PublishTaskAsync(queue, "job", taskId: "after");
        Assert.Equal("after", after.TaskId);
        var stats = (await client.GetQueueAsync(queue))!;
        Assert.Equal(2, stats.Accepted);
    }

    private static async Task<int> StopAsync(HostNodeProcess node)
    {
        System.Diagnostics.Process.Start("kill", ["-TERM", node.Process.Id.ToString()])!.WaitForExit();
        return await node.WaitForExitAsync(TimeSpan.FromSeconds(30));
    }
}
