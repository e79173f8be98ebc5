namespace CeleryActors.Actors.Subscription;

/// <summary>
/// Lets through at most a few log lines per second, so a flood of bad input is still logged with its reasons but
/// cannot drown the log (the metrics count every one). Not thread-safe: one owner, such as one actor.
/// </summary>
/// <param name="perSecond">Lines allowed per second.</param>
public sealed class LogThrottle(int perSecond = 20)
{
    private long _windowStart = Environment.TickCount64;
    private int _inWindow;
    private long _suppressed;

    /// <summary>
    /// Whether the next line may be logged; when true, <paramref name="suppressed"/> says how many lines were held
    /// back since the last one that passed.
    /// </summary>
    public bool TryAcquire(out long suppressed)
    {
        var now = Environment.TickCount64;
        if (now - _windowStart >= 1000)
        {
            _windowStart = now;
            _inWindow = 0;
        }
        if (_inWindow < perSecond)
        {
            _inWindow++;
            suppressed = _suppressed;
            _suppressed = 0;
            return true;
        }
        _suppressed++;
        suppressed = 0;
        return false;
    }
}
