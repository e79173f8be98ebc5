using Akka.Hosting;
using Akka.Remote.Hosting;
using CeleryActors.Messages.Allocator;
using CeleryActors.Messages.Client;
using CeleryActors.Messages.Metrics;
using CeleryActors.Protocol.Serialization;
using Microsoft.Extensions.DependencyInjection;

namespace CeleryActors.Client;

/// <summary>The actor client with Akka.Hosting.</summary>
public static class CeleryActorsClientHosting
{
    /// <summary>
    /// Adds the client to an actor system configured with Akka.Hosting: the nodes' serializer bindings and a cluster
    /// client for <paramref name="options"/>' contacts, registered in the <see cref="ActorRegistry"/> under
    /// <see cref="CeleryActorsClient"/>. The system must use remoting (<c>WithRemoting</c>) or clustering.
    /// </summary>
    public static AkkaConfigurationBuilder AddCeleryActorsClient(this AkkaConfigurationBuilder builder,
        CeleryActorsClientOptions options)
    {
        options.Validate();
        return builder
            .AddHocon(CeleryActorsClient.ToolsConfig, HoconAddMode.Append)
            .WithCustomSerializer("celery-allocator", [typeof(IAllocatorProtocol)], s => new AllocatorSerializer(s))
            .WithCustomSerializer("celery-client", [typeof(IClientProtocol), typeof(IMetricsCommand)], s => new ClientSerializer(s))
            .WithActors((system, registry) =>
                registry.Register<CeleryActorsClient>(CeleryActorsClient.StartConnection(system, options, "celery-actors-client")));
    }

    /// <summary>
    /// Adds an actor system of its own for the client (remoting on <see cref="CeleryActorsClientOptions.Hostname"/>,
    /// a free port) and a <see cref="CeleryActorsClient"/> singleton to the services. For an application that
    /// already runs an Akka.Hosting actor system, use the <see cref="AkkaConfigurationBuilder"/> overload instead
    /// and register the client with <see cref="AddCeleryActorsClientService"/>.
    /// </summary>
    public static IServiceCollection AddCeleryActorsClient(this IServiceCollection services, CeleryActorsClientOptions options)
    {
        options.Validate();
        services.AddAkka("celery-actors-client", builder => builder
            .AddHocon(CeleryActorsClient.TimingConfig, HoconAddMode.Append)
            .WithRemoting(options.Hostname, 0)
            .AddCeleryActorsClient(options));
        return services.AddCeleryActorsClientService(options);
    }

    /// <summary>Registers the <see cref="CeleryActorsClient"/> singleton over the connection that
    /// <see cref="AddCeleryActorsClient(AkkaConfigurationBuilder, CeleryActorsClientOptions)"/> started.</summary>
    public static IServiceCollection AddCeleryActorsClientService(this IServiceCollection services,
        CeleryActorsClientOptions options) =>
        services.AddSingleton(sp =>
            new CeleryActorsClient(sp.GetRequiredService<IRequiredActor<CeleryActorsClient>>().GetAsync(), options, null));
}
