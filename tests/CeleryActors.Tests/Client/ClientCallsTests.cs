using System.Text.Json;
using CeleryActors.Client;
using CeleryActors.Messages.Allocator;
using CeleryActors.Messages.Client;
using CeleryActors.Messages.Metrics;
using CeleryActors.Redis;
using CeleryActors.Tests.Fixtures;
using CeleryActors.Tests.Support;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace CeleryActors.Tests.Client;

/// <summary>One real host node process for the class, and the actor client talking to it.</summary>
public sealed class ClientNodeFixture : IAsyncLifetime
{
    private readonly RedisFixture _redis = new();

    public HostNodeProcess Node { get; private set; } = null!;

    public string Contact { get; private set; } = "";

    public CeleryActorsClient Client { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        await _redis.InitializeAsync();
        (Node, Contact) = await ClientNodes.StartAsync(_redis);
        Client = ClientNodes.Client(TimeSpan.FromSeconds(10), Contact);
    }

    public async Task DisposeAsync()
    {
        if (Client is not null) await Client.DisposeAsync();
        if (Node is not null) await Node.DisposeAsync();
        await _redis.DisposeAsync();
    }
}

/// <summary>Every call of the actor client against a real host node.</summary>
[Collection(ClientNodesCollection.Name)]
public class ClientCallsTests(ClientNodeFixture fixture)
{
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(15);
    private CeleryActorsClient Client => fixture.Client;

    private static string Unique(string name) => name + "-" + Guid.NewGuid().ToString("N")[..6];

    private async Task<JsonElement> GetJson(string path) =>
        JsonDocument.Parse(await fixture.Node.Http.GetStringAsync(path)).RootElement.Clone();

    [Fact]
    public async Task A_worker_registers_gets_a_published_task_reports_it_and_the_queries_see_it_all()
    {
        var (queue, worker) = (Unique("q"), Unique("w"));
        var caps = new Dictionary<string, CapabilityValue> { ["cpu"] = CapabilityValue.Of(4), ["zone"] = CapabilityValue.Of("eu") };

        var registered = await Client.RegisterWorkerAsync(worker, [queue], caps, poolSize: 2);
        Assert.Equal((worker, true, true, 2), (registered.Worker, registered.Registered, registered.Online, registered.PoolSize));
        var beat = await Client.HeartbeatAsync(worker);
        Assert.NotNull(beat.LastHeartbeat);

        var published = await Client.PublishTaskAsync(queue, "resize", """{"size":3}""", priority: 9, taskId: "t-1",
            requires: new Dictionary<string, CapabilityValue> { ["cpu"] = CapabilityValue.Of(2) });
        Assert.Equal((queue, "t-1"), (published.Queue, published.TaskId));
        var generated = await Client.PublishTaskAsync(queue, "resize");
        Assert.False(string.IsNullOrEmpty(generated.TaskId));

        // Both tasks go to the worker (pool size 2); it acknowledges and finishes them through the client.
        await Eventually.Holds(async () =>
            Assert.Equal(2, (await Client.GetQueueAsync(queue))!.InFlight), Within);
        foreach (var id in new[] { "t-1", generated.TaskId })
        {
            await Client.ReportTaskStatusAsync(worker, id, TaskProgress.Received);
            await Client.ReportTaskStatusAsync(worker, id, TaskProgress.Started);
        }
        await Client.ReportTaskStatusAsync(worker, "t-1", TaskProgress.Succeeded, 0.5);
        await Client.ReportTaskStatusAsync(worker, generated.TaskId, TaskProgress.Failed, 0.25, "ValueError");

        await Eventually.Holds(async () =>
        {
            var stats = (await Client.GetQueueAsync(queue))!;
            Assert.Equal((0, 0, 1L, 1L, 2L, 1), (stats.Pending, stats.InFlight, stats.Succeeded, stats.Failed,
                stats.Allocated, stats.Consumers));
        }, Within);
        Assert.Contains(await Client.GetQueuesAsync(), q => q.Queue == queue && q.Succeeded == 1);
        var history = (await Client.GetQueueHistoryAsync(queue, limit: 2))!;
        Assert.Equal(queue, history.Queue);
        Assert.Equal(["failed", "succeeded"], history.Entries.Select(e => e.Event));

        // The client's answers are the HTTP queries' answers.
        var mine = Assert.Single(await Client.GetWorkersAsync(), w => w.Worker == worker);
        var http = (await GetJson("/api/workers")).GetProperty("workers").EnumerateArray()
            .Single(w => w.GetProperty("worker").GetString() == worker);
        Assert.Equal((http.GetProperty("pool_size").GetInt32(), http.GetProperty("online").GetBoolean(),
                http.GetProperty("capabilities").GetProperty("cpu").GetDouble(), http.GetProperty("queues")[0].GetString()),
            (mine.PoolSize, mine.Online, mine.Capabilities["cpu"].Number!.Value, mine.Queues[0]));
        var httpQueue = await GetJson($"/api/queues/{queue}");
        var clientQueue = (await Client.GetQueueAsync(queue))!;
        Assert.Equal((httpQueue.GetProperty("succeeded").GetInt64(), httpQueue.GetProperty("accepted").GetInt64()),
            (clientQueue.Succeeded, clientQueue.Accepted));

        var gone = await Client.UnregisterAsync(worker);
        Assert.False(gone.Online);
        Assert.DoesNotContain(await Client.GetWorkersAsync(), w => w.Worker == worker && w.Online);
    }

