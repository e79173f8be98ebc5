using BenchmarkDotNet.Running;
using CeleryActors.Benchmarks;

// `load-metrics`, `load-celery`, `load-allocator`, `client-latency`, `cluster-failover`, `client-throughput` and
// `label-flood`, `load-idle` run
// load runs through real Redis; anything else goes to BenchmarkDotNet.
if (args.Length > 0 && args[0] == "load-metrics")
    return await MetricsLoadRun.RunAsync(args[1..]);
if (args.Length > 0 && args[0] == "load-celery")
    return await CeleryLoadRun.RunAsync(args[1..]);
if (args.Length > 0 && args[0] == "load-allocator")
    return await AllocatorLoadRun.RunAsync(args[1..]);
if (args.Length > 0 && args[0] == "client-latency")
    return await ClientLatencyRun.RunAsync(args[1..]);
if (args.Length > 0 && args[0] == "cluster-failover")
    return await ClusterFailoverRun.RunAsync(args[1..]);
if (args.Length > 0 && args[0] == "label-flood")
    return await LabelFloodRun.RunAsync(args[1..]);
if (args.Length > 0 && args[0] == "load-idle")
    return await IdleRun.RunAsync(args[1..]);
if (args.Length > 0 && args[0] == "client-throughput")
    return await ClientThroughputRun.RunAsync(args[1..]);
BenchmarkSwitcher.FromAssembly(typeof(MetricsChannelBenchmarks).Assembly).Run(args);
return 0;
