using BenchmarkDotNet.Running;
using CeleryActors.Persistence.Redis.Benchmarks;

// "load" runs the load scenarios against a private redis-server; anything else goes to BenchmarkDotNet.
if (args.Length > 0 && args[0] == "load")
{
    var scale = args.Length > 1 && double.TryParse(args[1], out var s) ? s : 1.0;
    return await LoadRun.RunAsync(scale);
}
BenchmarkSwitcher.FromAssembly(typeof(LoadRun).Assembly).Run(args);
return 0;
