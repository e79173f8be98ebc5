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

    /// <summary>
    /// Broadcasts each of <paramref name="methods"/> to every worker and collects the replies for the timeout. All
    /// the methods share one reply queue (each request has its own ticket), and the queue is read once, when the
    /// timeout is over: a round always lasts the timeout, so reading earlier would learn nothing sooner and cost a
    /// round trip each time.
    /// </summary>
    /// <returns>Method → worker → its reply (the method's result).</returns>
    public async Task<IReadOnlyDictionary<string, IReadOnlyDictionary<string, JsonElement>>> BroadcastAsync(
        IReadOnlyList<string> methods, string separator)
    {
        var db = broker.GetDatabase(settings.Broker.Database);
        var replyId = Guid.NewGuid().ToString();
        var replyList = $"{settings.KeyPrefix}{replyId}.{ReplyExchange}";
        var binding = $"{replyId}{separator}{separator}{replyId}.{ReplyExchange}";
        var requests = methods.Select(m => (Method: m, Ticket: Guid.NewGuid().ToString(),
            Replies: new Dictionary<string, JsonElement>(StringComparer.Ordinal))).ToList();
        var byTicket = requests.ToDictionary(r => r.Ticket, r => r.Replies, StringComparer.Ordinal);
        await db.SetAddAsync(settings.BindingKey(ReplyExchange), binding).ConfigureAwait(false);
        try
        {
            var channel = RedisChannel.Literal(settings.PidboxChannel);
            await Task.WhenAll(requests.Select(r => db.PublishAsync(channel, Request(r.Method, r.Ticket, replyId))))
                .ConfigureAwait(false);
            await Task.Delay(settings.InspectTimeout).ConfigureAwait(false);
            RedisValue[]? popped;
            do
            {
                popped = await db.ListRightPopAsync(replyList, PopCount).ConfigureAwait(false);
                foreach (var reply in popped ?? []) Collect(reply, byTicket);
            } while (popped is { Length: PopCount });
        }
        finally
        {
            await db.SetRemoveAsync(settings.BindingKey(ReplyExchange), binding).ConfigureAwait(false);
            await db.KeyDeleteAsync(replyList).ConfigureAwait(false);
        }
        return requests.ToDictionary(r => r.Method, r => (IReadOnlyDictionary<string, JsonElement>)r.Replies,
            StringComparer.Ordinal);
    }

    /// <summary>How many replies one read of the reply queue takes.</summary>
    private const int PopCount = 100;

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

    /// <summary>Adds the workers' results in one reply envelope to the replies of the request whose ticket it carries;
    /// a reply to another request, one without a ticket, or a malformed one is skipped.</summary>
    public static void Collect(ReadOnlySpan<byte> envelope, IReadOnlyDictionary<string, Dictionary<string, JsonElement>> byTicket)
    {
        try
        {
            using var outer = JsonDocument.Parse(envelope.ToArray());
            var root = outer.RootElement;
            if (!root.TryGetProperty("headers", out var headers) || !headers.TryGetProperty("ticket", out var t) ||
                t.GetString() is not { } ticket || !byTicket.TryGetValue(ticket, out var into)) return;
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