    [Fact]
    public async Task A_queue_nobody_knows_is_null_and_asking_does_not_create_it()
    {
        var queue = Unique("nope");
        Assert.Null(await Client.GetQueueAsync(queue));
        Assert.Null(await Client.GetQueueHistoryAsync(queue));
        Assert.DoesNotContain(await Client.GetQueuesAsync(), q => q.Queue == queue);
    }

    [Fact]
    public async Task Metrics_calls_show_up_in_the_nodes_metrics()
    {
        var queue = Unique("mq");
        await Client.TrackTaskExecutionAsync("charge", queue, 0.2, TaskOutcome.Success);
        await Client.TrackTaskExecutionAsync("charge", queue, 0.3, TaskOutcome.Failure, "KeyError");
        await Client.UpdateQueueLengthAsync(queue, 17);
        await Client.TrackPubSubMessageAsync("chan-" + queue, "order", 0.004);

        await Eventually.Holds(async () =>
        {
            var m = await fixture.Node.ScrapeAsync();
            Assert.Equal(2, m.Value("celery_task_started_total", ("task_name", "charge"), ("queue", queue)));
            Assert.Equal(1, m.Value("celery_task_succeeded_total", ("task_name", "charge"), ("queue", queue)));
            Assert.Equal(1, m.Value("celery_task_failed_total", ("task_name", "charge"), ("queue", queue), ("exception", "KeyError")));
            Assert.Equal(2, m.Value("celery_task_duration_seconds_count", ("task_name", "charge"), ("queue", queue)));
            Assert.Equal(17, m.Value("celery_queue_length", ("queue", queue)));
            Assert.Equal(1, m.Value("celery_redis_pubsub_messages_total", ("channel", "chan-" + queue), ("message_type", "order")));
            Assert.Equal(1, m.Value("celery_redis_pubsub_latency_seconds_count", ("channel", "chan-" + queue)));
        }, Within);
    }

