using System.Text;
using System.Text.Json;
using StackExchange.Redis;

namespace CeleryActors.Actors.Celery;

/// <summary>
/// Celery's remote-control (broadcast) protocol on Redis, as kombu speaks it: the request is published on the
/// <c>celery.pidbox</c> fanout channel; each worker pushes its reply onto the list of a reply queue that the
/// requester declared by binding it to the <c>reply.celery.pidbox</c> exchange. Replies that do not come within
/// the timeout are simply absent from the result.
/// </summary>
public sealed class CeleryRemoteControl(IConnectionMultiplexer broker, CeleryMonitorSettings settings)
{
    private const string ReplyExchange = "reply.celery.pidbox";

    /// <summary>Broadcasts <paramref name="method"/> to every worker and collects the replies for the timeout.</summary>
    /// <returns>Worker → its reply (the method's result).</returns>
    public async Task<IReadOnlyDictionary<string, JsonElement>> BroadcastAsync(string method, string separator)
    {
        var db = broker.GetDatabase(settings.Broker.Database);
        var replyId = Guid.NewGuid().ToString();
        var ticket = Guid.NewGuid().ToString();
        var replyList = $"{settings.KeyPrefix}{replyId}.{ReplyExchange}";
        var binding = $"{replyId}{separator}{separator}{replyId}.{ReplyExchange}";
        var replies = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        await db.SetAddAsync(settings.BindingKey(ReplyExchange), binding).ConfigureAwait(false);
        try
        {
            await db.PublishAsync(RedisChannel.Literal(settings.PidboxChannel), Request(method, ticket, replyId))
                .ConfigureAwait(false);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (clock.Elapsed < settings.InspectTimeout)
            {
                await PopRepliesAsync(db, replyList, ticket, replies).ConfigureAwait(false);
                await Task.Delay(PollInterval).ConfigureAwait(false);
            }
            // Replies that came during the last pause count too; the list is deleted right after.
            await PopRepliesAsync(db, replyList, ticket, replies).ConfigureAwait(false);
        }
        finally
        {
            await db.SetRemoveAsync(settings.BindingKey(ReplyExchange), binding).ConfigureAwait(false);
            await db.KeyDeleteAsync(replyList).ConfigureAwait(false);
        }
        return replies;
    }

    /// <summary>How often the reply list is read while replies are collected.</summary>
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(25);

    private static async Task PopRepliesAsync(IDatabase db, string replyList, string ticket,
        Dictionary<string, JsonElement> replies)
    {
        var popped = await db.ListRightPopAsync(replyList, 100).ConfigureAwait(false);
        foreach (var reply in popped ?? []) Collect(reply, ticket, replies);
    }

    /// <summary>The request envelope (kombu's JSON envelope with a base64 body).</summary>
    public byte[] Request(string method, string ticket, string replyId)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object?>
        {
            ["method"] = method,
            ["arguments"] = new Dictionary<string, object>(),
            ["destination"] = null,
            ["pattern"] = null,
            ["matcher"] = null,
            ["ticket"] = ticket,
            ["reply_to"] = new Dictionary<string, string> { ["exchange"] = ReplyExchange, ["routing_key"] = replyId },
        });
        var expires = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0 + settings.InspectTimeout.TotalSeconds;
        return JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object>
        {
            ["body"] = Convert.ToBase64String(body),
            ["content-encoding"] = "utf-8",
            ["content-type"] = "application/json",
            ["headers"] = new Dictionary<string, object> { ["clock"] = 1, ["expires"] = expires },
            ["properties"] = new Dictionary<string, object>
            {
                ["delivery_mode"] = 2,
                ["delivery_info"] = new Dictionary<string, string> { ["exchange"] = "celery.pidbox", ["routing_key"] = "" },
                ["priority"] = 0,
                ["body_encoding"] = "base64",
                ["delivery_tag"] = Guid.NewGuid().ToString(),
            },
        });
    }

    /// <summary>Adds the workers' results in one reply envelope; a reply to another request or a malformed one is skipped.</summary>
    public static void Collect(ReadOnlySpan<byte> envelope, string ticket, IDictionary<string, JsonElement> into)
    {
        try
        {
            using var outer = JsonDocument.Parse(envelope.ToArray());
            var root = outer.RootElement;
            if (root.TryGetProperty("headers", out var headers) && headers.TryGetProperty("ticket", out var t) &&
                t.GetString() != ticket) return;
            var body = root.GetProperty("body").GetString() ?? "";
            var base64 = root.TryGetProperty("properties", out var p) && p.TryGetProperty("body_encoding", out var e) &&
                         e.GetString() == "base64";
            var json = base64 ? Convert.FromBase64String(body) : Encoding.UTF8.GetBytes(body);
            using var inner = JsonDocument.Parse(json);
            if (inner.RootElement.ValueKind != JsonValueKind.Object) return;
            foreach (var worker in inner.RootElement.EnumerateObject()) into[worker.Name] = worker.Value.Clone();
        }
        catch (Exception ex) when (ex is JsonException or FormatException or InvalidOperationException or KeyNotFoundException)
        {
            // A malformed reply is as good as none: the worker counts as not having answered.
        }
    }
}
