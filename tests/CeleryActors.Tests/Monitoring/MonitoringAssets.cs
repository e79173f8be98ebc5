using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace CeleryActors.Tests.Monitoring;

/// <summary>A metric family the host node exports: its name as queried, its type and its labels.</summary>
public sealed record ExportedFamily(string Name, string Type, params string[] Labels)
{
    /// <summary>The series names PromQL may select for this family.</summary>
    public IEnumerable<string> SeriesNames => Type == "histogram"
        ? [Name + "_bucket", Name + "_sum", Name + "_count"]
        : [Name];
}

/// <summary>
/// The monitoring assets under test (found from the repository root), the metric families they may use, and
/// the small PromQL and YAML readers the tests need.
/// </summary>
public static partial class MonitoringAssets
{
    /// <summary>The label every family the Celery monitor writes carries when the node watches several brokers
    /// (<c>CELERY_BROKERS</c>); absent with one.</summary>
    public const string Broker = "broker";

    /// <summary>The label of the worker and queue gauges both the Celery monitor and the allocator write.</summary>
    public const string Source = "source";

    /// <summary>
    /// SPEC §3 plus the extra families of the host node (README "Metrics"). Dashboards and alerts may use only
    /// these; a family the node adds later goes here when it lands.
    /// </summary>
    public static readonly ExportedFamily[] Families =
    [
        new("celery_task_started_total", "counter", "task_name", "queue", Broker),
        new("celery_task_succeeded_total", "counter", "task_name", "queue", Broker),
        new("celery_task_failed_total", "counter", "task_name", "queue", "exception", Broker),
        new("celery_task_duration_seconds", "histogram", "task_name", "queue", Broker),
        new("celery_worker_active_tasks", "gauge", "worker", Broker, Source),
        new("celery_worker_pool_size", "gauge", "worker", Broker, Source),
        new("celery_worker_reserved_tasks", "gauge", "worker", Broker, Source),
        new("celery_worker_up", "gauge", "worker", Broker, Source),
        new("celery_queue_length", "gauge", "queue", Broker, Source),
        new("celery_queue_consumers", "gauge", "queue", Broker, Source),
        new("celery_redis_pubsub_messages_total", "counter", "channel", "message_type", Broker),
        new("celery_redis_pubsub_latency_seconds", "histogram", "channel", Broker),
        new("celery_task_allocation_total", "counter", "queue", "worker"),
        new("celery_task_allocation_duration_seconds", "histogram", "queue"),
        new("celery_messages_rejected_total", "counter", "channel_kind", "reason", Broker),
        new("celery_redis_connected", "gauge"),
        new("celery_redis_resubscriptions_total", "counter"),
        new("celery_observations_dropped_total", "counter"),
        new("celery_label_values_overflowed_total", "counter", "label"),
        new("celery_queue_length_by_priority", "gauge", "queue", "priority", Broker),
        new("celery_queue_oldest_task_age_seconds", "gauge", "queue", Broker),
        new("celery_queue_unacked", "gauge", "queue", Broker),
        new("celery_task_retried_total", "counter", "task_name", "queue", Broker),
        new("celery_events_lost_total", "counter", "worker", Broker),
        new("celery_task_memory_misses_total", "counter", Broker),
        new("celery_broker_resubscriptions_total", "counter", Broker),
        new("celery_remote_control_missing_replies_total", "counter", "method", Broker),
        new("celery_task_sent_total", "counter", "task_name", "queue", Broker),
        new("celery_task_received_total", "counter", "task_name", "queue", Broker),
        new("celery_task_revoked_total", "counter", "task_name", "queue", Broker),
        new("celery_task_rejected_total", "counter", "task_name", "queue", Broker),
        new("celery_task_queue_wait_seconds", "histogram", "task_name", "queue", Broker),
        new("celery_broker_up", "gauge", Broker),
        new("celery_metric_series_overflowed_total", "counter", "metric"),
        new("celery_metric_series", "gauge", "metric"),
        new("celery_redis_pubsub_dropped_total", "counter", "subscription", Broker),
        new("celery_task_requeued_total", "counter", "queue"),
        new("celery_task_duplicates_total", "counter", "queue"),
        new("celery_task_reports_ignored_total", "counter", "reason"),
        new("celery_task_stream_length", "gauge", "queue"),
        new("celery_journal_write_seconds", "histogram"),
    ];

