using System.Diagnostics;
using System.Text.Json;
using CeleryActors.Redis;

namespace CeleryActors.Tests.Fixtures;

/// <summary>
/// A real Prometheus (Debian's package) on a free loopback port, scraping the given targets every second with a
/// generated configuration; stopped and its data folder removed on dispose.
/// </summary>
public sealed class PrometheusProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _directory;

    private PrometheusProcess(Process process, string directory, int port)
    {
        _process = process;
        _directory = directory;
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(10) };
    }

    public HttpClient Http { get; }

    public static async Task<PrometheusProcess> StartAsync(params string[] targets)
    {
        var directory = Path.Combine(Path.GetTempPath(), "celeryactors-prom-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        var config = Path.Combine(directory, "prometheus.yml");
        await File.WriteAllTextAsync(config, $"""
            global:
              scrape_interval: 1s
              scrape_timeout: 900ms
            scrape_configs:
              - job_name: celery-metrics
                static_configs:
                  - targets: [{string.Join(", ", targets.Select(t => $"'{t}'"))}]
            """);
        var port = FreePort.Find();
        var info = new ProcessStartInfo("prometheus")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in new[]
                 {
                     $"--config.file={config}", $"--storage.tsdb.path={Path.Combine(directory, "data")}",
                     $"--web.listen-address=127.0.0.1:{port}", "--log.level=warn",
                 })
            info.ArgumentList.Add(arg);
        var process = Process.Start(info)!;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var prometheus = new PrometheusProcess(process, directory, port);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if ((await prometheus.Http.GetAsync("/-/ready")).IsSuccessStatusCode) return prometheus;
            }
            catch (HttpRequestException) { }
            await Task.Delay(100);
        }
        await prometheus.DisposeAsync();
        throw new TimeoutException("prometheus did not become ready");
    }

    /// <summary>Runs an instant query and returns the result vector's elements.</summary>
    public async Task<JsonElement[]> QueryAsync(string promql)
    {
        var json = await Http.GetStringAsync("/api/v1/query?query=" + Uri.EscapeDataString(promql));
        using var doc = JsonDocument.Parse(json);
        if (doc.RootElement.GetProperty("status").GetString() != "success")
            throw new InvalidOperationException($"query {promql} failed: {json}");
        return doc.RootElement.GetProperty("data").GetProperty("result").EnumerateArray().Select(e => e.Clone()).ToArray();
    }

    /// <summary>The metadata Prometheus holds for a metric family, as scraped from its targets.</summary>
    public async Task<string?> MetadataTypeAsync(string metric)
    {
        var json = await Http.GetStringAsync("/api/v1/metadata?metric=" + Uri.EscapeDataString(metric));
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.GetProperty("data").TryGetProperty(metric, out var entries)
            ? entries[0].GetProperty("type").GetString()
            : null;
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
        try { Directory.Delete(_directory, recursive: true); } catch (IOException) { }
    }
}
