using System.Net;
using System.Net.Sockets;

namespace CeleryActors.Redis;

/// <summary>Finds TCP ports on the loopback interface that nothing listens on.</summary>
public static class FreePort
{
    /// <summary>
    /// Asks the kernel for an ephemeral loopback port and releases it at once. Another process could take it
    /// before the caller binds it; callers that start servers retry on a bind failure.
    /// </summary>
    public static int Find()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
