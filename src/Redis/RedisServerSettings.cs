namespace CeleryActors.Redis;

/// <summary>Settings for a private <c>redis-server</c> process.</summary>
/// <param name="DataDirectory">Folder for the append-only file and dumps; a fresh temporary folder when null.</param>
/// <param name="AppendOnly">Whether the append-only file is on (so a restart keeps the data).</param>
/// <param name="Port">Port to listen on; 0 picks a free loopback port.</param>
/// <param name="Executable">The server binary to run.</param>
public sealed record RedisServerSettings(
    string? DataDirectory = null,
    bool AppendOnly = true,
    int Port = 0,
    string Executable = "redis-server");

/// <summary>The data folder given to a private <c>redis-server</c> is held by another running process.</summary>
public sealed class RedisDataDirectoryInUseException(string directory)
    : InvalidOperationException($"{directory} is in use by another process's private redis-server")
{
    /// <summary>The folder that is in use.</summary>
    public string Directory { get; } = directory;
}
