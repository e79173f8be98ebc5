using System.Buffers.Text;
using System.IO.Pipelines;
using System.Net.Security;
using System.Net.Sockets;

namespace CeleryActors.Redis;

/// <summary>What a <see cref="FlowControlledSubscription"/> reports, on its own task.</summary>
public interface IPubSubHandler
{
    /// <summary>The subscription is in place: the first time, or again after a lost connection
    /// (<paramref name="restored"/>).</summary>
    void Subscribed(bool restored);

    /// <summary>A message. The subscription reads nothing more until the returned task completes: that is the
    /// flow control (Redis holds what follows in its output buffer for this client).</summary>
    ValueTask Received(string channel, byte[] payload, CancellationToken cancellation);

    /// <summary>The connection was lost after it had subscribed; it is being made again.</summary>
    void Interrupted(string detail);

    /// <summary>The first connection or subscription failed; the subscription has stopped.</summary>
    void Failed(Exception cause);
}

/// <summary>
/// A pattern subscription on a connection of its own that reads from Redis no faster than its handler takes the
/// messages. StackExchange.Redis reads a subscription as fast as Redis sends into a queue without bound, so a
/// burst the consumer cannot keep up with ends in the consumer's memory (a 149 MiB backlog became 449 MiB of RSS,
/// or dropped messages). Here the backlog stays in Redis, whose <c>client-output-buffer-limit pubsub</c> is the
/// one place an operator bounds it. Speaks RESP2: <c>AUTH</c>, <c>PSUBSCRIBE</c>, and <c>PING</c> after 10 s of
/// silence; a connection silent for 30 s (while the handler is not holding a message) is given up. After a lost
/// connection it connects and subscribes again with back-off (0.5 s doubling to 5 s).
/// </summary>
public sealed class FlowControlledSubscription : IAsyncDisposable
{
    /// <summary>The connection's name in <c>CLIENT LIST</c>.</summary>
    public const string ClientName = "celeryactors-subscriber";

    private static readonly long IdlePing = 10 * TimeSpan.TicksPerSecond;
    private static readonly long Silence = 30 * TimeSpan.TicksPerSecond;
    private readonly RedisUrl _url;
    private readonly string _pattern;
    private readonly IPubSubHandler _handler;
    private readonly CancellationTokenSource _stop = new();
    private Task _run = Task.CompletedTask;

    private FlowControlledSubscription(RedisUrl url, string pattern, IPubSubHandler handler)
    {
        _url = url;
        _pattern = pattern;
        _handler = handler;
    }

    /// <summary>Connects to <paramref name="url"/> and subscribes to <paramref name="pattern"/> in the background.</summary>
    /// <param name="url">The Redis server.</param>
    /// <param name="pattern">A Redis glob pattern of channels.</param>
    /// <param name="handler">Told of the subscription and its messages, one at a time.</param>
    public static FlowControlledSubscription Start(RedisUrl url, string pattern, IPubSubHandler handler)
    {
        var subscription = new FlowControlledSubscription(url, pattern, handler);
        subscription._run = Task.Run(subscription.RunAsync);
        return subscription;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        try { await _run.ConfigureAwait(false); }
        catch (OperationCanceledException) { }
        _stop.Dispose();
    }

    private async Task RunAsync()
    {
        var everSubscribed = false;
        var backoff = TimeSpan.FromMilliseconds(500);
        while (!_stop.IsCancellationRequested)
        {
            var subscribed = false;
            try
            {
                await using var connection = await ConnectAsync(_stop.Token).ConfigureAwait(false);
                subscribed = true;
                backoff = TimeSpan.FromMilliseconds(500);
                _handler.Subscribed(restored: everSubscribed);
                everSubscribed = true;
                await ReadAsync(connection, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (!everSubscribed)
            {
                _handler.Failed(e);
                return;
            }
            catch (Exception e)
            {
                if (subscribed) _handler.Interrupted(e.GetBaseException().Message);
            }
            try { await Task.Delay(backoff, _stop.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
        }
    }

    private async Task<RespConnection> ConnectAsync(CancellationToken cancellation)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        timeout.CancelAfter(TimeSpan.FromSeconds(5));
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        RespConnection? connection = null;
        try
        {
            await socket.ConnectAsync(_url.Host, _url.Port, timeout.Token).ConfigureAwait(false);
            Stream stream = new NetworkStream(socket, ownsSocket: true);
            if (_url.UseTls)
            {
                var tls = new SslStream(stream, leaveInnerStreamOpen: false);
                stream = tls;
                await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = _url.Host }, timeout.Token)
                    .ConfigureAwait(false);
            }
            connection = new RespConnection(stream);
            if (_url.Password is { } password)
            {
                await connection.SendAsync(_url.User is { } user ? ["AUTH", user, password] : ["AUTH", password], timeout.Token)
                    .ConfigureAwait(false);
                var (ok, reply) = await connection.ReadSimpleReplyAsync(timeout.Token).ConfigureAwait(false);
                // A server without a password refuses AUTH as pointless; StackExchange.Redis carries on, and so do we.
                if (!ok && !reply.Contains("without any password configured", StringComparison.Ordinal))
                    throw new RedisCredentialsRefusedException(_url);
            }
            // Named, so that CLIENT LIST shows an operator whose output buffer holds a backlog.
            await connection.SendAsync(["CLIENT", "SETNAME", ClientName], timeout.Token).ConfigureAwait(false);
            await connection.ReadSimpleReplyAsync(timeout.Token).ConfigureAwait(false);
            await connection.SendAsync(["PSUBSCRIBE", _pattern], timeout.Token).ConfigureAwait(false);
            // The confirmation (*3 psubscribe pattern :1) comes before any message.
            if (await connection.ReadFrameAsync(timeout.Token).ConfigureAwait(false) != FrameKind.Subscribed)
                throw new IOException($"Redis did not confirm PSUBSCRIBE {_pattern}");
            return connection;
        }
        catch
        {
            if (connection is not null) await connection.DisposeAsync().ConfigureAwait(false);
            else socket.Dispose();
            throw;
        }
    }

    private async Task ReadAsync(RespConnection connection, CancellationToken cancellation)
    {
        using var watchdog = new CancellationTokenSource();
        var watching = WatchAsync(connection, watchdog.Token);
        try
        {
            while (true)
            {
                var kind = await connection.ReadFrameAsync(cancellation).ConfigureAwait(false);
                if (kind != FrameKind.Message) continue; // a pong or another confirmation
                connection.Holding = true;
                await _handler.Received(connection.Channel, connection.Payload, cancellation).ConfigureAwait(false);
                connection.Holding = false;
            }
        }
        finally
        {
            await watchdog.CancelAsync().ConfigureAwait(false);
            try { await watching.ConfigureAwait(false); }
            catch (OperationCanceledException) { }
        }
    }

    // Pings a quiet connection and gives up on a silent one; never while the handler holds a message, when the
    // quiet is ours.
    private static async Task WatchAsync(RespConnection connection, CancellationToken cancellation)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(2));
        var pinged = false;
        while (await timer.WaitForNextTickAsync(cancellation).ConfigureAwait(false))
        {
            var quiet = DateTime.UtcNow.Ticks - Volatile.Read(ref connection.LastRead);
            if (connection.Holding || quiet < IdlePing)
            {
                pinged = false;
                continue;
            }
            if (quiet > Silence)
            {
                connection.Abort();
                return;
            }
            if (!pinged)
            {
                pinged = true;
                await connection.SendAsync(["PING"], cancellation).ConfigureAwait(false);
            }
        }
    }
}
