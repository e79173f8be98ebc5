using CeleryActors.Actors.Allocator;
using CeleryActors.Messages.Allocator;
using Xunit;

namespace CeleryActors.Tests.Allocator.Domain;

public class HeardWorkersTests
{
    [Fact]
    public void A_worker_is_told_at_once_then_at_most_once_an_interval_however_often_it_speaks()
    {
        var heard = new HeardWorkers(intervalMs: 100);
        Assert.True(heard.Heard("w", 1_000));
        for (var t = 1_001; t < 1_050; t++) Assert.False(heard.Heard("w", t));
        Assert.Equal(["w"], heard.TakeDue(1_050));
        Assert.Empty(heard.TakeDue(1_060)); // told, and silent since
        Assert.False(heard.Heard("w", 1_100)); // within an interval of the notice the sweep sent
        Assert.True(heard.Heard("w", 1_200));
        Assert.True(heard.Heard("other", 1_200)); // each worker on its own
    }

    [Fact]
    public void A_worker_silent_for_a_few_intervals_is_forgotten_and_told_at_once_when_it_speaks_again()
    {
        var heard = new HeardWorkers(intervalMs: 100);
        for (var i = 0; i < 1_000; i++) heard.Heard($"w{i}", 0);
        Assert.Empty(heard.TakeDue(1_000));
        Assert.True(heard.Heard("w1", 1_001));
    }
}

public class WireRoutingTests
{
    [Fact]
    public void Tasks_and_reports_naming_a_queue_go_to_the_queue_and_the_rest_to_the_worker()
    {
        const string queue = AllocatorMessageExtractor.QueueTypeName, worker = AllocatorMessageExtractor.WorkerTypeName;
        Assert.Equal((queue, "q"), WireRouting.EntityOf(new SubmitTask("q", "t", "job", "{}", 5, null, null, 1)));
        Assert.Equal((queue, "q"), WireRouting.EntityOf(new WorkerTaskStatus("w", "t", TaskProgress.Started, null, null, Queue: "q")));
        Assert.Equal((worker, "w"), WireRouting.EntityOf(new WorkerTaskStatus("w", "t", TaskProgress.Started, null, null)));
        Assert.Equal((worker, "w"), WireRouting.EntityOf(new WorkerHeartbeat("w")));
    }

    [Fact]
    public void A_report_for_its_queue_keeps_all_it_said_and_is_marked_direct()
    {
        var status = new WorkerTaskStatus("w", "t", TaskProgress.Failed, 1.5, "KeyError", Replayed: true, Queue: "q");
        Assert.Equal(new ReportTaskProgress("q", "t", "w", TaskProgress.Failed, 1.5, "KeyError", Replayed: true, Direct: true),
            WorkerReports.ReportOf(status, "q", direct: true));
    }
}
