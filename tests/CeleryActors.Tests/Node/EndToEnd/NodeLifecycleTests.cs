using System.Text.RegularExpressions;
using CeleryActors.Redis;
using CeleryActors.Tests.Fixtures;
using Xunit;

namespace CeleryActors.Tests.Node.EndToEnd;

/// <summary>Start-up, settings, the embedded Redis, and a Redis outage, each with a node process of its own.</summary>
public partial class NodeLifecycleTests
{
    [Theory]
    [InlineData("METRICS_PORT", "70000", "invalid setting METRICS_PORT")]
    [InlineData("REDIS_URL", "not-a-url", "invalid setting REDIS_URL")]
    [InlineData("METRICS_REFRESH_INTERVAL", "-1", "invalid setting METRICS_REFRESH_INTERVAL")]
    public async Task A_bad_setting_stops_start_up_with_one_line_naming_it(string variable, string value, string expected)
    {
        await using var node = HostNodeProcess.Launch(new Dictionary<string, string> { [variable] = value });
        var exit = await node.WaitForExitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(2, exit);
        var line = Assert.Single(node.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(expected, line);
    }

    [Fact]
    public async Task Without_redis_server_installed_it_says_how_to_install_it()
    {
        await using var node = HostNodeProcess.Launch(new Dictionary<string, string>
        {
            ["PATH"] = "/nonexistent",
            ["REDIS_URL"] = "",
        });
        Assert.Equal(3, await node.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("apt-get install -y redis-server", node.Output);
    }

    [Fact]
    public async Task Without_redis_url_it_runs_a_private_redis_with_aof_and_stops_it_on_shutdown()
    {
        var state = Path.Combine(Path.GetTempPath(), "celeryactors-state-" + Guid.NewGuid().ToString("N"));
        try
        {
            var node = await HostNodeProcess.StartAsync(new Dictionary<string, string> { ["CELERYACTORS_STATE_DIR"] = state });
            int port;
            await using (node)
            {
                var match = RedisAddress().Match(node.Output);
                Assert.True(match.Success, node.Output);
                port = int.Parse(match.Groups[1].Value);
                Assert.True(File.Exists(Path.Combine(state, "redis", "appendonlydir", "appendonly.aof.manifest"))
                            || Directory.Exists(Path.Combine(state, "redis", "appendonlydir")));
                using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{port},allowAdmin=true");
                Assert.Equal("yes", (await redis.GetServers()[0].ConfigGetAsync("appendonly"))[0].Value);
                Assert.Equal("127.0.0.1", (await redis.GetServers()[0].ConfigGetAsync("bind"))[0].Value);
            }
            // The node stopped (SIGTERM); its redis-server must be gone with it.
            using var client = new System.Net.Sockets.TcpClient();
            await Assert.ThrowsAnyAsync<System.Net.Sockets.SocketException>(() => client.ConnectAsync("127.0.0.1", port));
        }
        finally
        {
            try { Directory.Delete(state, recursive: true); } catch (IOException) { }
        }
    }

    [Fact]
    public async Task A_private_redis_left_running_by_a_killed_node_is_shut_down_by_the_next_start_with_its_data()
    {
        var state = Path.Combine(Path.GetTempPath(), "celeryactors-state-" + Guid.NewGuid().ToString("N"));
        var environment = new Dictionary<string, string> { ["CELERYACTORS_STATE_DIR"] = state };
        int? orphan = null;
        try
        {
            await using (var first = await HostNodeProcess.StartAsync(environment))
            {
                var port = int.Parse(RedisAddress().Match(first.Output).Groups[1].Value);
                orphan = OwnerNote(state).Pid;
                using (var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{port}"))
                    await redis.GetDatabase().StringSetAsync("written-before-the-kill", "kept");
                // SIGKILL of the node alone, as a crash: its redis-server is not told and lives on.
                first.Process.Kill(entireProcessTree: false);
                await first.WaitForExitAsync(TimeSpan.FromSeconds(30));
                Assert.True(IsRunning(orphan.Value), "the killed node's redis-server should outlive it");
            }

            await using var second = await HostNodeProcess.StartAsync(environment);
            Assert.Contains($"shut down redis-server (pid {orphan})", second.Output);
            Assert.False(IsRunning(orphan.Value));
            var (pid, newPort) = OwnerNote(state);
            Assert.NotEqual(orphan, pid);
            using var restarted = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{newPort}");
            Assert.Equal("kept", await restarted.GetDatabase().StringGetAsync("written-before-the-kill"));
        }
        finally
        {
            if (orphan is { } pid && IsRunning(pid))
                try { System.Diagnostics.Process.GetProcessById(pid).Kill(); } catch (ArgumentException) { }
            try { Directory.Delete(state, recursive: true); } catch (IOException) { }
        }
    }

    [Fact]
    public async Task A_second_node_on_the_same_state_folder_stops_with_one_line_naming_the_setting()
    {
        var state = Path.Combine(Path.GetTempPath(), "celeryactors-state-" + Guid.NewGuid().ToString("N"));
        var environment = new Dictionary<string, string> { ["CELERYACTORS_STATE_DIR"] = state };
        try
        {
            await using var first = await HostNodeProcess.StartAsync(environment);
            await using var second = HostNodeProcess.Launch(environment);
            Assert.Equal(2, await second.WaitForExitAsync(TimeSpan.FromSeconds(30)));
            var line = Assert.Single(second.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.Contains("invalid setting CELERYACTORS_STATE_DIR", line);
            Assert.Contains("in use by another node", line);
            // The first node's server was not touched.
            using var ready = await first.Http.GetAsync("/health/ready");
            Assert.Equal(System.Net.HttpStatusCode.OK, ready.StatusCode);
            Assert.True(IsRunning(OwnerNote(state).Pid));
        }
        finally
        {
            try { Directory.Delete(state, recursive: true); } catch (IOException) { }
        }
    }

    private static (int Pid, int Port) OwnerNote(string state)
    {
        var parts = File.ReadAllText(Path.Combine(state, "redis", "redis-server.owner")).Split(' ');
        return (int.Parse(parts[0]), int.Parse(parts[1]));
    }

    // An orphan that exited may stay a zombie where nothing reaps it (a container's PID 1): read its state.
    private static bool IsRunning(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)] is not ('Z' or 'X');
        }
        catch (IOException) { return false; }
    }

    [Fact]
    public async Task Metrics_keep_answering_while_redis_is_down_and_the_node_recovers_when_it_is_back()
    {
        await using var redis = await RedisServerProcess.StartAsync();
        await using var node = await HostNodeProcess.StartAsync(new Dictionary<string, string>
        {
            ["REDIS_URL"] = redis.Url.ToString(),
            ["REDIS_PROBE_INTERVAL"] = "0.2",
        });
        await redis.KillAsync();

        await Support.Eventually.Holds(async () =>
        {
            var m = await node.ScrapeAsync();
            Assert.Equal(0, m.Value("celery_redis_connected"));
            using var ready = await node.Http.GetAsync("/health/ready");
            Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        });

        await redis.StartAsync();
        await node.WaitUntilReadyAsync(TimeSpan.FromSeconds(30));
        using var publisher = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        await Support.Eventually.Holds(async () =>
        {
            await publisher.GetSubscriber().PublishAsync(StackExchange.Redis.RedisChannel.Literal("metrics"),
                """{"type":"queue_length","queue":"after-outage","length":5}""");
            var m = await node.ScrapeAsync();
            Assert.Equal(5, m.Value("celery_queue_length", ("queue", "after-outage")));
            Assert.Equal(1, m.Value("celery_redis_connected"));
            Assert.True(m.Value("celery_redis_resubscriptions_total") >= 1);
        });
    }

    [Fact]
    public async Task Against_a_redis_that_may_lose_the_journal_the_node_warns_naming_the_redis_setting()
    {
        await using var careless = await RedisServerProcess.StartAsync(new RedisServerSettings(AppendOnly: false));
        using (var admin = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{careless.Port},allowAdmin=true"))
            await admin.GetServers()[0].ConfigSetAsync("maxmemory-policy", "allkeys-lru");
        string output;
        await using (var node = await HostNodeProcess.StartAsync(new Dictionary<string, string> { ["REDIS_URL"] = careless.Url.ToString() }))
            output = node.Output;
        Assert.Contains("warning (REDIS_URL)", output);
        Assert.Contains("appendonly off", output);
        Assert.Contains("'appendonly yes'", output);
        Assert.Contains("maxmemory-policy allkeys-lru", output);
        Assert.Contains("'maxmemory-policy noeviction'", output);

        // One that keeps everything (append-only file on, no eviction) gets no warning.
        await using var careful = await RedisServerProcess.StartAsync(new RedisServerSettings(AppendOnly: true));
        await using (var node = await HostNodeProcess.StartAsync(new Dictionary<string, string> { ["REDIS_URL"] = careful.Url.ToString() }))
            output = node.Output;
        Assert.DoesNotContain("warning (REDIS_URL)", output);
    }

    [Fact]
    public async Task No_log_line_carries_the_redis_password()
    {
        const string password = "pw-Zq81-never-in-logs";
        await using var server = await RedisServerProcess.StartAsync(new RedisServerSettings(AppendOnly: false));
        using var admin = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{server.Port},allowAdmin=true");
        await admin.GetServers()[0].ConfigSetAsync("requirepass", password);
        var url = $"redis://:{password}@127.0.0.1:{server.Port}/0";
        try
        {
            var node = await HostNodeProcess.StartAsync(new Dictionary<string, string>
            {
                ["REDIS_URL"] = url,
                ["CELERY_BROKER_URL"] = url, // the Celery monitor's connection too
                ["Logging__LogLevel__Default"] = "Debug", // every line a node may write
            });
            try
            {
                // Some traffic through the journal and the rejection log. Ready does not mean subscribed yet,
                // so the malformed message is sent again until the node's subscription hears it once.
                var publisher = admin.GetSubscriber();
                var channel = StackExchange.Redis.RedisChannel.Literal("tasks:pw");
                await Support.Eventually.Holds(async () =>
                    Assert.True(await publisher.PublishAsync(channel, "{bad") > 0), TimeSpan.FromSeconds(20));
                await publisher.PublishAsync(channel, """{"task_name":"t","task_id":"x"}""");
                await Support.Eventually.Holds(async () =>
                    Assert.Equal(1, (await node.ScrapeAsync()).Value("celery_messages_rejected_total",
                        ("channel_kind", "tasks"), ("reason", "invalid_json"))), TimeSpan.FromSeconds(20));
            }
            finally
            {
                await node.DisposeAsync(); // a clean stop: its shutdown lines are in the output too
            }
            Assert.Contains("127.0.0.1:" + server.Port, node.Output); // the connections are logged, without the password
            Assert.DoesNotContain(password, node.Output);

            // A wrong password stops start-up with one line naming REDIS_URL, and without the password tried.
            var refused = HostNodeProcess.Launch(new Dictionary<string, string> { ["REDIS_URL"] = url.Replace(password, password + "-wrong") });
            try
            {
                Assert.Equal(2, await refused.WaitForExitAsync(TimeSpan.FromSeconds(60)));
            }
            finally
            {
                await refused.DisposeAsync();
            }
            Assert.Contains("invalid setting REDIS_URL", refused.Output);
            Assert.Contains("refused the user or password", refused.Output);
            Assert.DoesNotContain(password, refused.Output);
        }
        finally
        {
            await admin.GetServers()[0].ConfigSetAsync("requirepass", ""); // so the fixture can SHUTDOWN it
        }
    }

    [GeneratedRegex(@"private redis-server at redis://127\.0\.0\.1:(\d+)")]
    private static partial Regex RedisAddress();
}
