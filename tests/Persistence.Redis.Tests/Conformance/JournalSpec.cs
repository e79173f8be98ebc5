using Akka.Actor;
using Akka.Persistence;
using CeleryActors.Persistence.Redis.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace CeleryActors.Persistence.Redis.Tests.Conformance;

/// <summary>Journal cases 1-16 of journal-contract.md §1.1 (the TCK's JournalSpec), case by case.</summary>
public sealed class JournalSpec : PluginSpec
{
    public JournalSpec(RedisFixture redis, ITestOutputHelper output) : base(redis, output)
    {
        WriteFiveEvents();
    }

    [Fact] // 1
    public void Replays_all_messages()
    {
        var probe = CreateTestProbe();
        Replay(probe, 1, long.MaxValue);
        ExpectReplay(probe, Range(1, 5), 5);
    }

    [Fact] // 2
    public void Replays_messages_from_a_lower_bound()
    {
        var probe = CreateTestProbe();
        Replay(probe, 3, long.MaxValue);
        ExpectReplay(probe, Range(3, 5), 5);
    }

    [Fact] // 3
    public void Replays_messages_up_to_an_upper_bound_and_reports_the_true_highest()
    {
        var probe = CreateTestProbe();
        Replay(probe, 1, 3);
        ExpectReplay(probe, Range(1, 3), 5);
    }

    [Fact] // 4
    public void Replays_at_most_max_messages()
    {
        var probe = CreateTestProbe();
        Replay(probe, 1, long.MaxValue, max: 3);
        ExpectReplay(probe, Range(1, 3), 5);
    }

    [Fact] // 5
    public void Replays_between_lower_and_upper_bounds()
    {
        var probe = CreateTestProbe();
        Replay(probe, 2, 3);
        ExpectReplay(probe, Range(2, 3), 5);
    }

    [Fact] // 6
    public void Replays_between_bounds_with_a_count_limit()
    {
        var probe = CreateTestProbe();
        Replay(probe, 2, 5, max: 2);
        ExpectReplay(probe, Range(2, 3), 5);
    }

    [Fact] // 7
    public void Replays_a_single_message_when_lower_equals_upper()
    {
        var probe = CreateTestProbe();
        Replay(probe, 2, 2);
        ExpectReplay(probe, [2], 5);
    }

    [Fact] // 8
    public void Replays_a_single_message_when_max_is_one()
    {
        var probe = CreateTestProbe();
        Replay(probe, 2, 4, max: 1);
        ExpectReplay(probe, [2], 5);
    }

    [Fact] // 9
    public void Replays_nothing_when_max_is_zero()
    {
        var probe = CreateTestProbe();
        Replay(probe, 2, 4, max: 0);
        ExpectReplay(probe, [], 5);
    }

    [Fact] // 10
    public void Replays_nothing_when_lower_is_above_upper()
    {
        var probe = CreateTestProbe();
        Replay(probe, 3, 2);
        ExpectReplay(probe, [], 5);
    }

    [Fact] // 11
    public void Replays_nothing_for_a_persistence_id_that_never_wrote()
    {
        var probe = CreateTestProbe();
        Replay(probe, 1, long.MaxValue, pid: "never-" + Guid.NewGuid());
        probe.ExpectMsg<RecoverySuccess>(m => Assert.Equal(0, m.HighestSequenceNr));
    }

