using System.Text;
using CeleryActors.Actors.Subscription;
using Xunit;

namespace CeleryActors.Tests.Unit;

public class MessageOwnershipTests
{
    private static readonly string[] Members =
        ["akka.tcp://celery-actors@127.0.0.1:4101#1", "akka.tcp://celery-actors@127.0.0.1:4102#2", "akka.tcp://celery-actors@127.0.0.1:4103#3"];

    private static MessageOwnership NodeOf(string self, IEnumerable<string> members)
    {
        var ownership = new MessageOwnership();
        ownership.Update(members, self);
        return ownership;
    }

    [Fact]
    public void Of_nodes_that_agree_on_the_members_exactly_one_owns_each_message_and_all_get_a_share()
    {
        // Each node lists the members in its own order: the decision must not depend on it.
        var nodes = Members.Select((self, i) => NodeOf(self, i % 2 == 0 ? Members : Members.Reverse())).ToList();
        var owned = new int[nodes.Count];
        for (var i = 0; i < 3_000; i++)
        {
            var payload = Encoding.UTF8.GetBytes($$"""{"type":"task_execution","task_name":"t{{i}}","queue":"q","duration":0.1,"status":"success"}""");
            var owners = nodes.Select((n, k) => (Owns: n.Owns("metrics", payload), k)).Where(x => x.Owns).ToList();
            Assert.Single(owners);
            owned[owners[0].k]++;
        }
        Assert.All(owned, n => Assert.InRange(n, 800, 1_200));
    }

    [Fact]
    public void A_node_alone_counts_everything_and_one_outside_the_members_counts_nothing()
    {
        var payload = "{}"u8.ToArray();
        Assert.True(new MessageOwnership().Owns("metrics", payload));
        Assert.False(NodeOf("akka.tcp://celery-actors@127.0.0.1:4199#9", Members).Owns("metrics", payload));
        Assert.True(NodeOf(Members[0], [Members[0]]).Owns("metrics", payload));
    }

    [Fact]
    public void The_same_bytes_on_another_channel_may_belong_to_another_node()
    {
        var payload = "{\"task_name\":\"same\"}"u8.ToArray();
        var hashes = Enumerable.Range(0, 50).Select(i => MessageOwnership.Hash($"tasks:q{i}", payload)).Distinct();
        Assert.Equal(50, hashes.Count());
        Assert.Equal(MessageOwnership.Hash("tasks:q1", payload), MessageOwnership.Hash("tasks:q1", payload));
    }
}
