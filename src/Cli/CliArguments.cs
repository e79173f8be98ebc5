using System.Globalization;
using CeleryActors.Client;
using CeleryActors.Messages.Allocator;

namespace CeleryActors.Cli;

/// <summary>The tool's commands.</summary>
public enum CliCommandKind
{
    /// <summary><c>publish QUEUE TASK_NAME</c>.</summary>
    Publish,

    /// <summary><c>workers</c>.</summary>
    Workers,

    /// <summary><c>queues</c>.</summary>
    Queues,

    /// <summary><c>queue NAME</c>.</summary>
    Queue,

    /// <summary><c>history NAME</c>.</summary>
    History,
}

/// <summary>Arguments the tool could not make sense of; the message is the one line it prints.</summary>
public sealed class CliUsageException(string message) : Exception(message);

/// <summary>A parsed command line.</summary>
/// <param name="Kind">The command.</param>
/// <param name="Contacts">The contacts (from <c>--contact</c>, else <c>CELERYACTORS_CONTACTS</c>).</param>
/// <param name="Json">Whether to print JSON.</param>
/// <param name="Timeout">How long a call may take.</param>
/// <param name="Name">The queue (publish, queue, history).</param>
/// <param name="TaskName">The task's name (publish).</param>
/// <param name="Data">The task data as JSON text (publish), or null.</param>
/// <param name="Priority">The priority (publish).</param>
/// <param name="TaskId">The task id (publish), or null to generate one.</param>
/// <param name="Requires">Capability requirements (publish).</param>
/// <param name="Limit">History entries (history).</param>
public sealed record CliArguments(
    CliCommandKind Kind,
    IReadOnlyList<string> Contacts,
    bool Json,
    TimeSpan Timeout,
    string? Name = null,
    string? TaskName = null,
    string? Data = null,
    int Priority = 5,
    string? TaskId = null,
    IReadOnlyDictionary<string, CapabilityValue>? Requires = null,
    int Limit = 50)
{
    /// <summary>The usage text.</summary>
    public const string Usage = """
        usage: celeryactors [--contact HOST:PORT]... [--json] [--timeout SECONDS] COMMAND
          publish QUEUE TASK_NAME [--data JSON] [--priority 0-9] [--id TASK_ID] [--requires NAME=VALUE]...
          workers
          queues
          queue NAME
          history NAME [--limit N]
        contacts may also come from CELERYACTORS_CONTACTS (comma-separated HOST:PORT)
        """;

    /// <summary>
    /// Parses a command line; <paramref name="environmentContacts"/> is the value of <c>CELERYACTORS_CONTACTS</c>,
    /// used when no <c>--contact</c> is given. Throws <see cref="CliUsageException"/> saying what is wrong.
    /// </summary>
    public static CliArguments Parse(IReadOnlyList<string> args, string? environmentContacts)
    {
        var contacts = new List<string>();
        var positional = new List<string>();
        var requires = new Dictionary<string, CapabilityValue>(StringComparer.Ordinal);
        var json = false;
        var timeout = TimeSpan.FromSeconds(10);
        string? data = null, taskId = null;
        int? priority = null, limit = null;

        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            switch (arg)
            {
                case "--json": json = true; break;
                case "--contact": contacts.AddRange(CeleryActorsClientOptions.SplitContacts(Value(args, ref i))); break;
                case "--timeout": timeout = TimeSpan.FromSeconds(Number(arg, Value(args, ref i), 0.001, 3600)); break;
                case "--data": data = Value(args, ref i); break;
                case "--priority": priority = (int)Number(arg, Value(args, ref i), 0, 9, integer: true); break;
                case "--id": taskId = Value(args, ref i); break;
                case "--limit": limit = (int)Number(arg, Value(args, ref i), 0, 1_000, integer: true); break;
                case "--requires":
                {
                    var pair = Value(args, ref i);
                    var eq = pair.IndexOf('=');
                    if (eq <= 0) throw new CliUsageException($"--requires wants NAME=VALUE, not '{pair}'");
                    var value = pair[(eq + 1)..];
                    requires[pair[..eq]] = double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var n)
                        ? CapabilityValue.Of(n)
                        : CapabilityValue.Of(value);
                    break;
                }
                default:
                    if (arg.StartsWith("--", StringComparison.Ordinal)) throw new CliUsageException($"unknown option {arg}");
                    positional.Add(arg);
                    break;
            }
        }

        if (contacts.Count == 0) contacts.AddRange(CeleryActorsClientOptions.SplitContacts(environmentContacts));
        if (contacts.Count == 0)
            throw new CliUsageException($"no contact: give --contact HOST:PORT or set {CeleryActorsClientOptions.ContactsVariable}");
        foreach (var contact in contacts)
        {
            try { CeleryActorsClientOptions.ReceptionistPath(contact); }
            catch (ArgumentException e) { throw new CliUsageException(e.Message.Split(" (Parameter")[0]); }
        }
        if (positional.Count == 0) throw new CliUsageException("no command: publish, workers, queues, queue or history");

        var command = positional[0];
        var operands = positional.Skip(1).ToList();
        CliArguments result;
        switch (command)
        {
            case "publish":
            {
                var p = Expect(command, operands, 2, "QUEUE TASK_NAME");
                result = new CliArguments(CliCommandKind.Publish, contacts, json, timeout, p[0], p[1]);
                break;
            }
            case "workers":
                Expect(command, operands, 0, "");
                result = new CliArguments(CliCommandKind.Workers, contacts, json, timeout);
                break;
            case "queues":
                Expect(command, operands, 0, "");
                result = new CliArguments(CliCommandKind.Queues, contacts, json, timeout);
                break;
            case "queue":
                result = new CliArguments(CliCommandKind.Queue, contacts, json, timeout, Expect(command, operands, 1, "NAME")[0]);
                break;
            case "history":
                result = new CliArguments(CliCommandKind.History, contacts, json, timeout, Expect(command, operands, 1, "NAME")[0]);
                break;
            default:
                throw new CliUsageException($"unknown command '{command}'");
        }
        if (result.Kind != CliCommandKind.Publish && (data, priority, taskId, requires.Count) != (null, null, null, 0))
            throw new CliUsageException("--data, --priority, --id and --requires go with publish only");
        if (result.Kind != CliCommandKind.History && limit is not null)
            throw new CliUsageException("--limit goes with history only");
        if (data is not null)
        {
            try { System.Text.Json.JsonDocument.Parse(data).Dispose(); }
            catch (System.Text.Json.JsonException) { throw new CliUsageException($"--data is not JSON: {data}"); }
        }
        return result with
        {
            Data = data, Priority = priority ?? 5, TaskId = taskId, Requires = requires.Count > 0 ? requires : null,
            Limit = limit ?? 50,
        };
    }

    private static string Value(IReadOnlyList<string> args, ref int i) =>
        ++i < args.Count ? args[i] : throw new CliUsageException($"{args[i - 1]} needs a value");

    private static double Number(string option, string text, double min, double max, bool integer = false)
    {
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) || n < min || n > max
            || (integer && n != Math.Floor(n)))
            throw new CliUsageException($"{option} wants {(integer ? "an integer" : "a number")} from {min} to {max}, not '{text}'");
        return n;
    }

    private static List<string> Expect(string command, List<string> operands, int count, string shape) =>
        operands.Count == count
            ? operands
            : throw new CliUsageException(count == 0
                ? $"{command} takes no operands, got '{string.Join(" ", operands)}'"
                : $"{command} wants {shape}");
}