    /// <summary>Series name → family, for every name PromQL may select.</summary>
    public static readonly IReadOnlyDictionary<string, ExportedFamily> BySeriesName =
        Families.SelectMany(f => f.SeriesNames.Select(n => (n, f))).ToDictionary(p => p.n, p => p.f);

    private static readonly Lazy<string> Root = new(() =>
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "CeleryActors.sln"))) return dir.FullName;
        throw new DirectoryNotFoundException($"no CeleryActors.sln above {AppContext.BaseDirectory}");
    });

    public static string RepoRoot => Root.Value;

    public static string PathOf(string relative) => Path.Combine(RepoRoot, relative);

    public const string DashboardPath = "monitoring/grafana/dashboards/celery-workers.json";
    public const string TasksDashboardPath = "monitoring/grafana/dashboards/celery-tasks-by-name.json";
    public const string PrometheusConfigPath = "monitoring/prometheus-hybrid.yml";
    public const string AlertRulesPath = "monitoring/alerts/celery-alerts.yml";
    public const string AlertRulesTestPath = "monitoring/alerts/celery-alerts.test.yml";

    public static JsonDocument LoadDashboard(string path = DashboardPath) => JsonDocument.Parse(File.ReadAllText(PathOf(path)));

    /// <summary>One query of a dashboard panel.</summary>
    public sealed record PanelTarget(int PanelId, string PanelTitle, string RefId, string Expr, string Legend, JsonElement Datasource);

    public static IReadOnlyList<PanelTarget> Targets(JsonDocument dashboard) =>
        dashboard.RootElement.GetProperty("panels").EnumerateArray()
            .SelectMany(p => p.GetProperty("targets").EnumerateArray().Select(t => new PanelTarget(
                p.GetProperty("id").GetInt32(), p.GetProperty("title").GetString()!,
                t.GetProperty("refId").GetString()!, t.GetProperty("expr").GetString()!,
                t.TryGetProperty("legendFormat", out var l) ? l.GetString() ?? "" : "",
                t.GetProperty("datasource").Clone())))
            .ToList();

    /// <summary>A template variable by name.</summary>
    public static JsonElement Variable(JsonDocument dashboard, string name) =>
        dashboard.RootElement.GetProperty("templating").GetProperty("list").EnumerateArray()
            .Single(v => v.GetProperty("name").GetString() == name);

    /// <summary>The query text of a query variable (Grafana stores it as a string or as {query: ...}).</summary>
    public static string VariableQuery(JsonElement variable)
    {
        var q = variable.GetProperty("query");
        return q.ValueKind == JsonValueKind.String ? q.GetString()! : q.GetProperty("query").GetString()!;
    }

    /// <summary>
    /// Grafana's macros replaced by what Grafana would put there: every filter variable set to All (.*), the rate
    /// interval to a minute (four times the compose scrape interval, as Grafana computes it).
    /// </summary>
    public static string ExpandGrafanaMacros(string expr) => expr
        .Replace("$queue", ".*").Replace("${queue}", ".*")
        .Replace("$worker", ".*").Replace("${worker}", ".*")
        .Replace("$task_name", ".*").Replace("${task_name}", ".*")
        .Replace("$broker", ".*").Replace("${broker}", ".*")
        .Replace("$__rate_interval", "1m").Replace("$__interval", "15s").Replace("$__range", "5m");

    private static readonly HashSet<string> Keywords =
        ["and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right",
         "inf", "nan", "atan2"];

    [GeneratedRegex("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`")]
    private static partial Regex StringLiteral();

    [GeneratedRegex(@"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")]
    private static partial Regex GroupingClause();

    [GeneratedRegex(@"\{[^}]*\}|\[[^\]]*\]")]
    private static partial Regex MatchersAndRanges();

    [GeneratedRegex(@"(?<![\w$.:])[a-zA-Z_:][a-zA-Z0-9_:]*(?![\w:])(?!\s*\()")]
    private static partial Regex Identifier();

    [GeneratedRegex("__name__\\s*=~?\\s*\"([^\"]*)\"")]
    private static partial Regex NameMatcher();

    /// <summary>
    /// The metric (series) names a PromQL expression selects: identifiers that are not functions, aggregation or
    /// set keywords, grouping labels, label matchers, durations or strings; plus names in __name__ matchers
    /// (alternatives of a regex matcher are returned one by one).
    /// </summary>
    public static IReadOnlyList<string> MetricNames(string expr)
    {
        var names = new List<string>();
        foreach (Match m in NameMatcher().Matches(expr)) names.AddRange(m.Groups[1].Value.Split('|'));
        var stripped = StringLiteral().Replace(expr, "\"\"");
        stripped = MatchersAndRanges().Replace(stripped, " ");
        stripped = GroupingClause().Replace(stripped, " ");
        names.AddRange(Identifier().Matches(stripped).Select(m => m.Value).Where(v => !Keywords.Contains(v.ToLowerInvariant())));
        return names.Distinct().ToList();
    }

    /// <summary>An alerting rule as written in the rules file.</summary>
    public sealed record AlertRule(string Name, string Expr, string? For, IReadOnlyDictionary<string, string> Labels,
        IReadOnlyDictionary<string, string> Annotations);

    /// <summary>
    /// Reads the alerting rules of a Prometheus rules file: enough YAML for the file's shape (alert, expr as a plain
    /// or block scalar, for, and the labels and annotations maps, each value on one line or folded).
    /// </summary>
    public static IReadOnlyList<AlertRule> ReadAlertRules(string path)
    {
        var lines = File.ReadAllLines(path);
        var rules = new List<AlertRule>();
        string? name = null, expr = null, @for = null;
        Dictionary<string, string> labels = [], annotations = [];
        Dictionary<string, string>? map = null;
        var mapIndent = -1;

        void Flush()
        {
            if (name is not null) rules.Add(new AlertRule(name, expr ?? "", @for, labels, annotations));
            name = expr = @for = null;
            labels = [];
            annotations = [];
            map = null;
        }

        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            var trimmed = line.Trim();
            if (trimmed.Length == 0 || trimmed.StartsWith('#')) continue;
            var indent = line.Length - line.TrimStart().Length;
            if (trimmed.StartsWith("- alert:", StringComparison.Ordinal) || trimmed.StartsWith("- record:", StringComparison.Ordinal))
            {
                Flush();
                if (trimmed.StartsWith("- alert:", StringComparison.Ordinal)) name = Unquote(trimmed["- alert:".Length..]);
                continue;
            }
            if (name is null) continue;
            if (map is not null && indent <= mapIndent) map = null;
            var colon = trimmed.IndexOf(':');
            if (colon < 0) continue;
            var key = trimmed[..colon];
            var value = trimmed[(colon + 1)..].Trim();
            if (value is ">-" or ">" or "|" or "|-")
            {
                var block = new List<string>();
                while (i + 1 < lines.Length &&
                       (lines[i + 1].Trim().Length == 0 || lines[i + 1].Length - lines[i + 1].TrimStart().Length > indent))
                    block.Add(lines[++i].Trim());
                value = string.Join(value.StartsWith('|') ? "\n" : " ", block.Where(b => b.Length > 0));
            }
            else value = Unquote(value);

            if (map is not null) { map[key] = value; continue; }
            switch (key)
            {
                case "expr": expr = value; break;
                case "for": @for = value; break;
                case "labels": map = labels; mapIndent = indent; break;
                case "annotations": map = annotations; mapIndent = indent; break;
            }
        }
        Flush();
        return rules;
    }

    private static string Unquote(string s)
    {
        s = s.Trim();
        return s.Length >= 2 && (s[0] == '"' && s[^1] == '"' || s[0] == '\'' && s[^1] == '\'') ? s[1..^1] : s;
    }

    /// <summary>Runs promtool (Debian's package, next to prometheus) and returns its exit code and output.</summary>
    public static async Task<(int ExitCode, string Output)> PromtoolAsync(string workingDirectory, params string[] args)
    {
        var info = new ProcessStartInfo("promtool")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory,
        };
        foreach (var a in args) info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try { await process.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"promtool {string.Join(' ', args)} did not finish in 30 s");
        }
        var output = new StringBuilder().Append(await stdout).Append(await stderr).ToString();
        return (process.ExitCode, output);
    }
}
