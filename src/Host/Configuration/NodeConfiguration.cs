using System.Text.RegularExpressions;

namespace CeleryActors.Host.Configuration;

/// <summary>Builds the node's <see cref="IConfiguration"/> and binds <see cref="NodeOptions"/> from it.</summary>
public static partial class NodeConfiguration
{
    /// <summary>
    /// appsettings.json (beside the binary, then in the working directory), then <c>CeleryActors__*</c>
    /// environment variables, then the SPEC §8 names, then the command line: a later source wins.
    /// </summary>
    public static IConfigurationRoot Build(string[] args, IDictionary<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .ToDictionary(e => (string)e.Key, e => (string?)e.Value);
        var aliases = SettingNames.EnvironmentToKey
            .Where(p => environment.ContainsKey(p.Key))
            .ToDictionary(p => p.Value, p => environment[p.Key]);
        var prefixed = environment
            .Where(p => p.Key.StartsWith(NodeOptions.Section + "__", StringComparison.OrdinalIgnoreCase))
            .ToDictionary(p => p.Key.Replace("__", ":"), p => p.Value);

        return new ConfigurationBuilder()
            .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true)
            .AddJsonFile(Path.Combine(Directory.GetCurrentDirectory(), "appsettings.json"), optional: true)
            .AddInMemoryCollection(prefixed)
            .AddInMemoryCollection(aliases)
            .AddCommandLine(args)
            .Build();
    }

    /// <summary>Binds and validates; returns the options, or every setting that is wrong.</summary>
    public static (NodeOptions? Options, IReadOnlyList<SettingError> Errors) Bind(IConfiguration configuration)
    {
        var options = new NodeOptions();
        try
        {
            configuration.GetSection(NodeOptions.Section).Bind(options);
        }
        catch (InvalidOperationException e)
        {
            // The binder names the key and the type: "Failed to convert configuration value '...' at 'Key' to type".
            var match = BinderError().Match(e.Message + " " + e.InnerException?.Message);
            var key = match.Success ? match.Groups["key"].Value : NodeOptions.Section;
            var value = configuration[key];
            var type = match.Success ? match.Groups["type"].Value : "the expected type";
            return (null, [new SettingError(key, $"'{value}' is not {Describe(type)}")]);
        }
        var errors = NodeOptionsValidator.Validate(options);
        return errors.Count == 0 ? (options, errors) : (null, errors);
    }

    private static string Describe(string type) => type switch
    {
        "System.Int32" or "System.Int64" => "a whole number",
        "System.Double" => "a number",
        "System.Boolean" => "true or false",
        _ => "of type " + type,
    };

    [GeneratedRegex("at '(?<key>[^']+)' to type '(?<type>[^']+)'")]
    private static partial Regex BinderError();
}
