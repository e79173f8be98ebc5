using Akka.Configuration;

namespace CeleryActors.Persistence.Redis.Tests.Infrastructure;

/// <summary>The actor-system config of the plugin tests, pointing both plugins at the fixture's server.</summary>
public static class TestConfig
{
    public static Config For(RedisFixture redis, string extra = "") =>
        ConfigurationFactory.ParseString($$"""
            akka.loglevel = INFO
            akka.test.single-expect-default = 10s
            akka.persistence.publish-plugin-commands = on
            akka.persistence.journal.plugin = "akka.persistence.journal.redis"
            akka.persistence.snapshot-store.plugin = "akka.persistence.snapshot-store.redis"
            akka.persistence.journal.redis {
              configuration-string = "{{redis.ConnectionString}}"
              replay-batch-size = 7
              # fail fast in tests; the reset timeout keeps outage tests short
              circuit-breaker { max-failures = 5, call-timeout = 5s, reset-timeout = 1s }
            }
            akka.persistence.snapshot-store.redis {
              configuration-string = "{{redis.ConnectionString}}"
              circuit-breaker { max-failures = 5, call-timeout = 5s, reset-timeout = 1s }
            }
            akka.actor {
              serializers {
                test-payload = "CeleryActors.Persistence.Redis.Tests.Infrastructure.TestPayloadSerializer, CeleryActors.Persistence.Redis.Tests"
                failing = "CeleryActors.Persistence.Redis.Tests.Infrastructure.FailingSerializer, CeleryActors.Persistence.Redis.Tests"
                manifest = "CeleryActors.Persistence.Redis.Tests.Infrastructure.ManifestSerializer, CeleryActors.Persistence.Redis.Tests"
                string-manifest = "CeleryActors.Persistence.Redis.Tests.Infrastructure.StringManifestSerializer, CeleryActors.Persistence.Redis.Tests"
              }
              serialization-bindings {
                "CeleryActors.Persistence.Redis.Tests.Infrastructure.TestPayload, CeleryActors.Persistence.Redis.Tests" = test-payload
                "CeleryActors.Persistence.Redis.Tests.Infrastructure.NotSerializable, CeleryActors.Persistence.Redis.Tests" = failing
                "CeleryActors.Persistence.Redis.Tests.Infrastructure.ManifestPayload, CeleryActors.Persistence.Redis.Tests" = manifest
                "CeleryActors.Persistence.Redis.Tests.Infrastructure.StringManifestPayload, CeleryActors.Persistence.Redis.Tests" = string-manifest
              }
            }
            {{extra}}
            """).WithFallback(RedisPersistence.DefaultConfig());
}
