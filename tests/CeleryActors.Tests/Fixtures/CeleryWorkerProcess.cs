using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace CeleryActors.Tests.Fixtures;

/// <summary>
/// A real Celery worker (Debian's python3-celery) running <c>Celery/celery_app.py</c> with events on, against a
/// broker URL; stopped with a warm shutdown (SIGTERM) or killed on dispose, even when the test failed. Also runs
/// the app as a producer.
/// </summary>
public sealed class CeleryWorkerProcess : IAsyncDisposable
{
    /// <summary>Debian's interpreter, which has python3-celery (a pyenv python on PATH may not).</summary>
    public const string Python = "/usr/bin/python3";

    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private bool _disposed;

    private CeleryWorkerProcess(Process process, string name)
    {
        _process = process;
        Name = name;
    }

    /// <summary>The worker's node name as Celery reports it (<c>name@host</c>).</summary>
    public string Name { get; }

    public int ProcessId => _process.Id;

    public string Output
    {
        get { lock (_output) return _output.ToString(); }
    }

    private static string AppDirectory => AppContext.BaseDirectory;

    /// <summary>Starts a worker; returns once it is running (its banner says ready).</summary>
    public static async Task<CeleryWorkerProcess> StartAsync(string brokerUrl, string name, string queues,
        int concurrency, IDictionary<string, string>? environment = null)
    {
        var nodeName = $"{name}@{System.Net.Dns.GetHostName()}";
        var info = Info(brokerUrl, environment);
        foreach (var arg in new[]
                 {
                     "-m", "celery", "-A", "celery_app", "worker", "-E", "-Q", queues, "-c", concurrency.ToString(),
                     "-n", nodeName, "--without-mingle", "--without-gossip", "--pool", "prefork", "-l", "info",
                 })
            info.ArgumentList.Add(arg);
        var process = new Process { StartInfo = info };
        var worker = new CeleryWorkerProcess(process, nodeName);
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        DataReceivedEventHandler onLine = (_, e) =>
        {
            if (e.Data is null) return;
            lock (worker._output) worker._output.AppendLine(e.Data);
            if (e.Data.Contains(" ready.", StringComparison.Ordinal)) ready.TrySetResult();
        };
        process.OutputDataReceived += onLine;
        process.ErrorDataReceived += onLine;
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var finished = await Task.WhenAny(ready.Task, process.WaitForExitAsync(), Task.Delay(TimeSpan.FromSeconds(60)));
        if (finished != ready.Task)
        {
            await worker.DisposeAsync();
            throw new InvalidOperationException($"celery worker {nodeName} did not start:\n{worker.Output}");
        }
        return worker;
    }

    /// <summary>Sends tasks through Celery's own producer: (task name, args, options such as queue and priority).</summary>
    public static async Task SendAsync(string brokerUrl, IEnumerable<(string Task, object[] Args, object Options)> tasks,
        IDictionary<string, string>? environment = null)
    {
        var info = Info(brokerUrl, environment);
        info.ArgumentList.Add("celery_app.py");
        info.ArgumentList.Add(JsonSerializer.Serialize(tasks.Select(t => new object[] { t.Task, t.Args, t.Options })));
        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0) throw new InvalidOperationException($"producer failed: {await stderr}");
    }

    /// <summary>Kills the worker (and its pool processes) with SIGKILL: it sends no goodbye.</summary>
    public async Task KillAsync()
    {
        if (_process.HasExited) return;
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
    }

    /// <summary>Stops the worker; a second call does nothing.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        try
        {
            if (!_process.HasExited)
            {
                // Warm shutdown: the worker says worker-offline and waits for running tasks; long ones are killed below.
                Process.Start("kill", ["-TERM", _process.Id.ToString()])?.WaitForExit();
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                try { await _process.WaitForExitAsync(cts.Token); }
                catch (OperationCanceledException) { _process.Kill(entireProcessTree: true); await _process.WaitForExitAsync(); }
            }
        }
        finally
        {
            _process.Dispose();
        }
    }

    private static ProcessStartInfo Info(string brokerUrl, IDictionary<string, string>? environment)
    {
        var info = new ProcessStartInfo(Python)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = AppDirectory,
        };
        info.Environment["CELERY_BROKER_URL"] = brokerUrl;
        info.Environment["PYTHONDONTWRITEBYTECODE"] = "1";
        info.Environment["PYTHONUNBUFFERED"] = "1";
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) info.Environment[k] = v;
        return info;
    }
}
