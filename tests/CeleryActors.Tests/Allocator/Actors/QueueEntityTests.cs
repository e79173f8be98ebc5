using Akka.Actor;
using CeleryActors.Actors.Allocator;
using CeleryActors.Actors.Metrics;
using CeleryActors.Messages.Allocator;
using CeleryActors.Tests.Fixtures;
using Xunit;
using Xunit.Abstractions;

namespace CeleryActors.Tests.Allocator.Actors;

/// <summary>A queue entity on a real Redis journal: its limits, priorities, ack timeouts, supervision and recovery.</summary>
[Collection(AllocatorEntityTestBase.Collection)]
public class QueueEntityTests(RedisFixture redis, ITestOutputHelper output)
    : AllocatorEntityTestBase(redis, output), IClassFixture<RedisFixture>
{
    [Fact]
    public async Task A_full_queue_refuses_new_tasks_counts_them_and_tells_a_client_and_takes_tasks_again_once_there_is_room()
    {
        using var h = new AllocatorHarness(Sys, Redis.Server.ConnectionString, Redis.Connection,
            AllocatorHarness.NewSettings(TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30)) with { MaxPending = 3 },
            CreateTestProbe().Ref);
        for (var i = 0; i < 5; i++) h.Queues.Tell(NewTask($"t{i}"), ActorRefs.NoSender);
        h.Queues.Tell(NewTask("t0"), ActorRefs.NoSender); // a duplicate of a waiting task stays a duplicate
        var refused = await h.Queues.Ask<object>(NewTask("client"), Wait);
        Assert.Contains("holds 3 waiting tasks", Assert.IsType<TaskRefused>(refused).Reason);
        var rejected = h.Metrics.MessagesRejected.WithLabels("tasks", "queue_full");
        AwaitAssert(() =>
        {
            var s = Stats(h);
            Assert.Equal((3L, 3, 1L), (s.Accepted, s.Pending, s.Duplicates));
            Assert.Equal(3, rejected.Value); // t3, t4 and the client's
        }, Wait);

        // A worker takes one: there is room for one more.
        h.Workers.Tell(new RegisterWorker("w", [Q], NoCaps, 1));
        AwaitAssert(() => Assert.Single(h.Assignments), Wait);
        Assert.IsType<TaskSubmitted>(await h.Queues.Ask<object>(NewTask("after"), Wait));
        AwaitAssert(() => Assert.Equal((4L, 3), (Stats(h).Accepted, Stats(h).Pending)), Wait);
    }

    [Fact]
    public async Task Past_the_cap_of_queues_a_new_queue_stores_nothing_its_tasks_are_refused_and_counted_and_it_passivates()
    {
        using var h = new AllocatorHarness(Sys, Redis.Server.ConnectionString, Redis.Connection,
            AllocatorHarness.NewSettings(TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30)) with
            {
                MaxQueues = 2,
                IdleUnregistered = TimeSpan.FromSeconds(2),
            }, CreateTestProbe().Ref);
        SubmitTask On(string queue, string id) => NewTask(id) with { Queue = queue };
        Assert.IsType<TaskSubmitted>(await h.Queues.Ask<object>(On("q1", "a"), Wait));
        Assert.IsType<TaskSubmitted>(await h.Queues.Ask<object>(On("q2", "b"), Wait));

        // A third queue gets no place: the client hears why, pub/sub copies are counted, nothing is stored.
        var refused = Assert.IsType<TaskRefused>(await h.Queues.Ask<object>(On("q3", "c"), Wait));
        Assert.Contains("ALLOCATOR_MAX_QUEUES", refused.Reason);
        h.Queues.Tell(On("q3", "d"), ActorRefs.NoSender);
        var rejected = h.Metrics.MessagesRejected.WithLabels("tasks", "too_many_queues");
        AwaitAssert(() => Assert.Equal(2, rejected.Value), Wait);
        Assert.Equal(0, (await h.Queues.Ask<QueueStats>(new GetQueueStats("q3"), Wait)).Accepted);
        var listed = await Redis.Connection.GetDatabase().SetMembersAsync(h.Settings.QueuesKey);
        Assert.Equal(["q1", "q2"], listed.Select(v => v.ToString()).Order());
        var server = Redis.Connection.GetServers()[0];
        Assert.Empty(server.Keys(pattern: "*queue-" + h.Settings.Channels.Prefix + "q3*")); // no journal, no snapshot
        Assert.NotEmpty(server.Keys(pattern: "*queue-" + h.Settings.Channels.Prefix + "q1*")); // the pattern finds them

        // Left alone, the refused entity passivates; the queues that have a place still take tasks.
        var q3 = await Sys.ActorSelection(h.Queues.Path / "q3").ResolveOne(Wait);
        Watch(q3);
        ExpectTerminated(q3, Wait);
        Assert.IsType<TaskSubmitted>(await h.Queues.Ask<object>(On("q1", "e"), Wait));
    }

    [Fact]
    public async Task A_queue_entity_that_stops_is_started_again_by_its_supervisor_and_recovers()
    {
        using var h = new AllocatorHarness(Sys, Redis.Server.ConnectionString, Redis.Connection,
            AllocatorHarness.NewSettings(TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30)), CreateTestProbe().Ref, supervised: true);
        for (var i = 0; i < 5; i++) h.Queues.Tell(NewTask($"t{i}"), ActorRefs.NoSender);
        // Stopped only once all five are stored: what was not stored yet is not expected back.
        AwaitAssert(() => Assert.Equal((5L, 0), (Stats(h).Accepted, Stats(h).Unwritten)), Wait);
        var supervisor = await Sys.ActorSelection(h.Queues.Path / Q).ResolveOne(Wait);
        var child = (await supervisor.Ask<Akka.Pattern.BackoffSupervisor.CurrentChild>(
            Akka.Pattern.BackoffSupervisor.GetCurrentChild.Instance, Wait)).Ref!;
        Watch(child);
        child.Tell(PoisonPill.Instance); // as a failed journal write would stop it
        ExpectTerminated(child, Wait);
        await AwaitAssertAsync(async () =>
        {
            var current = (await supervisor.Ask<Akka.Pattern.BackoffSupervisor.CurrentChild>(
                Akka.Pattern.BackoffSupervisor.GetCurrentChild.Instance, Wait)).Ref;
            Assert.NotNull(current);
            Assert.NotEqual(child, current);
        }, Wait);
        // Asked only once the new child runs: a message during the back-off pause goes nowhere.
        var stats = await h.Queues.Ask<QueueStats>(new GetQueueStats(Q), Wait);
        Assert.Equal((5L, 5), (stats.Accepted, stats.Pending));
    }

    [Fact]
    public void A_burst_of_mixed_priorities_is_allocated_highest_first_and_fifo_within_a_priority()
    {
        using var h = Start();
        var random = new Random(42);
        var burst = Enumerable.Range(0, 200).Select(i => NewTask($"t{i:D3}", random.Next(0, 10))).ToList();
        foreach (var task in burst) h.Queues.Tell(task);
        AwaitAssert(() => Assert.Equal(200, Stats(h).Pending), Wait);

        h.Workers.Tell(new RegisterWorker("w", [Q], NoCaps, 500));
        AwaitAssert(() => Assert.Equal(200, h.Assignments.Count), Wait);
        var expected = burst.Select((t, i) => (t, i)).OrderByDescending(x => x.t.Priority).ThenBy(x => x.i).Select(x => x.t.TaskId);
        Assert.Equal(expected, h.Assignments.Select(a => a.TaskId));
    }

    [Fact]
    public void An_assignment_never_acknowledged_is_allocated_again_with_the_same_id_and_attempt_2()
    {
        using var h = Start(ack: TimeSpan.FromSeconds(1));
        h.Workers.Tell(new RegisterWorker("w", [Q], NoCaps, 5));
        AwaitAssert(() => Assert.Equal(1, Stats(h).Consumers), Wait);
        h.Queues.Tell(NewTask("t1"), ActorRefs.NoSender);
        AwaitAssert(() => Assert.Equal([("t1", 1)], h.Assignments.Select(a => (a.TaskId, a.Attempt))), Wait);
        AwaitAssert(() => Assert.Equal([("t1", 1), ("t1", 2)], h.Assignments.Select(a => (a.TaskId, a.Attempt))), Wait);

        Report(h, "w", "t1", TaskProgress.Received);
        Report(h, "w", "t1", TaskProgress.Succeeded);
        AwaitAssert(() =>
        {
            var s = Stats(h);
            Assert.Equal((1L, 1L, 2L, 1L, 0, 0), (s.Accepted, s.Succeeded, s.Allocated, s.Requeued, s.InFlight, s.Pending));
        }, Wait);
    }

    [Fact]
    public async Task A_queue_entity_recovers_pending_tasks_assignments_and_statistics_from_the_redis_journal()
    {
        var settings = AllocatorHarness.NewSettings(TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30), snapshotEvery: 5);
        QueueStats before;
        List<string> pendingBefore;
        using (var h = new AllocatorHarness(Sys, Redis.Server.ConnectionString, Redis.Connection, settings, CreateTestProbe().Ref))
        {
            h.Workers.Tell(new RegisterWorker("w", [Q], NoCaps, 2));
            AwaitAssert(() => Assert.Equal(1, Stats(h).Consumers), Wait);
            for (var i = 0; i < 9; i++) h.Queues.Tell(NewTask($"t{i}", i % 3 * 4), ActorRefs.NoSender);
            AwaitAssert(() => Assert.Equal(2, h.Assignments.Count), Wait);
            var first = h.Assignments.First().TaskId;
            Report(h, "w", first, TaskProgress.Received);
            Report(h, "w", first, TaskProgress.Failed);
            // The third assignment is published only after its event, the last one, is in the journal.
            AwaitAssert(() => Assert.Equal(3, h.Assignments.Count), Wait);
            before = Stats(h);
            pendingBefore = (await h.Queues.Ask<QueueHistory>(new GetQueueHistory(Q, 1000), Wait)).Entries
                .Select(e => e.Event + ":" + e.TaskId).ToList();
        }

        // Snapshots were taken (every 5 events here) and the events they cover deleted.
        var pid = "queue-" + settings.Channels.Prefix + Q;
        var server = Redis.Connection.GetServers()[0];
        await AwaitAssertAsync(async () =>
        {
            var snapshotKeys = server.Keys(pattern: "akka:persistence:s:*" + pid + "*").ToList();
            Assert.NotEmpty(snapshotKeys);
            var events = server.Keys(pattern: "akka:persistence:j:*" + pid + "*:events").Single();
            var highest = server.Keys(pattern: "akka:persistence:j:*" + pid + "*:highest").Single();
            var stored = await Redis.Connection.GetDatabase().SortedSetLengthAsync(events);
            Assert.True(stored < (long)await Redis.Connection.GetDatabase().StringGetAsync(highest),
                $"{stored} journal entries kept; older ones should be deleted");
        }, Wait);

        var second = ActorSystem.Create("restarted", AllocatorHarness.SystemConfig(Redis.Server.ConnectionString));
        try
        {
            using var h2 = new AllocatorHarness(second, Redis.Server.ConnectionString, Redis.Connection, settings, CreateTestProbe().Ref);
            var after = await h2.Queues.Ask<QueueStats>(new GetQueueStats(Q), Wait);
            Assert.Equal(before with { PendingByPriority = null!, Consumers = 0, Duplicates = 0 },
                after with { PendingByPriority = null! });
            Assert.Equal(before.PendingByPriority, after.PendingByPriority);
            Assert.Equal((6, 2, 9L, 3L, 1L), (after.Pending, after.InFlight, after.Accepted, after.Allocated, after.Failed));
            var history = (await h2.Queues.Ask<QueueHistory>(new GetQueueHistory(Q, 1000), Wait)).Entries
                .Select(e => e.Event + ":" + e.TaskId).ToList();
            Assert.Equal(pendingBefore, history);
            // A duplicate of a recovered task is still a duplicate.
            h2.Queues.Tell(NewTask("t5"), ActorRefs.NoSender);
            await AwaitAssertAsync(async () => Assert.Equal(1, (await h2.Queues.Ask<QueueStats>(new GetQueueStats(Q), Wait)).Duplicates), Wait);
        }
        finally
        {
            await second.Terminate();
        }
    }

    [Fact]
    public async Task A_queue_that_starts_again_learns_its_workers_from_their_announcements_and_allocates_on()
    {
        using var h = Start();
        h.Workers.Tell(new RegisterWorker("w", [Q], NoCaps, 1));
        AwaitAssert(() => Assert.Equal(1, Stats(h).Consumers), Wait);
        for (var i = 0; i < 3; i++) h.Queues.Tell(NewTask($"t{i}"), ActorRefs.NoSender);
        AwaitAssert(() => Assert.Equal((1, 0), (h.Assignments.Count, Stats(h).Unwritten)), Wait);

        await StopEntity(h.Queues, Q);
        // The next message starts it again from the journal, knowing no worker; the worker's next announcement
        // (twice a second) tells it, and it takes the held task into account.
        AwaitAssert(() => Assert.Equal((1, 1, 2), (Stats(h).Consumers, Stats(h).InFlight, Stats(h).Pending)), Wait);
        Report(h, "w", h.Assignments.Single().TaskId, TaskProgress.Succeeded);
        AwaitAssert(() => Assert.Equal(2, h.Assignments.Count), Wait);
        Assert.All(h.Assignments, a => Assert.Equal(1, a.Attempt));
    }
}
