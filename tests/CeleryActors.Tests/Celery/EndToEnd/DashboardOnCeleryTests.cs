using CeleryActors.Redis;
using CeleryActors.Tests.Fixtures;
using CeleryActors.Tests.Monitoring;
using CeleryActors.Tests.Support;
using Xunit;
using static CeleryActors.Tests.Monitoring.MonitoringAssets;

namespace CeleryActors.Tests.Celery.EndToEnd;

/// <summary>
/// The dashboard on a real Celery run: a real worker processes tasks sent by Celery's producer while a real
/// Prometheus scrapes the node; every panel's PromQL, on both dashboards, must parse and return data.
/// </summary>
public class DashboardOnCeleryTests
{
    /// <summary>Fed by the allocator (its own pub/sub protocol), not by Celery, or empty while nothing goes wrong.</summary>
    private static readonly HashSet<string> NotFedByCelery =
        ["Task allocation rate", "Allocator requeues and duplicates", "Allocation p99", "Lost events and resubscriptions",
         "Rejected messages by reason"];

    [Fact]
    public async Task Every_panel_returns_data_while_a_real_worker_runs_tasks()
    {
        await using var redis = await RedisServerProcess.StartAsync();
        await using var node = await HostNodeProcess.StartAsync(new Dictionary<string, string>
        {
            ["REDIS_URL"] = redis.Url.ToString(),
            ["CELERY_BROKER_URL"] = redis.Url.ToString(),
            ["METRICS_REFRESH_INTERVAL"] = "0.5",
            ["CELERY_INSPECT_INTERVAL"] = "1",
            ["CELERY_INSPECT_TIMEOUT"] = "0.5",
        });
        await using var worker = await CeleryWorkerProcess.StartAsync(redis.Url.ToString(), "dash", "default,data_processing", 2);
        await using var prometheus = await PrometheusProcess.StartAsync($"127.0.0.1:{node.MetricsPort}");
        // Enough work to keep the worker busy over many scrapes (about 15 s): rates need counters that move
        // between two samples.
        // A flaky task now and then, so the retry panels have data too.
        var tasks = Enumerable.Range(0, 60).SelectMany(i => new (string, object[], object)[]
        {
            ("shop.long", [0.5], new { queue = "default" }),
            (i % 3 == 0 ? "shop.declined" : i % 5 == 1 ? "shop.flaky" : "shop.ok", [i], new { queue = "data_processing" }),
        });
        await CeleryWorkerProcess.SendAsync(redis.Url.ToString(), tasks);
        using var dashboard = LoadDashboard();
        using var tasksDashboard = LoadDashboard(TasksDashboardPath);
        var targets = Targets(dashboard).Concat(Targets(tasksDashboard)).ToList();
        await Eventually.Holds(async () =>
        {
            foreach (var target in targets)
            {
                var expr = ExpandGrafanaMacros(target.Expr);
                var result = await DashboardQueriesTests.QueryAsync(prometheus, expr, target.PanelTitle);
                if (NotFedByCelery.Contains(target.PanelTitle)) continue;
                Assert.True(result.Any(DashboardQueriesTests.HasFiniteValue), $"{target.PanelTitle}/{target.RefId}: no data for {expr}");
            }
        }, TimeSpan.FromSeconds(60));
    }
}
