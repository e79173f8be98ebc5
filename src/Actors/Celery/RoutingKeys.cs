namespace CeleryActors.Actors.Celery;

/// <summary>The routing key of a Celery event channel (what follows its last <c>/</c>), kept for the last channel:
/// the feed hands the same string for the same channel, and events come on a few channels, so the key is not cut
/// out of every message's channel name again. Not thread-safe.</summary>
public sealed class RoutingKeys
{
    private string? _lastChannel;
    private string _lastKey = "";

    /// <summary>The routing key of <paramref name="channel"/>.</summary>
    public string Of(string channel)
    {
        if (ReferenceEquals(channel, _lastChannel)) return _lastKey;
        var slash = channel.LastIndexOf('/');
        _lastKey = slash >= 0 && slash + 1 < channel.Length ? channel[(slash + 1)..] : channel;
        _lastChannel = channel;
        return _lastKey;
    }
}
