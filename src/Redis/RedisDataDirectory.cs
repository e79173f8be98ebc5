using System.Diagnostics;
using System.Net.Sockets;

namespace CeleryActors.Redis;

/// <summary>
/// One data folder, one server: the owner of a private <c>redis-server</c>'s folder holds an exclusive lock on
/// <c>owner.lock</c> in it, and notes its server's pid and port in <c>redis-server.owner</c>, so that the next owner
/// can stop a server the last one left behind (see <see cref="RedisServerProcess"/>).
/// </summary>
internal static class RedisDataDirectory
{
    private const string LockFileName = "owner.lock";
    private const string OwnerFileName = "redis-server.owner";

    /// <summary>Takes the folder's lock, or throws <see cref="RedisDataDirectoryInUseException"/>.</summary>
    // FileShare.None takes an flock(LOCK_EX) on Unix: held until disposed or the process dies, and not inherited
    // by the server (.NET opens files close-on-exec).
    public static FileStream Lock(string directory)
    {
        try
        {
            return new FileStream(Path.Combine(directory, LockFileName), FileMode.OpenOrCreate, FileAccess.ReadWrite,
                FileShare.None);
        }
        catch (IOException)
        {
            throw new RedisDataDirectoryInUseException(directory);
        }
    }

    /// <summary>Stops the server an earlier owner of the folder left running; its pid, or null when there was none.</summary>
    // The note names the server the folder's last owner started; if that process still runs redis-server in this
    // folder, its owner died without stopping it. Anything else under that pid (reused, gone) is left alone.
    public static async Task<int?> StopLeftoverAsync(string directory)
    {
        var note = Path.Combine(directory, OwnerFileName);
        if (!File.Exists(note)) return null;
        var parts = (await File.ReadAllTextAsync(note).ConfigureAwait(false)).Split(' ');
        if (parts.Length != 2 || !int.TryParse(parts[0], out var pid) || !int.TryParse(parts[1], out var port)
            || !RunsServerIn(pid, directory))
        {
            ForgetOwnerNote(directory);
            return null;
        }
        try { await RedisInlineCommand.SendAsync(port, "SHUTDOWN\r\n", expectReply: false).ConfigureAwait(false); }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException) { }
        if (!await GoneWithinAsync(pid, directory, TimeSpan.FromSeconds(10)).ConfigureAwait(false))
        {
            try { using var stuck = Process.GetProcessById(pid); stuck.Kill(); }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException) { }
            if (!await GoneWithinAsync(pid, directory, TimeSpan.FromSeconds(10)).ConfigureAwait(false))
                throw new InvalidOperationException(
                    $"redis-server (pid {pid}) left running in {directory} by an earlier owner does not stop");
        }
        ForgetOwnerNote(directory);
        return pid;
    }

    private static async Task<bool> GoneWithinAsync(int pid, string directory, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (RunsServerIn(pid, directory))
        {
            if (DateTime.UtcNow > deadline) return false;
            await Task.Delay(25).ConfigureAwait(false);
        }
        return true;
    }

    /// <summary>Removes the owner note (its server stopped).</summary>
    public static void ForgetOwnerNote(string directory)
    {
        try { File.Delete(Path.Combine(directory, OwnerFileName)); }
        catch (IOException) { /* the folder is gone: so is the note */ }
    }

    // Linux /proc: a live (not zombie) redis-server whose working directory is the folder (StartAsync sets it).
    private static bool RunsServerIn(int pid, string directory)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var state = stat[(stat.LastIndexOf(')') + 2)..].FirstOrDefault();
            if (state is 'Z' or 'X') return false;
            if (!File.ReadAllText($"/proc/{pid}/cmdline").Contains("redis-server", StringComparison.Ordinal))
                return false;
            var cwd = new DirectoryInfo($"/proc/{pid}/cwd").LinkTarget;
            return cwd is not null && Path.TrimEndingDirectorySeparator(cwd) ==
                Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Notes the server that owns the folder now.</summary>
    public static Task NoteOwnerAsync(string directory, int pid, int port) =>
        File.WriteAllTextAsync(Path.Combine(directory, OwnerFileName), $"{pid} {port}", CancellationToken.None);
}
