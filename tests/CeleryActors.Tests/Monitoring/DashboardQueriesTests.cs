using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using CeleryActors.Tests.Fixtures;
using CeleryActors.Tests.Support;
using StackExchange.Redis;
using Xunit;
using static CeleryActors.Tests.Monitoring.MonitoringAssets;

namespace CeleryActors.Tests.Monitoring;

/// <summary>
/// Every panel query of the dashboard runs against a real Prometheus that scrapes a real host node, which a
/// producer feeds through the metrics channel on a private Redis.
/// </summary>
public class DashboardQueriesTests(NodeFixture fixture) : IClassFixture<NodeFixture>
{
    /// <summary>
    /// Panels the metrics channel cannot feed: worker gauges and queue consumers come from the Celery monitor
    /// (checked with data in <c>Celery/DashboardOnCeleryTests</c>, on a real worker), allocations from the
    /// allocator. Here their queries must parse but may be empty.
    /// </summary>
    public static readonly HashSet<string> PanelsAllowedEmptyForNow =
    [
        "Active tasks per worker",
        "Worker pool size",
        "Task allocation rate",
        "Queue consumers",
        // The operator rows: Celery, the allocator and faults feed them, not the metrics channel.
        .. DashboardStructureTests.OperatorPanels,
    ];

    /// <summary>Likewise for the filter variables: no metric carries a worker label yet.</summary>
    public static readonly HashSet<string> VariablesAllowedEmptyForNow = ["worker"];

    private const string Queue = "dash-q";
    private const string Channel = "dash-channel";

    [Fact]
    public async Task Every_panel_query_parses_and_the_panels_the_metrics_channel_feeds_show_data()
    {
        using var dashboard = LoadDashboard();
        var targets = Targets(dashboard);
        Assert.Equal(DashboardStructureTests.SpecPanels.Length + DashboardStructureTests.OperatorPanels.Length,
            targets.Select(t => t.PanelTitle).Distinct().Count());

        // The node declares every family the assets may use, so the contract list of the tests is the node's.
        var exposition = await fixture.Node.ScrapeAsync();
        foreach (var family in Families)
            Assert.True(exposition.Families.ContainsKey(family.Name) || exposition.Families.ContainsKey(family.Name[..^"_total".Length]),
                $"the node does not export {family.Name}");

        // A producer keeps publishing while Prometheus scrapes, so counters rise between scrapes and rate() and
        // histogram_quantile() over them have something to show.
        using var stop = new CancellationTokenSource();
        var publisher = PublishUntilStoppedAsync(fixture.Redis.Connection.GetSubscriber(), stop.Token);
        try
        {
            await using var prometheus = await PrometheusProcess.StartAsync($"127.0.0.1:{fixture.Node.MetricsPort}");
            var results = new Dictionary<string, JsonElement[]>();
            await Eventually.Holds(async () =>
            {
                Assert.False(publisher.IsCompleted, $"the publisher stopped: {publisher.Exception}");
                foreach (var target in targets)
                {
                    var key = $"{target.PanelTitle}/{target.RefId}";
                    var result = await QueryAsync(prometheus, ExpandGrafanaMacros(target.Expr), key); // throws unless it parses
                    results[key] = result;
                    if (PanelsAllowedEmptyForNow.Contains(target.PanelTitle)) continue;
                    Assert.True(result.Any(HasFiniteValue), $"{key}: no data yet for {ExpandGrafanaMacros(target.Expr)}");
                    // The broker label exists only with several brokers (CELERY_BROKERS); its legend part is empty else.
                    foreach (var label in Regex.Matches(target.Legend, @"\{\{\s*(\w+)\s*\}\}").Select(m => m.Groups[1].Value)
                                 .Where(l => l != Broker))
                        Assert.All(result, s => Assert.True(s.GetProperty("metric").TryGetProperty(label, out _),
                            $"{key}: legend names {label}, absent from {s}"));
                }
            }, TimeSpan.FromSeconds(40));

            // What the producer sent is what the panels show.
            Assert.Contains(results["Task failure rate by exception/A"], s => Label(s, "exception") == "TimeoutError");
            Assert.Contains(results["Task failure rate by exception/A"], s => Label(s, "exception") == "ValueError");
            Assert.Contains(results["Queue length/A"], s => Label(s, "queue") == Queue && Value(s) > 0);
            Assert.Contains(results["Redis pub/sub message rate/A"], s => Label(s, "channel") == Channel);
            Assert.Contains(results["Pub/sub latency/A"], s => Label(s, "channel") == Channel);
            var p95 = results["Task duration p95/A"].Single(s => Label(s, "queue") == Queue);
            Assert.InRange(Value(p95), 0.1, 5.0); // durations published: 0.2 s to 2.5 s
            var succeeded = Value(results["Task success vs failure/A"].Single());
            var failed = Value(results["Task success vs failure/B"].Single());
            Assert.True(succeeded > failed && failed > 0, $"pie: succeeded {succeeded}, failed {failed}");

            // The filter variables' queries (label_values over a series selector) answer through the same API
            // Grafana uses, and list what was fed.
            foreach (var name in new[] { "queue", "worker" })
            {
                var (selector, label) = DashboardStructureTests.LabelValuesQuery(VariableQuery(Variable(dashboard, name)));
                var values = await LabelValuesAsync(prometheus, label, selector);
                if (name == "queue") Assert.Contains(Queue, values);
                else if (!VariablesAllowedEmptyForNow.Contains(name)) Assert.NotEmpty(values);
            }
        }
        finally
        {
            await stop.CancelAsync();
            await publisher;
        }
    }

