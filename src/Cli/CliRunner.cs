using System.Globalization;
using System.Text;
using CeleryActors.Client;
using CeleryActors.Messages.Allocator;
using CeleryActors.Protocol;

namespace CeleryActors.Cli;

/// <summary>Runs one command line against the cluster and prints its answer: a table, or with <c>--json</c> the
/// JSON of the HTTP queries (<see cref="QueryJson"/>). Every failure is one line on stderr and an exit code of
/// <see cref="ExitCodes"/>.</summary>
public static class CliRunner
{
    /// <summary>Runs <paramref name="args"/>; returns the exit code.</summary>
    public static async Task<int> RunAsync(IReadOnlyList<string> args, string? environmentContacts, TextWriter stdout,
        TextWriter stderr)
    {
        if (args is ["--help"] or ["-h"])
        {
            await stdout.WriteLineAsync(CliArguments.Usage);
            return ExitCodes.Ok;
        }
        CliArguments parsed;
        try
        {
            parsed = CliArguments.Parse(args, environmentContacts);
        }
        catch (CliUsageException e)
        {
            await stderr.WriteLineAsync($"celeryactors: {e.Message} (--help for usage)");
            return ExitCodes.Usage;
        }

        // Akka's own logging stays off: stdout carries only the answer (JSON must parse), stderr only our one line.
        await using var client = CeleryActorsClient.Start(
            new CeleryActorsClientOptions { Contacts = parsed.Contacts, Timeout = parsed.Timeout }, logLevel: "OFF");
        try
        {
            return await RunAsync(parsed, client, stdout, stderr);
        }
        catch (CeleryActorsTimeoutException e)
        {
            await stderr.WriteLineAsync($"celeryactors: {e.Message}");
            return ExitCodes.NoReply;
        }
        catch (CeleryActorsGatewayException e)
        {
            await stderr.WriteLineAsync($"celeryactors: {e.Message}");
            return ExitCodes.ClusterFailed;
        }
        catch (Exception e)
        {
            await stderr.WriteLineAsync($"celeryactors: {e.GetType().Name}: {e.Message}");
            return ExitCodes.Unexpected;
        }
    }

    private static async Task<int> RunAsync(CliArguments a, CeleryActorsClient client, TextWriter stdout, TextWriter stderr)
    {
        switch (a.Kind)
        {
            case CliCommandKind.Publish:
            {
                var published = await client.PublishTaskAsync(a.Name!, a.TaskName!, a.Data, a.Priority, a.TaskId, a.Requires);
                await stdout.WriteLineAsync(a.Json
                    ? QueryJson.Serialize(new { queue = published.Queue, task_id = published.TaskId })
                    : $"published {published.TaskId} to {published.Queue}");
                return ExitCodes.Ok;
            }
            case CliCommandKind.Workers:
            {
                var workers = await client.GetWorkersAsync();
                await stdout.WriteLineAsync(a.Json ? QueryJson.Serialize(QueryJson.Workers(workers)) : Tables.Workers(workers));
                return ExitCodes.Ok;
            }
            case CliCommandKind.Queues:
            {
                var queues = await client.GetQueuesAsync();
                await stdout.WriteLineAsync(a.Json ? QueryJson.Serialize(QueryJson.Queues(queues)) : Tables.Queues(queues));
                return ExitCodes.Ok;
            }
            case CliCommandKind.Queue:
            {
                if (await client.GetQueueAsync(a.Name!) is not { } stats) return await NotFound(a, stderr);
                await stdout.WriteLineAsync(a.Json ? QueryJson.Serialize(QueryJson.Queue(stats)) : Tables.Queue(stats));
                return ExitCodes.Ok;
            }
            default:
            {
                if (await client.GetQueueHistoryAsync(a.Name!, a.Limit) is not { } history) return await NotFound(a, stderr);
                await stdout.WriteLineAsync(a.Json ? QueryJson.Serialize(QueryJson.History(history)) : Tables.History(history));
                return ExitCodes.Ok;
            }
        }
    }

    private static async Task<int> NotFound(CliArguments a, TextWriter stderr)
    {
        await stderr.WriteLineAsync($"celeryactors: no queue '{a.Name}'");
        return ExitCodes.NotFound;
    }
}

/// <summary>Human-readable tables: left-aligned columns two spaces apart.</summary>
internal static class Tables
{
    public static string Workers(IReadOnlyList<WorkerStatus> workers) => Table(
        ["WORKER", "ONLINE", "POOL", "UNFINISHED", "QUEUES", "CAPABILITIES", "LAST HEARTBEAT"],
        workers.Select(w => new[]
        {
            w.Worker, w.Online ? "yes" : "no", Num(w.PoolSize), Num(w.UnfinishedTasks), string.Join(",", w.Queues),
            string.Join(",", w.Capabilities.OrderBy(c => c.Key, StringComparer.Ordinal)
                .Select(c => $"{c.Key}={(c.Value.Number is { } n ? Num(n) : c.Value.Text)}")),
            Time(w.LastHeartbeat),
        }));

    public static string Queues(IReadOnlyList<QueueStats> queues) => Table(
        ["QUEUE", "PENDING", "CONSUMERS", "IN FLIGHT", "ACCEPTED", "ALLOCATED", "SUCCEEDED", "FAILED", "REQUEUED"],
        queues.Select(q => new[]
        {
            q.Queue, Num(q.Pending), Num(q.Consumers), Num(q.InFlight), Num(q.Accepted), Num(q.Allocated),
            Num(q.Succeeded), Num(q.Failed), Num(q.Requeued),
        }));

    public static string Queue(QueueStats q) => Table(["FIELD", "VALUE"], new[]
    {
        new[] { "queue", q.Queue },
        ["pending", Num(q.Pending)],
        ["pending by priority", string.Join(",", q.PendingByPriority.OrderByDescending(p => p.Key).Select(p => $"{p.Key}:{p.Value}"))],
        ["consumers", Num(q.Consumers)],
        ["in flight", Num(q.InFlight)],
        ["accepted", Num(q.Accepted)],
        ["allocated", Num(q.Allocated)],
        ["succeeded", Num(q.Succeeded)],
        ["failed", Num(q.Failed)],
        ["requeued", Num(q.Requeued)],
        ["duplicates", Num(q.Duplicates)],
        ["unwritten", Num(q.Unwritten)],
    });

    public static string History(QueueHistory h) => Table(
        ["SEQ", "EVENT", "TASK", "WORKER", "ATTEMPT", "AT", "DETAIL"],
        h.Entries.Select(e => new[]
        {
            Num(e.Sequence), e.Event, e.TaskId, e.Worker ?? "-", e.Attempt is { } n ? Num(n) : "-", Time(e.At), e.Detail ?? "",
        }));

    private static string Num(double n) => n.ToString(CultureInfo.InvariantCulture);

    private static string Time(double? unixSeconds) => unixSeconds is { } t
        ? DateTimeOffset.FromUnixTimeMilliseconds((long)(t * 1000)).UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture)
        : "-";

    private static string Table(string[] header, IEnumerable<string[]> rows)
    {
        var all = rows.Prepend(header).ToList();
        var widths = header.Select((_, i) => all.Max(r => r[i].Length)).ToArray();
        var text = new StringBuilder();
        foreach (var row in all)
            text.AppendLine(string.Join("  ", row.Select((cell, i) => i == row.Length - 1 ? cell : cell.PadRight(widths[i]))).TrimEnd());
        return text.ToString().TrimEnd('\n');
    }
}