    [Fact] // 12
    public void Does_not_replay_permanently_deleted_messages()
    {
        var subscriber = CreateTestProbe();
        Sys.EventStream.Subscribe(subscriber, typeof(DeleteMessagesTo));
        var deleter = CreateTestProbe();
        Journal.Tell(new DeleteMessagesTo(Pid, 3, deleter));
        subscriber.ExpectMsg<DeleteMessagesTo>(m => Assert.Equal(Pid, m.PersistenceId));
        deleter.ExpectMsg<DeleteMessagesSuccess>(m => Assert.Equal(3, m.ToSequenceNr));

        var probe = CreateTestProbe();
        Replay(probe, 1, long.MaxValue);
        ExpectReplay(probe, Range(4, 5), 5);
        deleter.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    [Fact] // 13
    public void Keeps_the_highest_sequence_number_after_a_partial_delete()
    {
        var deleter = CreateTestProbe();
        Journal.Tell(new DeleteMessagesTo(Pid, 3, deleter));
        deleter.ExpectMsg<DeleteMessagesSuccess>();
        var probe = CreateTestProbe();
        Replay(probe, 0, long.MaxValue);
        ExpectReplay(probe, Range(4, 5), 5);
    }

    [Fact] // 14
    public void Keeps_the_highest_sequence_number_after_deleting_everything()
    {
        var deleter = CreateTestProbe();
        Journal.Tell(new DeleteMessagesTo(Pid, long.MaxValue, deleter));
        deleter.ExpectMsg<DeleteMessagesSuccess>(m => Assert.Equal(long.MaxValue, m.ToSequenceNr));
        var probe = CreateTestProbe();
        Replay(probe, 0, long.MaxValue);
        ExpectReplay(probe, [], 5);
    }

    [Fact] // 15
    public void Serializes_events_and_keeps_writer_guid_pid_and_sequence_number()
    {
        var probe = CreateTestProbe();
        var payload = new TestPayload(probe.Ref);
        Write(probe, Atomic(Event(payload, 6)));
        probe.ExpectMsg<WriteMessagesSuccessful>();
        probe.ExpectMsg<WriteMessageSuccess>(m =>
        {
            Assert.Equal(WriterGuid, m.Persistent.WriterGuid);
            Assert.Equal(Pid, m.Persistent.PersistenceId);
            Assert.Equal(6, m.Persistent.SequenceNr);
            Assert.True(m.Persistent.Sender is null || m.Persistent.Sender.IsNobody() ||
                        m.Persistent.Sender.Equals(Sys.DeadLetters));
            Assert.Equal(payload, m.Persistent.Payload);
        });

        Replay(probe, 6, long.MaxValue);
        probe.ExpectMsg<ReplayedMessage>(m =>
        {
            Assert.Equal(WriterGuid, m.Persistent.WriterGuid);
            Assert.Equal(Pid, m.Persistent.PersistenceId);
            Assert.Equal(6, m.Persistent.SequenceNr);
            Assert.Equal(payload, m.Persistent.Payload);
            // The sender is not stored: a replayed event has none.
            Assert.True(m.Persistent.Sender is null || m.Persistent.Sender.IsNobody() ||
                        m.Persistent.Sender.Equals(Sys.DeadLetters));
        });
        probe.ExpectMsg<RecoverySuccess>(m => Assert.Equal(6, m.HighestSequenceNr));
    }

    [Fact] // 16
    public void Rejects_a_non_serializable_event_and_keeps_going()
    {
        var probe = CreateTestProbe();
        Write(probe, Atomic(Event("a-6", 6)), Atomic(Event(new NotSerializable("x"), 7)), Atomic(Event("a-8", 8)));
        probe.ExpectMsg<WriteMessagesSuccessful>();
        probe.ExpectMsg<WriteMessageSuccess>(m => Assert.Equal(6, m.Persistent.SequenceNr));
        probe.ExpectMsg<WriteMessageRejected>(m =>
        {
            Assert.Equal(7, m.Persistent.SequenceNr);
            Assert.IsType<NotSupportedException>(m.Cause);
        });
        probe.ExpectMsg<WriteMessageSuccess>(m => Assert.Equal(8, m.Persistent.SequenceNr));

        Replay(probe, 6, long.MaxValue);
        probe.ExpectMsg<ReplayedMessage>(m => Assert.Equal("a-6", m.Persistent.Payload));
        probe.ExpectMsg<ReplayedMessage>(m => Assert.Equal("a-8", m.Persistent.Payload));
        probe.ExpectMsg<RecoverySuccess>(m => Assert.Equal(8, m.HighestSequenceNr));
    }
}
