namespace CeleryActors.Host;

/// <summary>The host node's exit codes.</summary>
public static class ExitCodes
{
    /// <summary>Stopped normally.</summary>
    public const int Ok = 0;

    /// <summary>A setting is invalid; the message names it.</summary>
    public const int BadSetting = 2;

    /// <summary>Something the node needs is missing (e.g. <c>redis-server</c>); the message says how to get it.</summary>
    public const int MissingDependency = 3;
}
