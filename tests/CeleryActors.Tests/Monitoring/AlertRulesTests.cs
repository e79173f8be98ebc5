using Xunit;
using static CeleryActors.Tests.Monitoring.MonitoringAssets;

namespace CeleryActors.Tests.Monitoring;

/// <summary>The Prometheus configuration and alert rules, checked by promtool and against the metric contract.</summary>
public class AlertRulesTests
{
    private static readonly IReadOnlyList<AlertRule> Rules = ReadAlertRules(PathOf(AlertRulesPath));

    [Fact]
    public async Task Promtool_accepts_the_alert_rules()
    {
        var (code, output) = await PromtoolAsync(RepoRoot, "check", "rules", AlertRulesPath);
        Assert.True(code == 0, output);
        Assert.Contains($"SUCCESS: {Rules.Count} rules found", output);
    }

    [Fact]
    public async Task Promtool_accepts_the_prometheus_configuration_with_its_rule_files()
    {
        // promtool resolves rule_files and file_sd paths relative to the configuration: run it on the files
        // where they are, which is also the layout docker-compose.yml mounts into the container.
        var (code, output) = await PromtoolAsync(RepoRoot, "check", "config", PrometheusConfigPath);
        Assert.True(code == 0, output);
        Assert.Contains("SUCCESS: 1 rule files found", output);
        Assert.DoesNotContain("WARNING", output);
    }

    [Fact]
    public async Task Alerts_fire_as_their_promtool_unit_tests_expect()
    {
        var (code, output) = await PromtoolAsync(RepoRoot, "test", "rules", AlertRulesTestPath);
        Assert.True(code == 0, output);
        // Every alert is exercised by at least one case.
        var tests = await File.ReadAllTextAsync(PathOf(AlertRulesTestPath));
        foreach (var rule in Rules)
            Assert.True(tests.Contains($"alertname: {rule.Name}\n"), $"{rule.Name} has no promtool unit test");
    }

    [Fact]
    public void The_configuration_scrapes_the_compose_node_under_job_celery_metrics_and_loads_the_rules()
    {
        var config = File.ReadAllText(PathOf(PrometheusConfigPath));
        Assert.Contains("job_name: celery-metrics", config);
        Assert.Contains("'celery-metrics:9540'", config);
        Assert.Contains("- alerts/celery-alerts.yml", config);
        Assert.Matches(@"(?m)^\s*scrape_interval:\s*\d+s", config);
        Assert.Matches(@"(?m)^\s*evaluation_interval:\s*\d+s", config);
        Assert.Contains("file_sd_configs:", config);
    }

    [Fact]
    public void Operators_are_paged_for_worker_down_queue_growth_failure_rate_redis_and_scrape_failure()
    {
        static AlertRule Using(string metric) =>
            Rules.FirstOrDefault(r => MetricNames(r.Expr).Contains(metric))
            ?? throw new Xunit.Sdk.XunitException($"no alert uses {metric}");

        Assert.Contains("== 0", Using("celery_worker_up").Expr);
        Assert.Contains("deriv(celery_queue_length", Using("celery_queue_length").Expr);
        var failure = Using("celery_task_failed_total");
        Assert.Contains("celery_task_started_total", MetricNames(failure.Expr));
        Assert.Contains("by (queue, broker)", failure.Expr); // per queue, and per broker when there are several
        Assert.Contains("== 0", Using("celery_redis_connected").Expr);
        Assert.Contains(Rules, r => r.Expr.Replace(" ", "") == "up{job=\"celery-metrics\"}==0");
    }

    [Fact]
    public void Every_alert_has_a_for_a_severity_and_templated_summary_and_description()
    {
        Assert.NotEmpty(Rules);
        Assert.Equal(Rules.Count, Rules.Select(r => r.Name).Distinct().Count());
        foreach (var rule in Rules)
        {
            Assert.Matches(@"^\d+[smh]$", rule.For ?? "");
            Assert.Contains(rule.Labels.GetValueOrDefault("severity"), new[] { "critical", "warning" });
            Assert.False(string.IsNullOrWhiteSpace(rule.Annotations.GetValueOrDefault("summary")), $"{rule.Name}: no summary");
            Assert.False(string.IsNullOrWhiteSpace(rule.Annotations.GetValueOrDefault("description")), $"{rule.Name}: no description");
            // absent() has no labels to show; every other alert names what it is about.
            if (!rule.Expr.StartsWith("absent(", StringComparison.Ordinal))
                Assert.True(rule.Annotations.Values.Any(a => a.Contains("{{ $labels.") || a.Contains("{{$labels.")),
                    $"{rule.Name}: annotations name no label");
        }
    }

    [Fact]
    public void Every_alert_expression_uses_only_exported_metric_families()
    {
        foreach (var rule in Rules)
        {
            var metrics = MetricNames(rule.Expr);
            Assert.True(metrics.Count > 0, $"{rule.Name}: no metric in {rule.Expr}");
            foreach (var metric in metrics)
                Assert.True(metric == "up" || BySeriesName.ContainsKey(metric),
                    $"{rule.Name}: {metric} is neither exported by the node nor Prometheus's up ({rule.Expr})");
        }
    }
}
