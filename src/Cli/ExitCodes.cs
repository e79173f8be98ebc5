namespace CeleryActors.Cli;

/// <summary>The tool's exit codes (documented in docs/client.md).</summary>
public static class ExitCodes
{
    /// <summary>The command did what it was asked.</summary>
    public const int Ok = 0;

    /// <summary>Something unexpected failed.</summary>
    public const int Unexpected = 1;

    /// <summary>Bad arguments: nothing was sent.</summary>
    public const int Usage = 2;

    /// <summary>No reply within the timeout: no contact reachable, or the cluster did not answer in time.</summary>
    public const int NoReply = 3;

    /// <summary>The queue asked for does not exist.</summary>
    public const int NotFound = 4;

    /// <summary>The cluster answered that it could not carry the request out.</summary>
    public const int ClusterFailed = 5;
}
