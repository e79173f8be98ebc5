using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using CeleryActors.Redis;

namespace CeleryActors.Tests.Fixtures;

/// <summary>
/// A real host node process (the built CeleryActors.Host), started with the given environment and stopped (and,
/// if need be, killed) on dispose, even when the test failed.
/// </summary>
public sealed class HostNodeProcess : IAsyncDisposable
{
    private static readonly ConcurrentDictionary<Process, byte> Running = new();
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    static HostNodeProcess()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            foreach (var p in Running.Keys)
                try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
        };
    }

    private HostNodeProcess(Process process, int metricsPort)
    {
        _process = process;
        MetricsPort = metricsPort;
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{metricsPort}"), Timeout = TimeSpan.FromSeconds(10) };
    }

    /// <summary>The node's metrics port.</summary>
    public int MetricsPort { get; }

    /// <summary>A client for the node's HTTP endpoints.</summary>
    public HttpClient Http { get; }

    /// <summary>What the node printed so far.</summary>
    public string Output
    {
        get { lock (_output) return _output.ToString(); }
    }

    /// <summary>The node's <c>METRICS_TOKEN</c>, if it has one: the fixture's own readiness polls carry it.</summary>
    public string? MetricsToken { get; private init; }

    /// <summary>The process, for exit codes.</summary>
    public Process Process => _process;

    /// <summary>The path of the host binary next to the tests.</summary>
    public static string HostDll => Path.Combine(AppContext.BaseDirectory, "CeleryActors.Host.dll");

    /// <summary>Starts a node without waiting for it (for start-up failure tests).</summary>
    public static HostNodeProcess Launch(IDictionary<string, string> environment, int? metricsPort = null)
    {
        var port = metricsPort ?? FreePort.Find();
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        info.ArgumentList.Add(HostDll);
        info.Environment["METRICS_HOST"] = "127.0.0.1";
        info.Environment["METRICS_PORT"] = port.ToString();
        info.Environment["CLUSTER_HOSTNAME"] = "127.0.0.1";
        info.Environment["CLUSTER_PORT"] = "0";
        info.Environment["DOTNET_ENVIRONMENT"] = "Production";
        foreach (var (key, value) in environment) info.Environment[key] = value;
        var process = new Process { StartInfo = info };
        var node = new HostNodeProcess(process, port)
        {
            MetricsToken = environment.TryGetValue("METRICS_TOKEN", out var token) && token.Length > 0 ? token : null,
        };
        process.OutputDataReceived += (_, e) => node.Append(e.Data);
        process.ErrorDataReceived += (_, e) => node.Append(e.Data);
        process.Start();
        Running[process] = 0;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return node;
    }

    /// <summary>Starts a node and waits until <c>/health/ready</c> answers 200.</summary>
    public static async Task<HostNodeProcess> StartAsync(IDictionary<string, string> environment, TimeSpan? timeout = null)
    {
        var node = Launch(environment);
        try
        {
            await node.WaitUntilReadyAsync(timeout ?? TimeSpan.FromSeconds(60));
            return node;
        }
        catch
        {
            await node.DisposeAsync();
            throw;
        }
    }

    /// <summary>Whether the node still runs (else its exit code) and the last <paramref name="lines"/> lines it
    /// printed: what a failed multi-node test shows of each node, so a node that went away says why.</summary>
    public string Describe(int lines = 60)
    {
        var state = _process.HasExited ? $"exited with {_process.ExitCode}" : "running";
        var printed = Output.Split('\n');
        return $"{state}; its last {Math.Min(lines, printed.Length)} lines:\n" + string.Join('\n', printed.TakeLast(lines));
    }

    /// <summary>Polls <c>/health/ready</c> until it answers 200.</summary>
    public async Task WaitUntilReadyAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
                throw new InvalidOperationException($"host node exited with {_process.ExitCode}:\n{Output}");
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, "/health/ready");
                if (MetricsToken is not null)
                    request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", MetricsToken);
                using var response = await Http.SendAsync(request);
                if (response.IsSuccessStatusCode) return;
            }
            catch (HttpRequestException) { /* not listening yet */ }
            await Task.Delay(100);
        }
        throw new TimeoutException($"host node not ready within {timeout}:\n{Output}");
    }

    /// <summary>Scrapes <c>/metrics</c> and parses it.</summary>
    public async Task<Support.MetricFamilies> ScrapeAsync()
    {
        var text = await Http.GetStringAsync("/metrics");
        return Support.PrometheusText.Parse(text);
    }

    /// <summary>GETs <paramref name="path"/> and parses its JSON body; fails unless the answer is 200.</summary>
    public async Task<System.Text.Json.JsonElement> GetJsonAsync(string path)
    {
        using var response = await Http.GetAsync(path);
        var body = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
        Xunit.Assert.True(response.StatusCode == System.Net.HttpStatusCode.OK, $"{path}: {(int)response.StatusCode} {body}");
        return body;
    }

    /// <summary>Waits for the process to exit by itself and returns its exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
        _process.WaitForExit(); // flushes the redirected output
        return _process.ExitCode;
    }

    /// <summary>Asks the node to stop (SIGTERM), then kills it if it does not.</summary>
    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        try
        {
            if (!_process.HasExited)
            {
                Process.Start("kill", ["-TERM", _process.Id.ToString()])?.WaitForExit();
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
                try { await _process.WaitForExitAsync(cts.Token); }
                catch (OperationCanceledException) { _process.Kill(entireProcessTree: true); }
            }
        }
        finally
        {
            Running.TryRemove(_process, out _);
            _process.Dispose();
        }
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (_output)
        {
            if (_output.Length > 200_000) _output.Remove(0, 100_000);
            _output.AppendLine(line);
        }
    }
}