    [Fact]
    public async Task The_client_registered_with_Akka_Hosting_answers_too()
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Services.AddCeleryActorsClient(new CeleryActorsClientOptions { Contacts = [fixture.Contact] });
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            var client = host.Services.GetRequiredService<CeleryActorsClient>();
            var worker = Unique("hosted");
            await client.RegisterWorkerAsync(worker, ["hosted-q"]);
            Assert.Contains(await client.GetWorkersAsync(), w => w.Worker == worker);
        }
        finally
        {
            await host.StopAsync();
        }
    }

    [Fact]
    public async Task The_client_works_in_an_existing_actor_system_and_inside_an_applications_own_hosted_system()
    {
        var options = new CeleryActorsClientOptions { Contacts = [fixture.Contact] };
        using (var system = Akka.Actor.ActorSystem.Create("app", CeleryActorsClient.ClientConfig(options)))
        {
            var client = CeleryActorsClient.Create(system, options);
            Assert.NotNull(await client.GetQueuesAsync());
            await client.DisposeAsync();
            await system.Terminate();
        }

        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Services.AddAkka("my-app", akka => Akka.Remote.Hosting.AkkaRemoteHostingExtensions
            .WithRemoting(akka, "127.0.0.1", 0).AddCeleryActorsClient(options));
        builder.Services.AddCeleryActorsClientService(options);
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            Assert.NotNull(await host.Services.GetRequiredService<CeleryActorsClient>().GetWorkersAsync());
        }
        finally
        {
            await host.StopAsync();
        }
    }

    [Fact]
    public async Task A_call_without_reply_in_time_fails_with_a_timeout_naming_call_timeout_and_contacts()
    {
        var nowhere = $"127.0.0.1:{FreePort.Find()}";
        await using var lost = ClientNodes.Client(TimeSpan.FromSeconds(1), nowhere);
        var e = await Assert.ThrowsAsync<CeleryActorsTimeoutException>(() => lost.GetWorkersAsync());
        Assert.Equal(("GetWorkers", TimeSpan.FromSeconds(1)), (e.Call, e.Timeout));
        Assert.Contains(nowhere, e.Message);
        Assert.Contains("GetWorkers", e.Message);
    }

    [Fact]
    public async Task Bad_call_arguments_fail_before_anything_is_sent()
    {
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Client.PublishTaskAsync("q", "job", priority: 10));
        await Assert.ThrowsAnyAsync<JsonException>(() => Client.PublishTaskAsync("q", "job", "{not json"));
        await Assert.ThrowsAsync<ArgumentException>(() => Client.PublishTaskAsync("", "job"));
        await Assert.ThrowsAsync<ArgumentException>(() => Client.RegisterWorkerAsync("w", []));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Client.UpdateQueueLengthAsync("q", -1));
        Assert.DoesNotContain(await Client.GetQueuesAsync(), q => q.Queue is "q" or "");
    }

    [Fact]
    public async Task The_gateway_refuses_records_that_break_the_wire_rules_and_no_entity_sees_them()
    {
        var (queue, worker) = (Unique("q"), Unique("w"));
        var none = new Dictionary<string, CapabilityValue>();
        async Task Refused(object record, string naming)
        {
            // Expecting a reply no call has: whatever the node answers, only a refusal throws the gateway's reason.
            var e = await Assert.ThrowsAsync<CeleryActorsGatewayException>(() => Client.Call<NoSuchReply>("raw", record, default));
            Assert.Contains(naming, e.Message);
        }
        // The public calls check these themselves; a client built otherwise sends the records as they are.
        await Refused(new RegisterWorker(worker, [], none, 1), "queues");
        await Refused(new RegisterWorker(worker, [queue], none, 0), "pool_size");
        await Refused(new RegisterWorker(worker, [queue, queue], none, 1), "queues");
        await Refused(new PublishTask(queue, "t1", "job", "null", 10, null, null), "priority");
        await Refused(new PublishTask(queue, "t2", "job", "{not json", 1, null, null), "task_data");
        await Refused(new PublishTask(queue, "t3", "job", "null", 1, null, 1e300), "published_at");
        await Refused(new WorkerTaskStatus(worker, "t1", TaskProgress.Succeeded, 1e308, null), "runtime");
        await Refused(new TrackTaskExecution("job", queue, 1e308, TaskOutcome.Success), "duration");
        await Refused(new TrackPubSubMessage("c", "m", -1), "latency");
        await Refused(new UpdateQueueLength(new string('q', 300), 1), "queue");
        await Refused(new UpdateQueueLength(queue, (1L << 53) + 1), "length");

        Assert.DoesNotContain(await Client.GetWorkersAsync(), w => w.Worker == worker);
        Assert.Null(await Client.GetQueueAsync(queue));
    }

    private sealed class NoSuchReply;

    [Fact]
    public void Bad_contacts_and_empty_options_are_refused_with_the_reason()
    {
        Assert.Contains("HOST:PORT", Assert.Throws<ArgumentException>(() => ClientNodes.Client(TimeSpan.FromSeconds(1), "nohost")).Message);
        Assert.Contains("no contacts", Assert.Throws<ArgumentException>(() => CeleryActorsClient.Start(new CeleryActorsClientOptions())).Message);
        Assert.Equal("akka.tcp://celery-actors@10.0.0.5:4053/system/receptionist",
            CeleryActorsClientOptions.ReceptionistPath("10.0.0.5:4053").ToString());
        Assert.Equal("akka.tcp://celery-actors@[::1]:4053/system/receptionist",
            CeleryActorsClientOptions.ReceptionistPath("[::1]:4053").ToString());
        Assert.Equal("akka.tcp://celery-actors@h:1/system/receptionist",
            CeleryActorsClientOptions.ReceptionistPath("akka.tcp://celery-actors@h:1/system/receptionist").ToString());
        Assert.Throws<ArgumentException>(() => CeleryActorsClientOptions.ReceptionistPath("h:99999"));
        Assert.Equal(["a:1", "b:2"], CeleryActorsClientOptions.SplitContacts(" a:1, ,b:2 "));
    }
}
