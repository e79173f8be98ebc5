using System.Collections.Immutable;
using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence;
using BenchmarkDotNet.Attributes;
using CeleryActors.Redis;

namespace CeleryActors.Persistence.Redis.Benchmarks;

/// <summary>
/// One WriteMessages batch of <see cref="Events"/> single-event AtomicWrites through the journal actor to a private
/// redis-server (AOF on), round trip included: what a PersistAsync burst costs.
/// </summary>
[MemoryDiagnoser]
public class JournalWriteBenchmarks
{
    private RedisServerProcess _redis = null!;
    private ActorSystem _system = null!;
    private IActorRef _journal = null!;
    private IActorRef _waiter = null!;
    private readonly string _writer = Guid.NewGuid().ToString();
    private string _pid = "";
    private long _seq;
    private TaskCompletionSource _done = new();

    [Params(1, 100)]
    public int Events { get; set; }

    [GlobalSetup]
    public async Task Setup()
    {
        _redis = await RedisServerProcess.StartAsync(new RedisServerSettings(AppendOnly: true));
        _system = ActorSystem.Create("bench", ConfigurationFactory.ParseString($$"""
            akka.loglevel = WARNING
            akka.persistence.journal.plugin = "akka.persistence.journal.redis"
            akka.persistence.journal.redis.configuration-string = "{{_redis.ConnectionString}}"
            """).WithFallback(RedisPersistence.DefaultConfig()));
        _journal = Akka.Persistence.Persistence.Instance.Apply(_system).JournalFor(null);
        _waiter = _system.ActorOf(Props.Create(() => new Waiter(this)));
        _pid = "bench-" + Guid.NewGuid().ToString("N");
    }

    [GlobalCleanup]
    public async Task Cleanup()
    {
        await _system.Terminate();
        await _redis.DisposeAsync();
    }

    [Benchmark]
    public Task WriteBatch()
    {
        _done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var writes = new AtomicWrite[Events];
        for (var i = 0; i < Events; i++)
        {
            var seq = ++_seq;
            writes[i] = new AtomicWrite(ImmutableList.Create<IPersistentRepresentation>(
                new Persistent(seq, seq, _pid, string.Empty, false, ActorRefs.NoSender, _writer)));
        }
        _journal.Tell(new WriteMessages(writes, _waiter, 1));
        return _done.Task;
    }

    private sealed class Waiter : ReceiveActor
    {
        public Waiter(JournalWriteBenchmarks bench)
        {
            Receive<WriteMessagesSuccessful>(_ => bench._done.TrySetResult());
            Receive<WriteMessagesFailed>(f => bench._done.TrySetException(f.Cause));
            ReceiveAny(_ => { });
        }
    }
}
