using System.Globalization;

namespace CeleryActors.Benchmarks;

/// <summary>What the load runs read off /proc: a process's CPU time and memory, and the machine they ran on.</summary>
public static class ProcessStats
{
    /// <summary>CPU seconds (user plus system) a process has used so far; 0 once it is gone.</summary>
    public static double CpuSeconds(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
        }
        catch (IOException)
        {
            return 0;
        }
    }

    /// <summary>The highest resident memory a process has had (the kernel's VmHWM), in MiB; 0 once it is gone.</summary>
    public static double PeakRssOf(int pid) => StatusKiB(pid, "VmHWM:") / 1024.0;

    /// <summary>A memory line of /proc/PID/status (<c>VmRSS:</c>, <c>VmHWM:</c>, ...) in KiB; 0 once the process is
    /// gone.</summary>
    public static long StatusKiB(int pid, string field)
    {
        try
        {
            var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith(field, StringComparison.Ordinal));
            return line is null ? 0 : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return 0;
        }
    }

    /// <summary>One line describing this machine.</summary>
    public static string Machine()
    {
        var cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name"))?.Split(':')[1].Trim() ?? "unknown CPU";
        var gib = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1024.0 * 1024 * 1024);
        return $"{Environment.ProcessorCount} cores, {cpu}, {gib:F0} GiB; .NET {Environment.Version}";
    }
}