    [Fact]
    public async Task A_query_that_does_not_parse_fails_the_check()
    {
        await using var prometheus = await PrometheusProcess.StartAsync($"127.0.0.1:{fixture.Node.MetricsPort}");
        var e = await Assert.ThrowsAsync<Xunit.Sdk.XunitException>(
            () => QueryAsync(prometheus, ExpandGrafanaMacros("sum(rate(celery_task_started_total{queue=~\"$queue\"}[$__rate_interval])"), "broken"));
        Assert.Contains("parse error", e.Message);
    }

    private static async Task PublishUntilStoppedAsync(ISubscriber publisher, CancellationToken stop)
    {
        var channel = RedisChannel.Literal("metrics");
        var durations = new[] { 0.2, 0.4, 0.7, 1.1, 2.5 };
        for (var round = 0; !stop.IsCancellationRequested; round++)
        {
            var d = durations[round % durations.Length].ToString(CultureInfo.InvariantCulture);
            await publisher.PublishAsync(channel, $$"""{"type":"task_execution","task_name":"dash.work","queue":"{{Queue}}","duration":{{d}},"status":"success"}""");
            await publisher.PublishAsync(channel, $$"""{"type":"task_execution","task_name":"dash.work","queue":"{{Queue}}","duration":{{d}},"status":"success"}""");
            await publisher.PublishAsync(channel, $$"""{"type":"task_execution","task_name":"dash.work","queue":"{{Queue}}","duration":{{d}},"status":"failure","exception":"{{(round % 2 == 0 ? "TimeoutError" : "ValueError")}}"}""");
            await publisher.PublishAsync(channel, $$"""{"type":"queue_length","queue":"{{Queue}}","length":{{10 + round % 7}}}""");
            await publisher.PublishAsync(channel, $$"""{"type":"pubsub_message","channel":"{{Channel}}","message_type":"order_created","latency":0.00{{1 + round % 9}}}""");
            try { await Task.Delay(100, stop); }
            catch (OperationCanceledException) { return; }
        }
    }

    /// <summary>Runs an instant query; fails the test with Prometheus's own error when it does not parse.</summary>
    internal static async Task<JsonElement[]> QueryAsync(PrometheusProcess prometheus, string promql, string what)
    {
        using var response = await prometheus.Http.GetAsync("/api/v1/query?query=" + Uri.EscapeDataString(promql));
        var body = await response.Content.ReadAsStringAsync();
        using var doc = JsonDocument.Parse(body);
        if (doc.RootElement.GetProperty("status").GetString() != "success")
            throw new Xunit.Sdk.XunitException($"{what}: Prometheus rejected {promql}: {body}");
        var data = doc.RootElement.GetProperty("data");
        Assert.Equal("vector", data.GetProperty("resultType").GetString());
        return data.GetProperty("result").EnumerateArray().Select(e => e.Clone()).ToArray();
    }

    private static async Task<string[]> LabelValuesAsync(PrometheusProcess prometheus, string label, string selector)
    {
        var body = await prometheus.Http.GetStringAsync($"/api/v1/label/{label}/values?match[]={Uri.EscapeDataString(selector)}");
        using var doc = JsonDocument.Parse(body);
        Assert.Equal("success", doc.RootElement.GetProperty("status").GetString());
        return doc.RootElement.GetProperty("data").EnumerateArray().Select(e => e.GetString()!).ToArray();
    }

    private static string? Label(JsonElement sample, string label) =>
        sample.GetProperty("metric").TryGetProperty(label, out var v) ? v.GetString() : null;

    private static double Value(JsonElement sample) =>
        double.Parse(sample.GetProperty("value")[1].GetString()!, NumberStyles.Float, CultureInfo.InvariantCulture);

    internal static bool HasFiniteValue(JsonElement sample) => double.IsFinite(Value(sample));
}
