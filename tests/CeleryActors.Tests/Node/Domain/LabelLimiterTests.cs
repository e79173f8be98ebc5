using CeleryActors.Actors.Metrics;
using Prometheus;
using Xunit;

namespace CeleryActors.Tests.Node.Domain;

public class LabelLimiterTests
{
    [Fact]
    public void Admits_values_up_to_the_cap_then_folds_new_ones()
    {
        var overflows = 0;
        var limiter = new LabelLimiter("task_name", 3, _ => overflows++);
        Assert.Equal("a", limiter.Admit("a"));
        Assert.Equal("b", limiter.Admit("b"));
        Assert.Equal("c", limiter.Admit("c"));
        Assert.Equal(LabelLimiter.OverflowValue, limiter.Admit("d"));
        Assert.Equal("a", limiter.Admit("a")); // admitted values stay admitted
        Assert.Equal(3, limiter.Count);
        Assert.Equal(1, overflows);
    }

    [Fact]
    public void Released_values_free_their_slot()
    {
        var limiter = new LabelLimiter("worker", 1);
        limiter.Admit("w1");
        limiter.Release("w1");
        Assert.Equal("w2", limiter.Admit("w2"));
    }

    [Fact]
    public void Never_exceeds_the_cap_under_concurrency()
    {
        var limiter = new LabelLimiter("queue", 100);
        Parallel.For(0, 10_000, i => limiter.Admit("q" + i));
        Assert.Equal(100, limiter.Count);
    }

    [Fact]
    public void A_million_random_task_names_keep_the_series_count_bounded()
    {
        var metrics = new CeleryMetrics(Metrics.NewCustomRegistry(), maxLabelValues: 100);
        for (var i = 0; i < 1_000_000; i++)
            metrics.CountTaskExecution(new("task-" + Guid.NewGuid().ToString("N"), "q", 0.1, Messages.Metrics.TaskOutcome.Success));

        var text = Export(metrics);
        var series = text.Split('\n').Count(l => l.StartsWith("celery_task_started_total{", StringComparison.Ordinal));
        Assert.Equal(101, series); // 100 admitted names plus the overflow series
        Assert.Equal(1_000_000 - 100, Support.PrometheusText.Parse(text)
            .Value("celery_label_values_overflowed_total", ("label", "task_name")));
        Assert.Equal(1_000_000, Support.PrometheusText.Parse(text).Sum("celery_task_started_total"));
    }

    [Fact]
    public void A_value_not_seen_for_the_ttl_is_freed_and_one_seen_since_is_kept()
    {
        long now = 0;
        var limiter = new LabelLimiter("task_name", 2, clock: () => now);
        limiter.Admit("junk");
        limiter.Admit("real");
        now = 50_000;
        limiter.Admit("real"); // seen again: its clock starts over
        Assert.Equal(LabelLimiter.OverflowValue, limiter.Admit("late"));

        now = 70_000;
        Assert.Equal(["junk"], limiter.TakeIdle(TimeSpan.FromMinutes(1)));
        Assert.Equal(1, limiter.Count);
        Assert.Equal("late", limiter.Admit("late")); // the freed slot takes a new name
        Assert.Empty(limiter.TakeIdle(TimeSpan.FromMinutes(1)));
    }

    [Fact]
    public void A_family_keeps_at_most_its_cap_of_series_and_records_the_rest_in_its_overflow_series()
    {
        var metrics = new CeleryMetrics(Metrics.NewCustomRegistry(), maxLabelValues: 1_000, maxSeries: 50);
        // 20 names x 10 queues x 10 exceptions: 2,000 label sets, each label well under its own cap.
        for (var n = 0; n < 20; n++)
            for (var q = 0; q < 10; q++)
                for (var e = 0; e < 10; e++)
                    metrics.CountTaskExecution(new($"t{n}", $"q{q}", 0.1, Messages.Metrics.TaskOutcome.Failure, $"E{e}"));

        var parsed = Support.PrometheusText.Parse(Export(metrics));
        Assert.Equal(51, Lines(Export(metrics), "celery_task_failed_total{")); // 50 and the overflow series
        Assert.Equal(2_000, parsed.Sum("celery_task_failed_total")); // nothing is lost
        Assert.Equal(2_000 - 50, parsed.Value("celery_task_failed_total",
            ("task_name", LabelLimiter.OverflowValue), ("queue", LabelLimiter.OverflowValue), ("exception", LabelLimiter.OverflowValue)));
        Assert.Equal(2_000 - 50, parsed.Value("celery_metric_series_overflowed_total", ("metric", "celery_task_failed_total")));
        Assert.Equal(51, parsed.Value("celery_metric_series", ("metric", "celery_task_failed_total")));
        Assert.Equal(2_000, parsed.Sum("celery_task_started_total")); // 200 label sets: over the cap too
        Assert.Equal(51, Lines(Export(metrics), "celery_task_started_total{"));
    }

    [Fact]
    public void Expiring_idle_labels_removes_their_series_in_every_family_so_real_names_come_back()
    {
        long now = 0;
        var metrics = new CeleryMetrics(Metrics.NewCustomRegistry(), maxLabelValues: 10, maxSeries: 1_000, clock: () => now);
        for (var i = 0; i < 10; i++)
            metrics.CountTaskExecution(new($"junk-{i}", "q", 0.1, Messages.Metrics.TaskOutcome.Success));
        metrics.TaskDurationSeries("junk-0", "q").Observe(1);
        metrics.CountTaskExecution(new("real", "q", 0.1, Messages.Metrics.TaskOutcome.Success));
        Assert.Equal(1, Support.PrometheusText.Parse(Export(metrics))
            .Value("celery_task_started_total", ("task_name", LabelLimiter.OverflowValue)));

        now = 30_000;
        metrics.SetQueueLength("q", 3); // the queue stays in use
        now = 61_000;
        var (values, series) = metrics.ExpireIdleLabels(TimeSpan.FromMinutes(1));
        Assert.Equal(10, values); // the junk names; "q" was seen 31 s ago
        Assert.Equal(21, series); // 10 started, 10 succeeded, one histogram

        metrics.CountTaskExecution(new("real", "q", 0.1, Messages.Metrics.TaskOutcome.Success));
        var text = Export(metrics);
        Assert.DoesNotContain("junk-", text);
        var parsed = Support.PrometheusText.Parse(text);
        Assert.Equal(1, parsed.Value("celery_task_started_total", ("task_name", "real")));
        Assert.Equal(3, parsed.Value("celery_queue_length", ("queue", "q")));
    }

    private static int Lines(string text, string prefix) =>
        text.Split('\n').Count(l => l.StartsWith(prefix, StringComparison.Ordinal));

    private static string Export(CeleryMetrics metrics)
    {
        using var stream = new MemoryStream();
        metrics.Registry.CollectAndExportAsTextAsync(stream).GetAwaiter().GetResult();
        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }
}
