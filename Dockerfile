# The CeleryActors host node (src/Host): built with the .NET 10 SDK, run on the ASP.NET Core 10 runtime.
#   docker build -t celery-actors .
#   docker run -e REDIS_URL=redis://my-redis:6379/0 -p 9540:9540 celery-actors
# In a container set REDIS_URL: the runtime image has no redis-server to start a private one.

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
# Project files first, so the package restore is cached until a project's dependencies change.
COPY global.json Directory.Build.props Directory.Packages.props ./
COPY src/Messages/Messages.csproj src/Messages/
COPY src/Protocol/Protocol.csproj src/Protocol/
COPY src/Redis/Redis.csproj src/Redis/
COPY src/Persistence.Redis/Persistence.Redis.csproj src/Persistence.Redis/
COPY src/Actors/Actors.csproj src/Actors/
COPY src/Host/Host.csproj src/Host/
RUN dotnet restore src/Host/Host.csproj
COPY hocon/ hocon/
COPY src/ src/
RUN dotnet publish src/Host/Host.csproj -c Release --no-restore -o /app -p:UseAppHost=false

FROM mcr.microsoft.com/dotnet/aspnet:10.0
WORKDIR /app
COPY --from=build /app ./
ENV METRICS_HOST=0.0.0.0 \
    METRICS_PORT=9540 \
    CLUSTER_PORT=4053
# 9540: /metrics, /health/*, /api/*; 4053: Akka.Remote (cluster)
EXPOSE 9540 4053
# The image's unprivileged user; with REDIS_URL set the node writes nothing to disk.
USER $APP_UID
ENTRYPOINT ["dotnet", "CeleryActors.Host.dll"]
