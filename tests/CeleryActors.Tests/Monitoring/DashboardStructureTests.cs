using System.Text.Json;
using System.Text.RegularExpressions;
using Xunit;
using static CeleryActors.Tests.Monitoring.MonitoringAssets;

namespace CeleryActors.Tests.Monitoring;

/// <summary>The Grafana dashboard file against SPEC §7 and the metric contract of §3, without running anything.</summary>
public class DashboardStructureTests
{
    /// <summary>The panels of SPEC §7, by title.</summary>
    public static readonly string[] SpecPanels =
    [
        "Task execution rate",
        "Task success vs failure",
        "Task duration p95",
        "Queue length",
        "Active tasks per worker",
        "Worker pool size",
        "Redis pub/sub message rate",
        "Pub/sub latency",
        "Task allocation rate",
        "Queue consumers",
        "Task failure rate by exception",
    ];

    /// <summary>The rows below the spec's panels, for operators: worker health, saturation, backlog age, what the
    /// node lost or rejected, and the allocator.</summary>
    public static readonly string[] OperatorPanels =
    [
        "Workers up",
        "Pool saturation",
        "Oldest waiting task",
        "Unacked messages",
        "Queue wait p95",
        "Lost events and resubscriptions",
        "Rejected messages by reason",
        "Allocator requeues and duplicates",
        "Allocation p99",
    ];

    /// <summary>The panels of the second dashboard, "Celery Tasks by Name".</summary>
    public static readonly string[] TaskPanels =
    [
        "Task rate by outcome",
        "Task duration quantiles",
        "Queue wait quantiles",
        "Failures by exception",
        "Retries",
    ];

    /// <summary>Each dashboard file with its filter variables: what every check of a dashboard's shape runs on.</summary>
    public static TheoryData<string, string[]> Dashboards => new()
    {
        { DashboardPath, ["queue", "worker", "broker"] },
        { TasksDashboardPath, ["task_name", "queue", "broker"] },
    };

    private static readonly JsonDocument Dashboard = LoadDashboard();
    private static JsonElement Root => Dashboard.RootElement;
    private static IEnumerable<JsonElement> Panels => Root.GetProperty("panels").EnumerateArray();

    private static IEnumerable<JsonElement> PanelsOf(JsonDocument dashboard) => dashboard.RootElement.GetProperty("panels").EnumerateArray();

    [Fact]
    public void Dashboard_has_its_title_uid_schema_time_range_and_refresh()
    {
        Assert.Equal("Celery Workers & Task Monitoring", Root.GetProperty("title").GetString());
        Assert.False(string.IsNullOrWhiteSpace(Root.GetProperty("uid").GetString()));
        Assert.True(Root.GetProperty("schemaVersion").GetInt32() >= 36, "schemaVersion too old for timeseries panels");
        Assert.StartsWith("now-", Root.GetProperty("time").GetProperty("from").GetString());
        Assert.Equal("now", Root.GetProperty("time").GetProperty("to").GetString());
        Assert.Matches(@"^\d+[smh]$", Root.GetProperty("refresh").GetString());
    }

    [Fact]
    public void Dashboard_has_the_eleven_spec_panels_and_the_operator_rows_with_unique_ids()
    {
        var titles = Panels.Select(p => p.GetProperty("title").GetString()!).ToList();
        Assert.Equal(SpecPanels.Concat(OperatorPanels).Order(), titles.Order());
        var ids = Panels.Select(p => p.GetProperty("id").GetInt32()).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.Contains(Panels, p => p.GetProperty("type").GetString() == "piechart" &&
                                     p.GetProperty("title").GetString() == "Task success vs failure");
        foreach (var panel in Panels)
            Assert.True(panel.GetProperty("targets").GetArrayLength() > 0, $"{panel.GetProperty("title")} has no query");
    }

