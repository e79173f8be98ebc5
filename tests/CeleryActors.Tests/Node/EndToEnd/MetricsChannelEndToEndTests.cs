using System.Globalization;
using System.Net.Http.Headers;
using CeleryActors.Tests.Fixtures;
using StackExchange.Redis;
using Xunit;

namespace CeleryActors.Tests.Node.EndToEnd;

/// <summary>A real host node process on a real Redis: JSON published with a separate connection, read back
/// through <c>/metrics</c> by a parser of the exposition format.</summary>
public class MetricsChannelEndToEndTests(NodeFixture fixture) : IClassFixture<NodeFixture>
{
    private readonly ISubscriber _publisher = fixture.Redis.Connection.GetSubscriber();

    private async Task PublishAsync(string payload)
    {
        var receivers = await _publisher.PublishAsync(RedisChannel.Literal("metrics"), payload);
        Assert.Equal(1, receivers); // the node is subscribed
    }

    [Fact]
    public async Task Every_message_type_shows_up_in_the_exposition_with_the_right_values()
    {
        for (var i = 0; i < 10; i++)
            await PublishAsync($$"""{"type":"task_execution","task_name":"e2e.ok","queue":"e2e","duration":{{(0.1 * (i + 1)).ToString(CultureInfo.InvariantCulture)}},"status":"success"}""");
        for (var i = 0; i < 3; i++)
            await PublishAsync("""{"type":"task_execution","task_name":"e2e.bad","queue":"e2e","duration":2,"status":"failure","exception":"ValueError"}""");
        await PublishAsync("""{"type":"task_execution","task_name":"e2e.bad","queue":"e2e","duration":2,"status":"failure","exception":"KeyError"}""");
        await PublishAsync("""{"type":"queue_length","queue":"e2e","length":17}""");
        await PublishAsync("""{"type":"pubsub_message","channel":"tasks:e2e","message_type":"task","latency":0.003}""");
        var now = (DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0).ToString(CultureInfo.InvariantCulture);
        await PublishAsync($$"""{"type":"queue_length","queue":"e2e-stamped","length":1,"published_at":{{now}}}""");

        await Support.Eventually.Holds(async () =>
        {
            var m = await fixture.Node.ScrapeAsync();
            Assert.Equal(10, m.Value("celery_task_started_total", ("task_name", "e2e.ok"), ("queue", "e2e")));
            Assert.Equal(10, m.Value("celery_task_succeeded_total", ("task_name", "e2e.ok"), ("queue", "e2e")));
            Assert.Equal(4, m.Value("celery_task_started_total", ("task_name", "e2e.bad"), ("queue", "e2e")));
            Assert.Equal(3, m.Value("celery_task_failed_total", ("task_name", "e2e.bad"), ("queue", "e2e"), ("exception", "ValueError")));
            Assert.Equal(1, m.Value("celery_task_failed_total", ("task_name", "e2e.bad"), ("queue", "e2e"), ("exception", "KeyError")));
            Assert.Equal(0, m.Value("celery_task_succeeded_total", ("task_name", "e2e.bad"), ("queue", "e2e")));
            Assert.Equal(10, m.Value("celery_task_duration_seconds_count", ("task_name", "e2e.ok"), ("queue", "e2e")));
            Assert.Equal(5.5, m.Value("celery_task_duration_seconds_sum", ("task_name", "e2e.ok"), ("queue", "e2e")), 6);
            Assert.Equal(5, m.Value("celery_task_duration_seconds_bucket", ("task_name", "e2e.ok"), ("queue", "e2e"), ("le", "0.5")));
            Assert.Equal(17, m.Value("celery_queue_length", ("queue", "e2e")));
            Assert.Equal(1, m.Value("celery_redis_pubsub_messages_total", ("channel", "tasks:e2e"), ("message_type", "task")));
            Assert.Equal(1, m.Value("celery_redis_pubsub_latency_seconds_count", ("channel", "tasks:e2e")));
            Assert.True(m.Value("celery_redis_pubsub_messages_total", ("channel", "metrics"), ("message_type", "task_execution")) >= 14);
            Assert.True(m.Value("celery_redis_pubsub_latency_seconds_count", ("channel", "metrics")) >= 1);
            Assert.Equal(1, m.Value("celery_redis_connected"));
            Assert.Equal("histogram", m["celery_task_duration_seconds"].Type);
            Assert.Equal("counter", m["celery_task_started_total"].Type);
        });
    }

