using Akka.Actor;
using Akka.Hosting;
using CeleryActors.Actors.Health;
using CeleryActors.Actors.Metrics;
using CeleryActors.Messages.Health;
using Prometheus;

namespace CeleryActors.Host.Http;

/// <summary>The node's HTTP surface: <c>/metrics</c> and the health checks.</summary>
public static class NodeEndpoints
{
    private static readonly TimeSpan HealthTimeout = TimeSpan.FromSeconds(2);

    /// <summary>Maps the endpoints.</summary>
    public static WebApplication MapNodeEndpoints(this WebApplication app, CeleryMetrics metrics)
    {
        // Prometheus text by default, OpenMetrics when the scraper's Accept header asks for it.
        app.MapMetrics(settings =>
        {
            settings.Registry = metrics.Registry;
            settings.EnableOpenMetrics = true;
        });
        app.MapGet("/health/live", () => Results.Json(new { status = "live" }));
        app.MapGet("/health/ready", ReadyAsync);
        app.MapAllocatorEndpoints();
        return app;
    }

    private static async Task<IResult> ReadyAsync(IRequiredActor<NodeHealthActor> health, CancellationToken token)
    {
        try
        {
            var actor = await health.GetAsync(token);
            var state = await actor.Ask<NodeHealth>(GetNodeHealth.Instance, HealthTimeout, token);
            var body = new
            {
                ready = state.Ready, cluster_member = state.ClusterMember, redis_connected = state.RedisConnected,
                detail = state.Detail, up_members = state.UpMembers, unreachable_members = state.UnreachableMembers,
            };
            return Results.Json(body, statusCode: state.Ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
        }
        catch (Exception e) when (e is AskTimeoutException or TaskCanceledException)
        {
            return Results.Json(new { ready = false, detail = "health monitor did not answer" },
                statusCode: StatusCodes.Status503ServiceUnavailable);
        }
    }
}
