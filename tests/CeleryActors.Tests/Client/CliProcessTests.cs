using System.Diagnostics;
using System.Text.Json;
using CeleryActors.Cli;
using CeleryActors.Redis;
using CeleryActors.Tests.Support;
using Xunit;

namespace CeleryActors.Tests.Client;

/// <summary>The built command-line tool, run as a process against a real host node.</summary>
[Collection(ClientNodesCollection.Name)]
public class CliProcessTests(ClientNodeFixture fixture)
{
    /// <summary>The CLI in its own build output (src/Cli/bin/CONFIG/TFM), with its own dependencies: the copy next
    /// to the tests would resolve them against the test's (ASP.NET) set and fail to load.</summary>
    private static readonly string CliDll = FindCli();

    private static string FindCli()
    {
        var tfm = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var configuration = tfm.Parent!.Name;
        for (var dir = tfm; dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "CeleryActors.sln")))
                return Path.Combine(dir.FullName, "src", "Cli", "bin", configuration, tfm.Name, "CeleryActors.Cli.dll");
        throw new FileNotFoundException("no CeleryActors.sln above " + AppContext.BaseDirectory);
    }

    private static async Task<(int Code, string Out, string Err)> Run(IDictionary<string, string>? env, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        info.ArgumentList.Add(CliDll);
        foreach (var arg in args) info.ArgumentList.Add(arg);
        info.Environment.Remove("CELERYACTORS_CONTACTS");
        foreach (var (k, v) in env ?? new Dictionary<string, string>()) info.Environment[k] = v;
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try { await process.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException) { process.Kill(entireProcessTree: true); throw; }
        return (process.ExitCode, (await stdout).Trim(), (await stderr).Trim());
    }

    private Task<(int Code, string Out, string Err)> Cli(params string[] args) =>
        Run(null, ["--contact", fixture.Contact, .. args]);

    [Fact]
    public async Task Each_command_answers_in_tables_and_in_the_same_json_as_the_http_queries()
    {
        var queue = "cli-" + Guid.NewGuid().ToString("N")[..6];
        var worker = "cli-worker-" + queue;
        await fixture.Client.RegisterWorkerAsync(worker, [queue + "-other"], poolSize: 3);

        var published = await Cli("publish", queue, "resize", "--data", """{"size":2}""", "--priority", "8", "--id", "c1",
            "--requires", "gpu=1");
        Assert.Equal((0, $"published c1 to {queue}", ""), published);
        var json = await Run(new Dictionary<string, string> { ["CELERYACTORS_CONTACTS"] = fixture.Contact },
            "--json", "publish", queue, "resize");
        Assert.Equal(0, json.Code);
        Assert.Equal(queue, JsonDocument.Parse(json.Out).RootElement.GetProperty("queue").GetString());

        await Eventually.Holds(async () => Assert.Equal(2, (await fixture.Client.GetQueueAsync(queue))!.Pending));
        var table = await Cli("queues");
        Assert.Equal(0, table.Code);
        Assert.StartsWith("QUEUE", table.Out);
        Assert.Contains(table.Out.Split('\n'), l => l.StartsWith(queue + " ") && l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1] == "2");
        var one = await Cli("queue", queue);
        Assert.Contains(one.Out.Split('\n'), l => l.StartsWith("pending by priority") && l.EndsWith("8:1,5:1"));
        var workers = await Cli("workers");
        Assert.Contains(workers.Out.Split('\n'), l => l.StartsWith(worker + " ") && l.Contains(" yes "));
        var history = await Cli("history", queue, "--limit", "1");
        Assert.Equal(2, history.Out.Split('\n').Length); // header and one event
        Assert.Contains("accepted", history.Out);

        // --json prints exactly what the HTTP query answers.
        foreach (var (args, path) in new[]
                 {
                     (new[] { "queue", queue }, $"/api/queues/{queue}"),
                     (["history", queue, "--limit", "5"], $"/api/queues/{queue}/history?limit=5"),
                     (["workers"], "/api/workers"),
                     (["queues"], "/api/queues"),
                 })
        {
            // Retried: the node is shared, and a worker of another test going offline between the two reads
            // changes the answer.
            await Eventually.Holds(async () =>
            {
                var cli = await Cli(["--json", .. args]);
                Assert.Equal(0, cli.Code);
                Assert.Equal(await fixture.Node.Http.GetStringAsync(path), cli.Out);
            }, TimeSpan.FromSeconds(10));
        }
    }

    [Fact]
    public async Task Errors_are_one_line_on_stderr_with_distinct_exit_codes()
    {
        var missing = await Cli("queue", "no-such-queue");
        Assert.Equal((ExitCodes.NotFound, "", "celeryactors: no queue 'no-such-queue'"), missing);
        var bad = await Cli("publish", "q");
        Assert.Equal((ExitCodes.Usage, ""), (bad.Code, bad.Out));
        Assert.Single(bad.Err.Split('\n'));
        Assert.Contains("publish wants QUEUE TASK_NAME", bad.Err);
        var unreachable = await Run(null, "--contact", $"127.0.0.1:{FreePort.Find()}", "--timeout", "1", "workers");
        Assert.Equal((ExitCodes.NoReply, ""), (unreachable.Code, unreachable.Out));
        Assert.Single(unreachable.Err.Split('\n'));
        Assert.Contains("no reply from the cluster within 1 s", unreachable.Err);
    }
}
