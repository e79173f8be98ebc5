using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

namespace CeleryActors.Redis;

/// <summary>
/// A <c>redis-server</c> child process bound to 127.0.0.1, used by the host node when no <c>REDIS_URL</c> is set
/// and by every test fixture. It can be stopped, killed and started again on the same port and data folder, so
/// durability and outage tests use the same class as production.
/// </summary>
/// <remarks>
/// One data folder, one server: the object holds an exclusive lock on <c>owner.lock</c> in the folder from start
/// to dispose, and notes the server's pid and port in <c>redis-server.owner</c>. The kernel drops the lock when
/// the owning process dies, even by SIGKILL, but the server it started lives on, orphaned, with the folder's
/// append-only file open; the next start on the folder finds it through the note and shuts it down (SHUTDOWN
/// flushes the file) before starting its own, so two servers never write one append-only file.
/// </remarks>
public sealed class RedisServerProcess : IAsyncDisposable, IDisposable
{
    // Children still running when the process exits are killed, so no test run leaves a server behind.
    private static readonly ConcurrentDictionary<RedisServerProcess, byte> Running = new();
    private static int _exitHookInstalled;

    private readonly RedisServerSettings _settings;
    private readonly bool _ownsDirectory;
    private FileStream? _lock;
    private Process? _process;
    private readonly StringBuilder _output = new();

    private RedisServerProcess(RedisServerSettings settings, string directory, bool ownsDirectory, int port)
    {
        _settings = settings;
        DataDirectory = directory;
        _ownsDirectory = ownsDirectory;
        Port = port;
    }

    /// <summary>The loopback port the server listens on; it stays the same across restarts.</summary>
    public int Port { get; }

    /// <summary>The folder holding the server's data files.</summary>
    public string DataDirectory { get; }

    /// <summary>The URL of this server.</summary>
    public RedisUrl Url => RedisUrl.Loopback(Port);

    /// <summary>A StackExchange.Redis configuration string for this server.</summary>
    public string ConnectionString => $"127.0.0.1:{Port},abortConnect=false";

    /// <summary>The pid of a server an earlier, dead owner of the data folder left running, which this one shut
    /// down before it started; null when there was none.</summary>
    public int? StoppedLeftoverProcessId { get; private set; }

    /// <summary>Whether the process is running.</summary>
    public bool IsRunning => _process is { HasExited: false };

    /// <summary>The process id, while running.</summary>
    public int? ProcessId => IsRunning ? _process!.Id : null;

    /// <summary>Whether <paramref name="executable"/> can be found on the PATH (or as given).</summary>
    public static bool IsInstalled(string executable = "redis-server") => ResolveExecutable(executable) is not null;

    /// <summary>The line that tells a user how to get <c>redis-server</c>.</summary>
    public const string InstallHint =
        "redis-server is not installed: install it with 'sudo apt-get install -y redis-server' " +
        "(Debian/Ubuntu), or set REDIS_URL to a Redis server you run yourself";

    /// <summary>Starts a server and waits until it answers PING.</summary>
    /// <exception cref="RedisDataDirectoryInUseException">Another process holds the data folder.</exception>
    /// <exception cref="InvalidOperationException">The binary is missing or the server did not come up.</exception>
    public static async Task<RedisServerProcess> StartAsync(
        RedisServerSettings? settings = null, CancellationToken cancellationToken = default)
    {
        settings ??= new RedisServerSettings();
        if (ResolveExecutable(settings.Executable) is null) throw new InvalidOperationException(InstallHint);

        var ownsDirectory = settings.DataDirectory is null;
        var directory = settings.DataDirectory ??
                        Path.Combine(Path.GetTempPath(), "celeryactors-redis-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        var folderLock = RedisDataDirectory.Lock(directory);
        try
        {
            var leftover = await RedisDataDirectory.StopLeftoverAsync(directory).ConfigureAwait(false);
            // A port found free may be taken before redis binds it; try a few.
            Exception? last = null;
            for (var attempt = 0; attempt < 5; attempt++)
            {
                var port = settings.Port != 0 ? settings.Port : FreePort.Find();
                var server = new RedisServerProcess(settings, directory, ownsDirectory, port)
                {
                    _lock = folderLock, StoppedLeftoverProcessId = leftover,
                };
                try
                {
                    await server.StartAsync(cancellationToken).ConfigureAwait(false);
                    return server;
                }
                catch (Exception e)
                {
                    // Whatever went wrong, no server is left running once the folder's lock is let go.
                    await server.StopAsync().ConfigureAwait(false);
                    if (e is not InvalidOperationException || settings.Port != 0) throw;
                    last = e;
                }
            }
            throw last!;
        }
        catch
        {
            await folderLock.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Starts the process again on the same port and data folder (after a stop or a kill).</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (IsRunning) return;
        lock (_output) _output.Clear();
        var info = new ProcessStartInfo(ResolveExecutable(_settings.Executable)!)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
            UseShellExecute = false,
            WorkingDirectory = DataDirectory,
        };
        foreach (var arg in new[]
                 {
                     "--port", Port.ToString(), "--bind", "127.0.0.1", "--dir", DataDirectory,
                     "--appendonly", _settings.AppendOnly ? "yes" : "no",
                     // Every write reaches the AOF before the next second passes; no RDB snapshots on a timer.
                     "--appendfsync", "everysec", "--save", "",
                     "--daemonize", "no", "--protected-mode", "yes", "--loglevel", "warning",
                 })
            info.ArgumentList.Add(arg);

        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
        Track(this);
        // Noted before it answers: a server loading a long append-only file answers LOADING for a while, and an
        // owner killed meanwhile must not leave it unknown to the next one.
        await RedisDataDirectory.NoteOwnerAsync(DataDirectory, process.Id, Port).ConfigureAwait(false);

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (process.HasExited)
                throw new InvalidOperationException(
                    $"redis-server exited with code {process.ExitCode} on port {Port}: {Output.Trim()}");
            if (await PingAsync(cancellationToken).ConfigureAwait(false)) return;
            await Task.Delay(25, cancellationToken).ConfigureAwait(false);
        }
        throw new InvalidOperationException($"redis-server on port {Port} did not answer PING within 20 s: {Output}");
    }

