using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace CeleryActors.Host.Logging;

/// <summary>
/// The node's console format: one line per entry (time, level, category, message), with every control or
/// line-breaking character of the message written as <c>\uXXXX</c>. Log lines carry names from outside (workers,
/// queues, task ids, Celery hostnames): a <c>\r</c>, an ANSI escape or a U+2028 in one must not rewrite the terminal
/// or forge a line. An exception follows on lines of its own, indented and escaped the same way.
/// </summary>
public sealed class EscapingConsoleFormatter(IOptionsMonitor<ConsoleFormatterOptions> options)
    : ConsoleFormatter(FormatterName)
{
    /// <summary>The formatter's name in logging configuration.</summary>
    public const string FormatterName = "celeryactors";

    /// <inheritdoc />
    public override void Write<TState>(in LogEntry<TState> logEntry, IExternalScopeProvider? scopeProvider, TextWriter textWriter)
    {
        var message = logEntry.Formatter(logEntry.State, logEntry.Exception);
        if (string.IsNullOrEmpty(message) && logEntry.Exception is null) return;
        var line = new StringBuilder();
        if (options.CurrentValue.TimestampFormat is { } format)
            line.Append((options.CurrentValue.UseUtcTimestamp ? DateTimeOffset.UtcNow : DateTimeOffset.Now)
                .ToString(format, CultureInfo.InvariantCulture));
        line.Append(Level(logEntry.LogLevel)).Append(": ").Append(logEntry.Category).Append(' ');
        LogText.AppendEscaped(line, message);
        textWriter.WriteLine(line.ToString());
        if (logEntry.Exception is not { } exception) return;
        foreach (var part in exception.ToString().Split('\n'))
        {
            line.Clear().Append("    ");
            LogText.AppendEscaped(line, part.TrimEnd('\r'));
            textWriter.WriteLine(line.ToString());
        }
    }

    private static string Level(LogLevel level) => level switch
    {
        LogLevel.Trace => "trce",
        LogLevel.Debug => "dbug",
        LogLevel.Information => "info",
        LogLevel.Warning => "warn",
        LogLevel.Error => "fail",
        LogLevel.Critical => "crit",
        _ => "none",
    };
}

/// <summary>Escaping of outside text for log lines.</summary>
public static class LogText
{
    /// <summary>Appends <paramref name="text"/> with control, line-separator and bidirectional-override characters
    /// written as <c>\uXXXX</c>.</summary>
    public static void AppendEscaped(StringBuilder to, string text)
    {
        foreach (var c in text)
        {
            if (NeedsEscape(c)) to.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
            else to.Append(c);
        }
    }

    /// <summary><paramref name="text"/> escaped as <see cref="AppendEscaped"/> does.</summary>
    public static string Escape(string text)
    {
        var builder = new StringBuilder(text.Length);
        AppendEscaped(builder, text);
        return builder.ToString();
    }

    private static bool NeedsEscape(char c) =>
        char.IsControl(c) // C0, DEL and C1, among them \r, \n, ESC and U+0085
        || c is '\u2028' or '\u2029' // line and paragraph separators
        || c is >= '\u202a' and <= '\u202e' or >= '\u2066' and <= '\u2069'; // bidirectional overrides and isolates
}
