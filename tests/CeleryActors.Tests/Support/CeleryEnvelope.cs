using System.Text;
using System.Text.Json;

namespace CeleryActors.Tests.Support;

/// <summary>Builds event messages the way kombu publishes them on Redis: a JSON envelope with a base64 body.</summary>
public static class CeleryEnvelope
{
    public static string Of(object body, string routingKey) => JsonSerializer.Serialize(new Dictionary<string, object>
    {
        ["body"] = Convert.ToBase64String(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(body))),
        ["content-encoding"] = "utf-8",
        ["content-type"] = "application/json",
        ["headers"] = new { hostname = "test" },
        ["properties"] = new Dictionary<string, object>
        {
            ["delivery_info"] = new { exchange = "celeryev", routing_key = routingKey },
            ["body_encoding"] = "base64",
        },
    });

    public static double Now => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;

    public static Dictionary<string, object?> Heartbeat(string worker, long processed, int active = 0) => new()
    {
        ["type"] = "worker-heartbeat", ["hostname"] = worker, ["timestamp"] = Now, ["freq"] = 2.0,
        ["active"] = active, ["processed"] = processed,
    };

    public static Dictionary<string, object?> WorkerEvent(string type, string worker) => new()
    {
        ["type"] = type, ["hostname"] = worker, ["timestamp"] = Now,
    };

    public static Dictionary<string, object?> Task(string type, string id, string worker, string? name = null,
        string? queue = null, double? runtime = null, string? exception = null) => new()
    {
        ["type"] = type, ["uuid"] = id, ["hostname"] = worker, ["timestamp"] = Now, ["name"] = name, ["queue"] = queue,
        ["runtime"] = runtime, ["exception"] = exception,
    };
}
