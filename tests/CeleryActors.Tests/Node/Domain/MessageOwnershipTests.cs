using System.Text;
using CeleryActors.Actors.Subscription;
using Xunit;

namespace CeleryActors.Tests.Node.Domain;

public class MessageOwnershipTests
{
    private const string Type = "allocator-queue";

    private static readonly string[] Members =
        ["akka.tcp://celery-actors@127.0.0.1:4101#1", "akka.tcp://celery-actors@127.0.0.1:4102#2", "akka.tcp://celery-actors@127.0.0.1:4103#3"];

    private static MessageOwnership NodeOf(string self, IEnumerable<string> members)
    {
        var ownership = new MessageOwnership();
        var list = members.ToList();
        ownership.Update(list, list, self);
        return ownership;
    }

    private static IEnumerable<string> Shards => Enumerable.Range(0, 100).Select(i => i.ToString());

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

    [Fact]
    public void Of_nodes_that_agree_exactly_one_takes_each_shard_and_each_takes_a_share()
    {
        var nodes = Members.Select((self, i) => NodeOf(self, i % 2 == 0 ? Members : Members.Reverse())).ToList();
        var taken = new int[nodes.Count];
        foreach (var shard in Shards)
        {
            var takers = nodes.Select((n, k) => (Takes: n.Takes(Type, shard), k)).Where(x => x.Takes).ToList();
            Assert.Single(takers);
            Assert.Equal(Members[takers[0].k], Members[MessageOwnership.Taker(Members, Type, shard)]);
            taken[takers[0].k]++;
        }
        Assert.All(taken, n => Assert.InRange(n, 20, 50));
        // The two shard types spread apart: queue shard 5 and worker shard 5 need not share a node.
        Assert.Contains(Shards, s => MessageOwnership.Taker(Members, Type, s) != MessageOwnership.Taker(Members, "allocator-worker", s));
    }

    [Fact]
    public void A_member_that_joins_takes_only_its_own_share_and_one_that_leaves_gives_up_only_its_own()
    {
        string[] two = [Members[0], Members[1]];
        foreach (var shard in Shards)
        {
            var before = two[MessageOwnership.Taker(two, Type, shard)];
            var after = Members[MessageOwnership.Taker(Members, Type, shard)];
            // Rendezvous hashing: a shard moves only to the newcomer, never between the members that stay.
            Assert.True(after == before || after == Members[2], $"shard {shard} moved from {before} to {after}");
        }
        Assert.Contains(Shards, s => Members[MessageOwnership.Taker(Members, Type, s)] == Members[2]);
    }

    [Fact]
    public void Before_it_is_up_a_node_takes_nothing_and_a_change_of_takers_is_reported_once()
    {
        var ownership = new MessageOwnership();
        Assert.DoesNotContain(Shards, s => ownership.Takes(Type, s));
        // Joining: the others are Up, this node is not yet.
        Assert.NotNull(ownership.Update(Members[1..], Members[1..], Members[0]));
        Assert.DoesNotContain(Shards, s => ownership.Takes(Type, s));
        var up = ownership.Update(Members, Members, Members[0]);
        Assert.NotNull(up);
        Assert.Equal((-1, 0), (up!.Before.Taking.Self, up.After.Taking.Self));
        Assert.Contains(Shards, s => ownership.Takes(Type, s));
        // A member seen unreachable stops counting but keeps taking: no change of takers.
        Assert.Null(ownership.Update(Members[..2], Members, Members[0]));
        Assert.Equal(2, ownership.Members);
    }
}
