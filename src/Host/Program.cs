using CeleryActors.Host;
using CeleryActors.Host.Configuration;

// Settings first: a bad one stops start-up with one line naming it, before anything is started.
var configuration = NodeConfiguration.Build(args);
var (options, errors) = NodeConfiguration.Bind(configuration);
if (options is null)
{
    foreach (var error in errors) Console.Error.WriteLine($"celery-actors: {error}");
    return ExitCodes.BadSetting;
}
return await NodeRunner.RunAsync(options, configuration);
