using System.Net.Sockets;
using System.Text;

namespace CeleryActors.Redis;

/// <summary>One inline command to a private server, without a client library: PING while it starts, SHUTDOWN to
/// stop it (a client library would reconnect, or wait for a reply that SHUTDOWN never sends).</summary>
internal static class RedisInlineCommand
{
    /// <summary>Sends <paramref name="command"/> (inline, CRLF-terminated) to the server on loopback port
    /// <paramref name="port"/>, and with <paramref name="expectReply"/> returns the start of its reply.</summary>
    public static async Task<string> SendAsync(int port, string command, bool expectReply,
        CancellationToken cancellationToken = default)
    {
        using var client = new TcpClient();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(2));
        await client.ConnectAsync("127.0.0.1", port, timeout.Token).ConfigureAwait(false);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(command), timeout.Token).ConfigureAwait(false);
        if (!expectReply) return string.Empty;
        var buffer = new byte[64];
        var read = await stream.ReadAsync(buffer, timeout.Token).ConfigureAwait(false);
        return Encoding.ASCII.GetString(buffer, 0, read);
    }
}
