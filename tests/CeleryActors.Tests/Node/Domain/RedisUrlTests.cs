using CeleryActors.Redis;
using Xunit;

namespace CeleryActors.Tests.Node.Domain;

public class RedisUrlTests
{
    [Theory]
    [InlineData("redis://localhost", "localhost", RedisUrl.DefaultPort, 0, null, null, false)]
    [InlineData("redis://127.0.0.1:7000/3", "127.0.0.1", 7000, 3, null, null, false)]
    [InlineData("redis://:s3cret@host:6380/1", "host", 6380, 1, null, "s3cret", false)]
    [InlineData("redis://user:p%40ss@host", "host", RedisUrl.DefaultPort, 0, "user", "p@ss", false)]
    [InlineData("rediss://host:6390", "host", 6390, 0, null, null, true)]
    public void Parses_good_urls(string text, string host, int port, int db, string? user, string? password, bool tls) =>
        Assert.Equal(new RedisUrl(host, port, db, user, password, tls), RedisUrl.Parse(text));

    [Theory]
    [InlineData("", "empty")]
    [InlineData("localhost:7000", "scheme")]
    [InlineData("http://host", "scheme")]
    [InlineData("redis://host:99999", "not a URL")]
    [InlineData("redis://host/abc", "database")]
    [InlineData("redis://host/-1", "database")]
    public void Says_what_is_wrong_with_bad_urls(string text, string expected)
    {
        Assert.False(RedisUrl.TryParse(text, out _, out var error));
        Assert.Contains(expected, error);
    }

    [Fact]
    public void Hides_the_password_when_printed() =>
        Assert.DoesNotContain("s3cret", RedisUrl.Parse("redis://:s3cret@host:6380/1").ToString());
}
