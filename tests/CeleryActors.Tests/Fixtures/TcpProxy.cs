using System.Net;
using System.Net.Sockets;
using CeleryActors.Redis;

namespace CeleryActors.Tests.Fixtures;

/// <summary>
/// A loopback TCP proxy in front of one port, to cut a single client off from a server the others still reach:
/// <see cref="Cut"/> drops every connection and refuses new ones, <see cref="Restore"/> listens again on the same
/// port. Disposing it stops it for good.
/// </summary>
public sealed class TcpProxy : IDisposable
{
    private readonly int _target;
    private readonly object _gate = new();
    private readonly List<TcpClient> _connections = [];
    private TcpListener? _listener;

    /// <summary>Starts a proxy on a free loopback port that forwards to <paramref name="targetPort"/>.</summary>
    public TcpProxy(int targetPort)
    {
        _target = targetPort;
        Port = FreePort.Find();
        Restore();
    }

    /// <summary>The port clients connect to.</summary>
    public int Port { get; }

    /// <summary>Listens (again) and forwards new connections.</summary>
    public void Restore()
    {
        lock (_gate)
        {
            if (_listener is not null) return;
            var listener = new TcpListener(IPAddress.Loopback, Port);
            listener.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            listener.Start();
            _listener = listener;
            _ = AcceptAsync(listener);
        }
    }

    /// <summary>Stops listening and drops every connection, both ways.</summary>
    public void Cut()
    {
        lock (_gate)
        {
            _listener?.Stop();
            _listener = null;
            foreach (var connection in _connections) connection.Dispose();
            _connections.Clear();
        }
    }

    /// <inheritdoc />
    public void Dispose() => Cut();

    private async Task AcceptAsync(TcpListener listener)
    {
        while (true)
        {
            TcpClient client;
            try
            {
                client = await listener.AcceptTcpClientAsync();
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or InvalidOperationException)
            {
                return; // cut
            }
            var server = new TcpClient();
            try
            {
                await server.ConnectAsync(IPAddress.Loopback, _target);
            }
            catch (SocketException)
            {
                client.Dispose();
                server.Dispose();
                continue;
            }
            lock (_gate)
            {
                if (!ReferenceEquals(_listener, listener))
                {
                    client.Dispose();
                    server.Dispose();
                    return;
                }
                _connections.Add(client);
                _connections.Add(server);
            }
            _ = PipeAsync(client, server);
            _ = PipeAsync(server, client);
        }
    }

    private static async Task PipeAsync(TcpClient from, TcpClient to)
    {
        try
        {
            await from.GetStream().CopyToAsync(to.GetStream());
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or SocketException or InvalidOperationException)
        {
            // dropped by Cut, or closed by either side
        }
        finally
        {
            from.Dispose();
            to.Dispose();
        }
    }
}
