using System.Text.RegularExpressions;
using Xunit;
using static CeleryActors.Tests.Monitoring.MonitoringAssets;

namespace CeleryActors.Tests.Monitoring;

/// <summary>
/// No Docker engine runs where the tests run, so docker-compose.yml and the Dockerfile are checked by reading them:
/// the services and settings the SPEC names, and that everything they mount or copy exists in the repository.
/// </summary>
public class ComposeTests
{
    private static readonly string Compose = File.ReadAllText(PathOf("docker-compose.yml"));
    private static readonly string Dockerfile = File.ReadAllText(PathOf("Dockerfile"));

    /// <summary>The block of one service: its lines up to the next top-level service key.</summary>
    private static string Service(string name)
    {
        var m = Regex.Match(Compose, $@"(?ms)^  {Regex.Escape(name)}:\n(.*?)(?=^  \S|^\S|\z)");
        Assert.True(m.Success, $"no service {name}");
        return m.Groups[1].Value;
    }

    [Fact]
    public void Compose_runs_redis_the_node_prometheus_and_grafana_on_3001()
    {
        Assert.Matches(@"image:\s*redis:7", Service("redis"));
        var node = Service("celery-metrics");
        Assert.Contains($"REDIS_URL: redis://redis:{CeleryActors.Redis.RedisUrl.DefaultPort}/0", node);
        Assert.Contains($"CELERY_BROKER_URL: redis://redis:{CeleryActors.Redis.RedisUrl.DefaultPort}/0", node);
        Assert.Matches("METRICS_PORT: \"?9540\"?", node);
        Assert.Contains("CLUSTER_HOSTNAME: celery-metrics", node);
        Assert.Contains("dockerfile: Dockerfile", node);
        Assert.Contains("./monitoring/prometheus-hybrid.yml:/etc/prometheus/prometheus.yml", Service("prometheus"));
        Assert.Matches(@"image:\s*prom/prometheus", Service("prometheus"));
        var grafana = Service("grafana");
        Assert.Matches(@"image:\s*grafana/grafana", grafana);
        Assert.Contains("\"3001:3000\"", grafana);
    }

    [Fact]
    public void Every_bind_mount_of_compose_exists_in_the_repository()
    {
        var mounts = Regex.Matches(Compose, @"(?m)^\s*-\s*\./(\S+?):(/\S+?)(?::ro)?\s*$").ToList();
        Assert.NotEmpty(mounts);
        foreach (var m in mounts)
        {
            var path = PathOf(m.Groups[1].Value);
            Assert.True(File.Exists(path) || Directory.Exists(path), $"compose mounts ./{m.Groups[1].Value}, which does not exist");
        }
        // Grafana reads its provisioning from the mounted folder and the dashboards from where the provider points.
        var provider = File.ReadAllText(PathOf("monitoring/grafana/provisioning/dashboards/dashboards.yml"));
        Assert.Contains("folder: Infrastructure", provider);
        var providerPath = Regex.Match(provider, @"path:\s*(\S+)").Groups[1].Value;
        Assert.Contains($"./monitoring/grafana/dashboards:{providerPath}", Compose);
        var datasource = File.ReadAllText(PathOf("monitoring/grafana/provisioning/datasources/prometheus.yml"));
        Assert.Contains("type: prometheus", datasource);
        Assert.Contains("url: http://prometheus:9090", datasource);
    }

    [Fact]
    public void Dockerfile_builds_the_host_with_the_sdk_and_runs_it_on_the_aspnet_runtime()
    {
        Assert.Matches(@"(?m)^FROM \S+/dotnet/sdk:10\.0 AS build", Dockerfile);
        Assert.Matches(@"(?m)^FROM \S+/dotnet/aspnet:10\.0\s*$", Dockerfile);
        Assert.Contains("dotnet publish src/Host/Host.csproj", Dockerfile);
        Assert.Contains("\"CeleryActors.Host.dll\"", Dockerfile);
        foreach (Match m in Regex.Matches(Dockerfile, @"(?m)^COPY (?!--from)(.+) \S+$"))
            foreach (var source in m.Groups[1].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                Assert.True(File.Exists(PathOf(source)) || Directory.Exists(PathOf(source)), $"Dockerfile copies {source}, which does not exist");
        var ignore = File.ReadAllText(PathOf(".dockerignore"));
        foreach (var needed in new[] { "src", "hocon", "global.json", "Directory.Build.props", "Directory.Packages.props" })
            Assert.DoesNotMatch($@"(?m)^/?{Regex.Escape(needed)}/?\s*$", ignore);
    }
}