    /// <summary>What the server printed (warnings and errors).</summary>
    public string Output
    {
        get { lock (_output) return _output.ToString(); }
    }

    /// <summary>
    /// Stops the server the clean way (<c>SHUTDOWN</c>, which flushes the append-only file), killing it if it
    /// does not exit in time.
    /// </summary>
    public async Task StopAsync()
    {
        var process = _process;
        if (process is null) return;
        try
        {
            if (!process.HasExited)
            {
                await RedisInlineCommand.SendAsync(Port, "SHUTDOWN\r\n", expectReply: false).ConfigureAwait(false);
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                try
                {
                    await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    process.Kill(entireProcessTree: true);
                    await process.WaitForExitAsync().ConfigureAwait(false);
                }
            }
        }
        finally
        {
            Forget(process);
        }
    }

    // The process is gone (or given up on): nothing to stop at exit, and the folder's note names no server.
    private void Forget(Process process)
    {
        process.Dispose();
        _process = null;
        Running.TryRemove(this, out _);
        RedisDataDirectory.ForgetOwnerNote(DataDirectory);
    }

    /// <summary>Kills the server with SIGKILL, as a crash would: nothing is flushed.</summary>
    public async Task KillAsync()
    {
        var process = _process;
        if (process is null) return;
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            Forget(process);
        }
    }

    /// <summary>Sends PING over a plain socket and says whether PONG came back.</summary>
    public async Task<bool> PingAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            var reply = await RedisInlineCommand.SendAsync(Port, "PING\r\n", expectReply: true, cancellationToken).ConfigureAwait(false);
            return reply.StartsWith("+PONG", StringComparison.Ordinal);
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException)
        {
            cancellationToken.ThrowIfCancellationRequested();
            return false;
        }
    }

    /// <summary>Stops the server and removes its data folder if this object created it.</summary>
    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        if (_lock is { } folderLock)
        {
            _lock = null;
            await folderLock.DisposeAsync().ConfigureAwait(false);
        }
        if (_ownsDirectory)
        {
            try { Directory.Delete(DataDirectory, recursive: true); }
            catch (IOException) { /* a leftover temp folder is harmless */ }
        }
    }

    /// <inheritdoc />
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    private void Append(string? line)
    {
        if (line is null) return;
        lock (_output)
        {
            // Keep only the tail: the server is quiet at warning level, but a long run must not grow this.
            if (_output.Length > 16_384) _output.Remove(0, _output.Length - 8_192);
            _output.AppendLine(line);
        }
    }

    private static void Track(RedisServerProcess server)
    {
        Running[server] = 0;
        if (Interlocked.Exchange(ref _exitHookInstalled, 1) == 0)
            AppDomain.CurrentDomain.ProcessExit += (_, _) =>
            {
                foreach (var s in Running.Keys)
                    try { s._process?.Kill(entireProcessTree: true); }
                    catch (InvalidOperationException) { /* already gone */ }
            };
    }

    private static string? ResolveExecutable(string executable)
    {
        if (executable.Contains('/')) return File.Exists(executable) ? executable : null;
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        foreach (var dir in path.Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, executable);
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }
}
