using System.Collections.Immutable;
using System.Diagnostics;
using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence;
using CeleryActors.Redis;

namespace CeleryActors.Persistence.Redis.Benchmarks;

/// <summary>
/// The load run: starts its own redis-server (AOF on, appendfsync everysec) on a free loopback port and measures
/// persist throughput (one actor, PersistAsync and Persist; 100 actors at once) and recovery of 1,000,000 events
/// with and without snapshots. <c>scale</c> shrinks every count for a quick smoke run.
/// </summary>
public static class LoadRun
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(5);

    public static async Task<int> RunAsync(double scale)
    {
        await using var redis = await RedisServerProcess.StartAsync(new RedisServerSettings(AppendOnly: true));
        Console.WriteLine($"redis-server on 127.0.0.1:{redis.Port} (AOF on, appendfsync everysec), data in {redis.DataDirectory}");
        Console.WriteLine($"{Environment.ProcessorCount} cores, {RuntimeInformationText()}, scale {scale}");
        var system = ActorSystem.Create("load", Config(redis));
        try
        {
            // Warm-up: JIT, script cache and connections, not measured.
            await Throughput(system, "warmup", 1, 5_000, async: true);

            var results = new List<(string Name, double Value, string Unit, double Target)>
            {
                ("1 actor, PersistAsync", await Throughput(system, "async", 1, Scaled(200_000, scale), async: true), "events/s", 50_000),
                ("1 actor, Persist (one at a time)", await Throughput(system, "sync", 1, Scaled(20_000, scale), async: false), "events/s", 5_000),
                ("100 actors at once, PersistAsync", await Throughput(system, "group", 100, Scaled(3_000, scale), async: true), "events/s", 100_000),
            };
            var total = Scaled(1_000_000, scale);
            var pid = "recovery-" + Guid.NewGuid().ToString("N");
            var fill = await Fill(system, pid, total, snapshotEvery: 10_000);
            Console.WriteLine($"filled {total:N0} events and {total / 10_000} snapshots in {fill.TotalSeconds:F1} s");
            var (withSnapshot, _) = await Recover(system, pid, useSnapshots: true, total);
            results.Add(($"recover {total:N0} events, snapshot every 10,000", withSnapshot.TotalMilliseconds, "ms", -1_000));
            var (withoutSnapshot, replayed) = await Recover(system, pid, useSnapshots: false, total);
            results.Add(($"replay {replayed:N0} events, no snapshot", replayed / withoutSnapshot.TotalSeconds, "events/s", 200_000));
            results.Add(("  (that replay took)", withoutSnapshot.TotalMilliseconds, "ms", 0));

            Console.WriteLine();
            Console.WriteLine($"{"scenario",-48} {"figure",14} {"unit",-9} target");
            foreach (var (name, value, unit, target) in results)
            {
                var verdict = target switch
                {
                    0 => "",
                    < 0 => value < -target ? $"< {-target:N0} ms  MET" : $"< {-target:N0} ms  MISSED",
                    _ => value >= target ? $">= {target:N0}  MET" : $">= {target:N0}  MISSED",
                };
                Console.WriteLine($"{name,-48} {value,14:N0} {unit,-9} {verdict}");
            }
            return 0;
        }
        finally
        {
            await system.Terminate();
        }
    }

    private static int Scaled(int count, double scale) => Math.Max(1, (int)(count * scale));

    private static string RuntimeInformationText() =>
        $"{System.Runtime.InteropServices.RuntimeInformation.OSDescription}, {System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription}";

    private static Config Config(RedisServerProcess redis) =>
        ConfigurationFactory.ParseString($$"""
            akka.loglevel = WARNING
            akka.persistence.journal.plugin = "akka.persistence.journal.redis"
            akka.persistence.snapshot-store.plugin = "akka.persistence.snapshot-store.redis"
            akka.persistence.journal.redis {
              configuration-string = "{{redis.ConnectionString}}"
              circuit-breaker.call-timeout = 60s
            }
            akka.persistence.snapshot-store.redis {
              configuration-string = "{{redis.ConnectionString}}"
              circuit-breaker.call-timeout = 60s
            }
            """).WithFallback(RedisPersistence.DefaultConfig());

    /// <summary>Events per second for <paramref name="actors"/> actors persisting <paramref name="perActor"/> each at once.</summary>
    private static async Task<double> Throughput(ActorSystem system, string name, int actors, int perActor, bool async)
    {
        var inbox = new Collector(actors);
        var reporter = system.ActorOf(Props.Create(() => new CollectorActor(inbox)));
        var refs = Enumerable.Range(0, actors)
            .Select(i => system.ActorOf(BenchActor.Props($"{name}-{i}-{Guid.NewGuid():N}"))).ToList();
        foreach (var a in refs) a.Tell(new Run(perActor, async, reporter));
        var clock = Stopwatch.StartNew();
        for (long n = 1; n <= perActor; n++)
            foreach (var a in refs) a.Tell(n);
        await inbox.All.WaitAsync(Timeout);
        clock.Stop();
        foreach (var a in refs) system.Stop(a);
        system.Stop(reporter);
        var rate = actors * (double)perActor / clock.Elapsed.TotalSeconds;
        if (name != "warmup")
            Console.WriteLine($"{name}: {actors} x {perActor:N0} events in {clock.Elapsed.TotalMilliseconds:N0} ms = {rate:N0} events/s");
        return rate;
    }

    /// <summary>Writes <paramref name="total"/> events straight through the journal, and a snapshot every N.</summary>
    private static async Task<TimeSpan> Fill(ActorSystem system, string pid, int total, int snapshotEvery)
    {
        var persistence = Akka.Persistence.Persistence.Instance.Apply(system);
        var journal = persistence.JournalFor(null);
        var snapshots = persistence.SnapshotStoreFor(null);
        var writer = Guid.NewGuid().ToString();
        var clock = Stopwatch.StartNew();
        const int batch = 1_000;
        var pending = new List<Task>();
        for (var from = 1L; from <= total; from += batch)
        {
            var to = Math.Min(total, from + batch - 1);
            var events = new List<IPersistentRepresentation>();
            for (var seq = from; seq <= to; seq++)
                events.Add(new Persistent(seq, seq, pid, string.Empty, false, ActorRefs.NoSender, writer));
            pending.Add(WriteBatch(system, journal, new AtomicWrite(events.ToImmutableList())));
            if (to % snapshotEvery == 0)
                pending.Add(snapshots.Ask<SaveSnapshotSuccess>(new SaveSnapshot(new SnapshotMetadata(pid, to, DateTime.UtcNow), to), Timeout));
            // Keep a bounded number of batches in flight.
            if (pending.Count >= 8)
            {
                await Task.WhenAll(pending);
                pending.Clear();
            }
        }
        await Task.WhenAll(pending);
        return clock.Elapsed;
    }

    private static async Task WriteBatch(ActorSystem system, IActorRef journal, AtomicWrite write)
    {
        var inbox = new Collector(1);
        var probe = system.ActorOf(Props.Create(() => new WriteWaiter(inbox)));
        journal.Tell(new WriteMessages([write], probe, 1));
        await inbox.All.WaitAsync(Timeout);
        system.Stop(probe);
    }

    /// <summary>Time from creating the actor to its RecoveryCompleted, and how many events it replayed.</summary>
    private static async Task<(TimeSpan, long)> Recover(ActorSystem system, string pid, bool useSnapshots, int total)
    {
        var inbox = new Collector(1);
        var reporter = system.ActorOf(Props.Create(() => new CollectorActor(inbox)));
        var clock = Stopwatch.StartNew();
        var actor = system.ActorOf(BenchActor.Props(pid, useSnapshots, reporter));
        await inbox.All.WaitAsync(Timeout);
        clock.Stop();
        var recovered = (Recovered)inbox.Last!;
        if (recovered.LastSequenceNr != total)
            throw new InvalidOperationException($"recovered to {recovered.LastSequenceNr}, expected {total}");
        Console.WriteLine($"recovery {(useSnapshots ? "with" : "without")} snapshots: {clock.Elapsed.TotalMilliseconds:N0} ms, " +
                          $"{recovered.EventsReplayed:N0} events replayed, from snapshot: {recovered.FromSnapshot}");
        system.Stop(actor);
        system.Stop(reporter);
        return (clock.Elapsed, recovered.EventsReplayed);
    }

    /// <summary>Completes once <c>expected</c> messages arrived.</summary>
    private sealed class Collector(int expected)
    {
        private readonly TaskCompletionSource _all = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _count;

        public Task All => _all.Task;

        public object? Last { get; private set; }

        public void Add(object message)
        {
            Last = message;
            if (Interlocked.Increment(ref _count) == expected) _all.TrySetResult();
        }

        public void Fail(Exception e) => _all.TrySetException(e);
    }

    private sealed class CollectorActor(Collector inbox) : ReceiveActor
    {
        protected override void PreStart() => Become(() => ReceiveAny(inbox.Add));
    }

    private sealed class WriteWaiter : ReceiveActor
    {
        public WriteWaiter(Collector inbox)
        {
            Receive<WriteMessagesSuccessful>(_ => inbox.Add(true));
            Receive<WriteMessagesFailed>(f => inbox.Fail(f.Cause));
            Receive<WriteMessageRejected>(r => inbox.Fail(r.Cause));
            ReceiveAny(_ => { });
        }
    }
}