    [Fact]
    public async Task A_corpus_of_malformed_messages_is_rejected_and_counted_while_valid_ones_between_them_count()
    {
        var corpus = new (string Payload, string Reason)[]
        {
            ("not json at all", "invalid_json"),
            ("{\"type\":\"task_execution\"", "invalid_json"),
            ("[]", "not_an_object"),
            ("42", "not_an_object"),
            ("{\"queue\":\"q\",\"length\":1}", "missing_field"),
            ("{\"type\":\"task_execution\",\"queue\":\"q\",\"duration\":1,\"status\":\"success\"}", "missing_field"),
            ("{\"type\":\"queue_length\",\"queue\":\"q\",\"length\":\"seven\"}", "wrong_type"),
            ("{\"type\":\"task_execution\",\"task_name\":\"t\",\"queue\":\"q\",\"duration\":true,\"status\":\"success\"}", "wrong_type"),
            ("{\"type\":\"task_execution\",\"task_name\":\"t\",\"queue\":\"q\",\"duration\":-0.5,\"status\":\"success\"}", "out_of_range"),
            ("{\"type\":\"queue_length\",\"queue\":\"q\",\"length\":-1}", "out_of_range"),
            ("{\"type\":\"drop_tables\"}", "unknown_type"),
            ("{\"type\":\"queue_length\",\"queue\":\"" + new string('x', 2 * 1024 * 1024) + "\",\"length\":1}", "too_large"),
        };
        var before = await fixture.Node.ScrapeAsync();
        for (var i = 0; i < corpus.Length; i++)
        {
            await PublishAsync(corpus[i].Payload);
            await PublishAsync($$"""{"type":"task_execution","task_name":"corpus.valid","queue":"corpus","duration":0.01,"status":"success"}""");
        }

        await Support.Eventually.Holds(async () =>
        {
            var m = await fixture.Node.ScrapeAsync();
            Assert.Equal(corpus.Length, m.Value("celery_task_started_total", ("task_name", "corpus.valid"), ("queue", "corpus")));
            foreach (var group in corpus.GroupBy(c => c.Reason))
            {
                var delta = m.Value("celery_messages_rejected_total", ("channel_kind", "metrics"), ("reason", group.Key))
                            - before.Value("celery_messages_rejected_total", ("channel_kind", "metrics"), ("reason", group.Key));
                Assert.True(group.Count() == delta, $"{group.Key}: expected {group.Count()}, got {delta}");
            }
        });
        Assert.False(fixture.Node.Process.HasExited);
        Assert.Contains("Rejected a message on metrics", fixture.Node.Output);
        Assert.DoesNotContain(new string('x', 1000), fixture.Node.Output); // never the whole payload
        using var ready = await fixture.Node.Http.GetAsync("/health/ready");
        Assert.True(ready.IsSuccessStatusCode);
    }

    [Fact]
    public async Task Answers_openmetrics_when_the_scraper_asks_for_it()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/metrics");
        request.Headers.Accept.Add(MediaTypeWithQualityHeaderValue.Parse("application/openmetrics-text; version=1.0.0"));
        using var response = await fixture.Node.Http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Equal("application/openmetrics-text", response.Content.Headers.ContentType?.MediaType);
        Assert.EndsWith("# EOF\n", body);
        Assert.Equal("counter", Support.PrometheusText.Parse(body)["celery_task_started"].Type);

        var plain = await fixture.Node.Http.GetAsync("/metrics");
        Assert.Equal("text/plain", plain.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Liveness_and_readiness_answer()
    {
        var live = await fixture.Node.Http.GetAsync("/health/live");
        Assert.True(live.IsSuccessStatusCode);
        var ready = await fixture.Node.Http.GetStringAsync("/health/ready");
        Assert.Contains("\"ready\":true", ready);
    }
}
