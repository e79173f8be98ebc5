using CeleryActors.Actors.Celery;
using Xunit;

namespace CeleryActors.Tests.Celery.Domain;

public class CeleryStateTests
{
    [Fact]
    public void Task_memory_merges_what_it_learns_and_evicts_by_size_and_age()
    {
        var memory = new TaskMemory(capacity: 2, maxAge: TimeSpan.FromSeconds(10));
        memory.Remember("a", "shop.ok", null, now: 0);
        memory.Remember("a", null, "default", now: 1);
        Assert.Equal(new RememberedTask("shop.ok", "default", 1), memory.Recall("a", now: 1));

        memory.Remember("b", "b", null, now: 2);
        memory.Remember("c", "c", null, now: 3); // over capacity: the least recently updated ("a") goes
        Assert.Null(memory.Recall("a", now: 3));
        Assert.NotNull(memory.Recall("b", now: 3));
        Assert.Null(memory.Recall("b", now: 12.5)); // older than 10 s
        Assert.Equal(1, memory.Count);
        memory.Forget("c");
        Assert.Equal(0, memory.Count);
    }

    [Fact]
    public void Held_task_events_keep_their_order_and_leave_on_their_task_sent_or_after_the_grace_time()
    {
        static CeleryTaskEvent E(CeleryTaskEventType type, string id) => new(type, id, "w@h", 0);
        var held = new HeldTaskEvents(capacity: 2);
        Assert.True(held.TryHold(E(CeleryTaskEventType.Received, "a"), now: 0));
        Assert.True(held.TryHold(E(CeleryTaskEventType.Received, "b"), now: 1));
        Assert.False(held.TryHold(E(CeleryTaskEventType.Received, "c"), now: 1)); // full: a new task is not held
        Assert.True(held.TryHold(E(CeleryTaskEventType.Started, "a"), now: 2)); // a held task's next event always is
        Assert.True(held.Holds("a"));
        Assert.False(held.Holds("c"));
        Assert.False(held.SentEventsCome);

        Assert.Equal([CeleryTaskEventType.Received, CeleryTaskEventType.Started], held.Release("a").Select(e => e.Type));
        Assert.True(held.SentEventsCome); // a task-sent came: this stream has them
        Assert.Empty(held.Release("a"));
        Assert.True(held.TryHold(E(CeleryTaskEventType.Started, "a"), now: 5)); // held again, later

        Assert.Empty(held.ReleaseHeldBefore(cutoff: 1)); // "b" was held at 1, not before; "a"'s first hold is gone
        Assert.Equal(["b"], held.ReleaseHeldBefore(cutoff: 4).Select(e => e.TaskId));
        Assert.True(held.Holds("a"));
        Assert.Equal(["a"], held.ReleaseHeldBefore(cutoff: 6).Select(e => e.TaskId));
        Assert.Equal(0, held.Count);
    }

    [Fact]
    public async Task The_oldest_task_age_follows_a_fifo_list_as_it_fills_and_drains()
    {
        // A kombu list: LPUSH at the head (index 0), workers pop at the tail.
        var list = new LinkedList<byte[]>();
        var tracker = new OldestTaskTracker();
        Task<bool> Queued(byte[] m) => Task.FromResult(list.Any(x => x.AsSpan().SequenceEqual(m)));
        Task<double> Poll(double now) => tracker.ObserveAsync(now, list.First?.Value, list.Last?.Value, Queued);
        byte[] Msg(int i) => [(byte)i];

        Assert.Equal(0, await Poll(0));
        list.AddFirst(Msg(1));
        Assert.Equal(0, await Poll(10)); // seen for the first time now
        list.AddFirst(Msg(2));
        Assert.Equal(5, await Poll(15)); // message 1 has waited since 10 at least
        list.AddFirst(Msg(3));
        Assert.Equal(10, await Poll(20));
        list.RemoveLast(); // 1 consumed: 2 is the oldest, seen first at 15
        Assert.Equal(10, await Poll(25));
        list.RemoveLast();
        list.RemoveLast();
        Assert.Equal(0, await Poll(30));
        Assert.Equal(0, tracker.SampleCount);
    }

    [Fact]
    public async Task A_list_that_turns_over_between_polls_does_not_look_old()
    {
        var list = new LinkedList<byte[]>();
        var tracker = new OldestTaskTracker();
        Task<bool> Queued(byte[] m) => Task.FromResult(list.Any(x => x.AsSpan().SequenceEqual(m)));
        for (var poll = 0; poll < 20; poll++)
        {
            // Each interval three new messages come and the three before them are consumed.
            for (var i = 0; i < 3; i++) list.AddFirst([(byte)(poll * 3 + i)]);
            while (list.Count > 3) list.RemoveLast();
            var age = await tracker.ObserveAsync(poll * 5, list.First!.Value, list.Last!.Value, Queued);
            Assert.True(age <= 5, $"poll {poll}: age {age}");
        }
    }

    [Fact]
    public void The_separator_is_read_off_the_bindings()
    {
        Assert.Equal(":", KombuSeparator.FromQueueBindings([("default", "default::default")]));
        Assert.Equal("\u0006\u0016", KombuSeparator.FromQueueBindings([("celery", "celery\u0006\u0016\u0006\u0016celery")]));
        Assert.Null(KombuSeparator.FromQueueBindings([("q", "other::q")]));
        Assert.Equal(":", KombuSeparator.FromPidboxBindings(["::w1@vm.celery.pidbox"]));
        Assert.Equal("\x06\x16", KombuSeparator.FromPidboxBindings(["\x06\x16\x06\x16w1@vm.celery.pidbox"]));
    }

    [Theory]
    [InlineData("""[{"body":"x"},"","default"]""", "default")]
    [InlineData("""[{"body":"x"},"celery","video"]""", "video")]
    [InlineData("""{"not":"a list"}""", null)]
    [InlineData("""garbage""", null)]
    public void An_unacked_entry_names_its_queue_by_routing_key(string value, string? queue) =>
        Assert.Equal(queue, BrokerQueueReader.RoutingKeyOfUnacked(System.Text.Encoding.UTF8.GetBytes(value)));
}
