using CeleryActors.Host.Logging;
using Xunit;

namespace CeleryActors.Tests.Node.Domain;

public class LogTextTests
{
    [Theory]
    [InlineData("worker\r\nINFO forged line", "worker\\u000d\\u000aINFO forged line")]
    [InlineData("\u001b[31mred\u001b[0m", "\\u001b[31mred\\u001b[0m")]
    [InlineData("a\u2028b\u2029c\u0085d", "a\\u2028b\\u2029c\\u0085d")]
    [InlineData("evil\u202eexe.txt", "evil\\u202eexe.txt")]
    [InlineData("plain name@host:01 ünïcode", "plain name@host:01 ünïcode")]
    public void Control_and_line_breaking_characters_are_written_as_escapes(string text, string logged) =>
        Assert.Equal(logged, LogText.Escape(text));
}