    [Fact]
    public void The_tasks_dashboard_has_its_title_and_panels()
    {
        using var dashboard = LoadDashboard(TasksDashboardPath);
        Assert.Equal("Celery Tasks by Name", dashboard.RootElement.GetProperty("title").GetString());
        Assert.Equal(TaskPanels.Order(), PanelsOf(dashboard).Select(p => p.GetProperty("title").GetString()!).Order());
        foreach (var panel in PanelsOf(dashboard))
            Assert.True(panel.GetProperty("targets").GetArrayLength() > 0, $"{panel.GetProperty("title")} has no query");
    }

    [Theory]
    [MemberData(nameof(Dashboards))]
    public void Panels_have_unique_ids_and_do_not_overlap_on_the_grid(string path, string[] filters)
    {
        _ = filters;
        using var dashboard = LoadDashboard(path);
        Assert.True(dashboard.RootElement.GetProperty("schemaVersion").GetInt32() >= 36, "schemaVersion too old for timeseries panels");
        Assert.False(string.IsNullOrWhiteSpace(dashboard.RootElement.GetProperty("uid").GetString()));
        var ids = PanelsOf(dashboard).Select(p => p.GetProperty("id").GetInt32()).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
        var cells = new HashSet<(int, int)>();
        foreach (var panel in PanelsOf(dashboard))
        {
            var g = panel.GetProperty("gridPos");
            int x = g.GetProperty("x").GetInt32(), y = g.GetProperty("y").GetInt32(),
                w = g.GetProperty("w").GetInt32(), h = g.GetProperty("h").GetInt32();
            Assert.InRange(x + w, 1, 24);
            for (var i = x; i < x + w; i++)
            for (var j = y; j < y + h; j++)
                Assert.True(cells.Add((i, j)), $"{panel.GetProperty("title")} overlaps another panel at {i},{j}");
        }
    }

    [Theory]
    [MemberData(nameof(Dashboards))]
    public void Datasource_variable_chooses_among_prometheus_datasources_and_every_panel_and_target_uses_it(string path, string[] filters)
    {
        using var dashboard = LoadDashboard(path);
        var ds = Variable(dashboard, "datasource");
        Assert.Equal("datasource", ds.GetProperty("type").GetString());
        Assert.Equal("prometheus", ds.GetProperty("query").GetString());

        static void AssertUsesVariable(JsonElement datasource, string where)
        {
            var uid = datasource.ValueKind == JsonValueKind.String
                ? datasource.GetString()
                : datasource.GetProperty("uid").GetString();
            Assert.True(uid is "${datasource}" or "$datasource", $"{where} uses datasource {datasource}, not the variable");
        }

        foreach (var panel in PanelsOf(dashboard))
            AssertUsesVariable(panel.GetProperty("datasource"), $"panel {panel.GetProperty("title")}");
        foreach (var target in Targets(dashboard))
            AssertUsesVariable(target.Datasource, $"{target.PanelTitle}/{target.RefId}");
        foreach (var name in filters)
            AssertUsesVariable(Variable(dashboard, name).GetProperty("datasource"), $"variable {name}");
    }

    [Theory]
    [InlineData(DashboardPath, "queue")]
    [InlineData(DashboardPath, "worker")]
    [InlineData(TasksDashboardPath, "task_name")]
    [InlineData(TasksDashboardPath, "queue")]
    public void Filter_variable_lists_label_values_is_multi_select_with_all(string path, string name)
    {
        using var dashboard = LoadDashboard(path);
        var v = Variable(dashboard, name);
        Assert.Equal("query", v.GetProperty("type").GetString());
        Assert.True(v.GetProperty("multi").GetBoolean());
        Assert.True(v.GetProperty("includeAll").GetBoolean());
        Assert.Equal(".*", v.GetProperty("allValue").GetString());
        var (selector, label) = LabelValuesQuery(VariableQuery(v));
        Assert.Equal(name, label);
        var metrics = MetricNames(selector);
        Assert.NotEmpty(metrics);
        foreach (var metric in metrics)
        {
            Assert.True(BySeriesName.TryGetValue(metric, out var family), $"variable {name}: {metric} is not exported");
            Assert.Contains(name, family!.Labels);
        }
    }

