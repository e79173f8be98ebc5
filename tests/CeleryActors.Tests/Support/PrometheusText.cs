using System.Globalization;
using System.Text;

namespace CeleryActors.Tests.Support;

/// <summary>One sample line: name, labels, value.</summary>
public sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value)
{
    public bool Has(params (string Name, string Value)[] labels) =>
        labels.All(l => Labels.TryGetValue(l.Name, out var v) && v == l.Value);
}

/// <summary>One metric family: its TYPE, HELP and samples.</summary>
public sealed class MetricFamily(string name)
{
    public string Name { get; } = name;
    public string? Type { get; set; }
    public string? Help { get; set; }
    public List<Sample> Samples { get; } = [];
}

/// <summary>A parsed exposition.</summary>
public sealed class MetricFamilies(Dictionary<string, MetricFamily> families)
{
    public IReadOnlyDictionary<string, MetricFamily> Families => families;

    public MetricFamily this[string name] =>
        families.TryGetValue(name, out var f) ? f : throw new KeyNotFoundException($"no metric family {name}");

    /// <summary>Every sample with this exact sample name.</summary>
    public IEnumerable<Sample> Samples(string sampleName) =>
        families.Values.SelectMany(f => f.Samples).Where(s => s.Name == sampleName);

    /// <summary>The value of the one sample with this name and labels; 0 when absent.</summary>
    public double Value(string sampleName, params (string Name, string Value)[] labels)
    {
        var matches = Samples(sampleName).Where(s => s.Has(labels)).ToList();
        return matches.Count switch
        {
            0 => 0,
            1 => matches[0].Value,
            _ => throw new InvalidOperationException($"{matches.Count} samples of {sampleName} match"),
        };
    }

    /// <summary>The sum over every sample with this name and these labels.</summary>
    public double Sum(string sampleName, params (string Name, string Value)[] labels) =>
        Samples(sampleName).Where(s => s.Has(labels)).Sum(s => s.Value);
}

/// <summary>
/// A parser of the Prometheus text exposition format (and the OpenMetrics text format's subset the node
/// emits): HELP and TYPE lines, samples with escaped label values, optional timestamps.
/// </summary>
public static class PrometheusText
{
    private static readonly string[] Suffixes = ["_bucket", "_sum", "_count", "_total", "_created"];

    public static MetricFamilies Parse(string text)
    {
        var families = new Dictionary<string, MetricFamily>(StringComparer.Ordinal);
        MetricFamily Family(string name) =>
            families.TryGetValue(name, out var f) ? f : families[name] = new MetricFamily(name);

        var lineNo = 0;
        foreach (var raw in text.Split('\n'))
        {
            lineNo++;
            var line = raw.TrimEnd('\r');
            if (line.Length == 0 || line == "# EOF") continue;
            if (line.StartsWith("# HELP ", StringComparison.Ordinal) || line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                var rest = line[7..];
                var space = rest.IndexOf(' ');
                var name = space < 0 ? rest : rest[..space];
                var value = space < 0 ? "" : rest[(space + 1)..];
                if (line[2] == 'H') Family(name).Help = value;
                else Family(name).Type = value;
                continue;
            }
            if (line.StartsWith('#')) continue;
            var sample = ParseSample(line, lineNo);
            Family(FamilyOf(sample.Name, families)).Samples.Add(sample);
        }
        return new MetricFamilies(families);
    }

    private static string FamilyOf(string sampleName, Dictionary<string, MetricFamily> families)
    {
        if (families.ContainsKey(sampleName)) return sampleName;
        foreach (var suffix in Suffixes)
            if (sampleName.EndsWith(suffix, StringComparison.Ordinal) &&
                families.ContainsKey(sampleName[..^suffix.Length]))
                return sampleName[..^suffix.Length];
        return sampleName;
    }

    private static Sample ParseSample(string line, int lineNo)
    {
        var i = 0;
        while (i < line.Length && line[i] != '{' && line[i] != ' ') i++;
        var name = line[..i];
        if (name.Length == 0) throw new FormatException($"line {lineNo}: no metric name");
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        if (i < line.Length && line[i] == '{')
        {
            i++;
            while (line[i] != '}')
            {
                var eq = line.IndexOf('=', i);
                var labelName = line[i..eq].Trim();
                if (line[eq + 1] != '"') throw new FormatException($"line {lineNo}: label value not quoted");
                var value = new StringBuilder();
                var j = eq + 2;
                for (; line[j] != '"'; j++)
                {
                    if (line[j] == '\\')
                    {
                        j++;
                        value.Append(line[j] switch { 'n' => '\n', '\\' => '\\', '"' => '"', _ => throw new FormatException($"line {lineNo}: bad escape") });
                    }
                    else value.Append(line[j]);
                }
                labels[labelName] = value.ToString();
                i = j + 1;
                if (line[i] == ',') i++;
            }
            i++;
        }
        var parts = line[i..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length is < 1 or > 2) throw new FormatException($"line {lineNo}: expected a value and an optional timestamp");
        var number = parts[0] switch
        {
            "+Inf" => double.PositiveInfinity,
            "-Inf" => double.NegativeInfinity,
            "NaN" => double.NaN,
            var p => double.Parse(p, NumberStyles.Float, CultureInfo.InvariantCulture),
        };
        return new Sample(name, labels, number);
    }
}
