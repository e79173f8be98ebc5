using CeleryActors.Cli;
using CeleryActors.Client;

return await CliRunner.RunAsync(args, Environment.GetEnvironmentVariable(CeleryActorsClientOptions.ContactsVariable),
    Console.Out, Console.Error);