    [Theory]
    [MemberData(nameof(Dashboards))]
    public void Every_query_uses_only_exported_metric_families(string path, string[] filters)
    {
        _ = filters;
        using var dashboard = LoadDashboard(path);
        foreach (var target in Targets(dashboard))
        {
            var metrics = MetricNames(target.Expr);
            Assert.True(metrics.Count > 0, $"{target.PanelTitle}/{target.RefId}: no metric in {target.Expr}");
            foreach (var metric in metrics)
                Assert.True(BySeriesName.ContainsKey(metric),
                    $"{target.PanelTitle}/{target.RefId}: {metric} is not a series the node exports ({target.Expr})");
        }
    }

    [Theory]
    [MemberData(nameof(Dashboards))]
    public void Queries_filter_by_each_filter_variable_wherever_their_metrics_carry_its_label(string path, string[] filters)
    {
        using var dashboard = LoadDashboard(path);
        foreach (var target in Targets(dashboard))
        {
            var families = MetricNames(target.Expr).Select(m => BySeriesName[m]).ToList();
            foreach (var label in filters)
            {
                var filtered = Regex.IsMatch(target.Expr, $"{label}=~\"\\$\\{{?{label}\\}}?\"");
                var carries = families.Any(f => f.Labels.Contains(label));
                Assert.True(filtered == carries,
                    $"{target.PanelTitle}/{target.RefId}: {(carries ? "does not filter" : "filters")} by ${label}: {target.Expr}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Dashboards))]
    public void Legends_name_only_labels_the_query_keeps(string path, string[] filters)
    {
        _ = filters;
        using var dashboard = LoadDashboard(path);
        foreach (var target in Targets(dashboard))
        {
            var legendLabels = Regex.Matches(target.Legend, @"\{\{\s*(\w+)\s*\}\}").Select(m => m.Groups[1].Value).ToList();
            var grouping = Regex.Matches(target.Expr, @"\bby\s*\(([^)]*)\)").SelectMany(m => m.Groups[1].Value.Split(',').Select(s => s.Trim()));
            foreach (var label in legendLabels)
                Assert.True(grouping.Contains(label), $"{target.PanelTitle}/{target.RefId}: legend uses {label}, which {target.Expr} drops");
        }
    }

    [Fact]
    public void Metric_name_reader_finds_names_and_skips_functions_labels_and_keywords()
    {
        Assert.Equal(["celery_task_duration_seconds_bucket"],
            MetricNames("histogram_quantile(0.95, sum by (le, queue) (rate(celery_task_duration_seconds_bucket{queue=~\"$queue\"}[$__rate_interval])))"));
        Assert.Equal(["celery_task_failed_total", "celery_task_started_total"],
            MetricNames("sum by (queue) (rate(celery_task_failed_total[5m])) / on (queue) sum(rate(celery_task_started_total[5m])) > 1e-3 and bool 1"));
        Assert.Equal(["a", "b"], MetricNames("{__name__=~\"a|b\"}"));
        Assert.Equal(["up"], MetricNames("absent(up{job=\"celery-metrics\"})"));
        Assert.Contains("not_exported", MetricNames("max(not_exported) unless on() celery_worker_up offset 5m"));
    }

    /// <summary>Splits <c>label_values(selector, label)</c>.</summary>
    public static (string Selector, string Label) LabelValuesQuery(string query)
    {
        var m = Regex.Match(query, @"^\s*label_values\((.*),\s*(\w+)\s*\)\s*$");
        Assert.True(m.Success, $"not a label_values(selector, label) query: {query}");
        return (m.Groups[1].Value.Trim(), m.Groups[2].Value);
    }
}
