using Akka.Actor;
using Akka.TestKit.Xunit2;
using CeleryActors.Actors.Metrics;
using CeleryActors.Messages.Metrics;
using CeleryActors.Messages.Subscription;
using CeleryActors.Tests.Support;
using Prometheus;
using Xunit;
using Xunit.Abstractions;

namespace CeleryActors.Tests.Node.Actors;

public class MetricsRecorderActorTests(ITestOutputHelper output) : TestKit(output: output)
{
    private readonly CeleryMetrics _metrics = new(Metrics.NewCustomRegistry(), 100);

    private MetricFamilies Scrape()
    {
        using var stream = new MemoryStream();
        _metrics.Registry.CollectAndExportAsTextAsync(stream).GetAwaiter().GetResult();
        return PrometheusText.Parse(System.Text.Encoding.UTF8.GetString(stream.ToArray()));
    }

    [Fact]
    public void Records_every_command_of_the_library_api()
    {
        var recorder = Sys.ActorOf(MetricsRecorderActor.Props(_metrics, ObservationPipelineSettings.Default));
        recorder.Tell(new TrackTaskExecution("t", "q", 0.2, TaskOutcome.Success));
        recorder.Tell(new TrackTaskExecution("t", "q", 1.5, TaskOutcome.Failure, "KeyError"));
        recorder.Tell(new UpdateQueueLength("q", 12));
        recorder.Tell(new TrackPubSubMessage("tasks:q", "task", 0.004));
        recorder.Tell(new MessageRejected(ChannelKind.Metrics, "metrics", RejectionReason.WrongType, "x"));
        recorder.Tell(new ChannelsResubscribed(["metrics"]));

        AwaitAssert(() =>
        {
            var m = Scrape();
            Assert.Equal(2, m.Value("celery_task_started_total", ("task_name", "t"), ("queue", "q")));
            Assert.Equal(1, m.Value("celery_task_succeeded_total", ("task_name", "t"), ("queue", "q")));
            Assert.Equal(1, m.Value("celery_task_failed_total", ("task_name", "t"), ("queue", "q"), ("exception", "KeyError")));
            Assert.Equal(2, m.Value("celery_task_duration_seconds_count", ("task_name", "t"), ("queue", "q")));
            Assert.Equal(1.7, m.Value("celery_task_duration_seconds_sum", ("task_name", "t"), ("queue", "q")), 6);
            Assert.Equal(12, m.Value("celery_queue_length", ("queue", "q")));
            Assert.Equal(1, m.Value("celery_redis_pubsub_messages_total", ("channel", "tasks:q"), ("message_type", "task")));
            Assert.Equal(1, m.Value("celery_redis_pubsub_latency_seconds_count", ("channel", "tasks:q")));
            Assert.Equal(1, m.Value("celery_messages_rejected_total", ("channel_kind", "metrics"), ("reason", "wrong_type")));
            Assert.Equal(1, m.Value("celery_redis_resubscriptions_total"));
        }, TimeSpan.FromSeconds(5));
    }

    [Fact]
    public void Counts_observations_dropped_when_the_pipeline_buffer_is_full()
    {
        // A buffer of 16 and a long batch window: a burst larger than the buffer must be partly dropped, and
        // every observation is either recorded or counted as dropped.
        var settings = new ObservationPipelineSettings(16, 100_000, TimeSpan.FromSeconds(1));
        var recorder = Sys.ActorOf(MetricsRecorderActor.Props(_metrics, settings));
        for (var i = 0; i < 5_000; i++) recorder.Tell(new TrackTaskExecution("t", "q", 0.1, TaskOutcome.Success));

        AwaitAssert(() =>
        {
            var m = Scrape();
            Assert.Equal(5_000, m.Value("celery_task_started_total", ("task_name", "t"), ("queue", "q")));
            var observed = m.Value("celery_task_duration_seconds_count", ("task_name", "t"), ("queue", "q"));
            var dropped = m.Value("celery_observations_dropped_total");
            Assert.True(dropped > 0, "nothing was dropped");
            Assert.Equal(5_000, observed + dropped);
        }, TimeSpan.FromSeconds(10));
    }
}
