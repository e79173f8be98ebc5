using CeleryActors.Actors.Metrics;
using Prometheus;
using Xunit;

namespace CeleryActors.Tests.Unit;

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

    private static string Export(CeleryMetrics metrics)
    {
        using var stream = new MemoryStream();
        metrics.Registry.CollectAndExportAsTextAsync(stream).GetAwaiter().GetResult();
        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }
}
