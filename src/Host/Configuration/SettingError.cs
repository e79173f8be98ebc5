namespace CeleryActors.Host.Configuration;

/// <summary>A setting whose value the node cannot start with.</summary>
/// <param name="Key">The configuration key.</param>
/// <param name="Problem">What is wrong, e.g. <c>70000 is not a port (1-65535)</c>.</param>
public sealed record SettingError(string Key, string Problem)
{
    /// <summary>The one line printed at start-up.</summary>
    public override string ToString() => $"invalid setting {SettingNames.Describe(Key)}: {Problem}";
}
