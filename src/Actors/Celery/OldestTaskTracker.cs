namespace CeleryActors.Actors.Celery;

/// <summary>
/// Estimates how long the oldest message of one broker list has been waiting, without any timestamp in the
/// message (Celery's messages carry none, and <c>task-sent</c> events are off by default). At every poll the
/// newest message (the head) is sampled with the time it was seen; the oldest message (the tail) arrived no
/// later than the oldest sample still in the list, so its age is at least the time since that sample. Samples
/// whose message has left the list are dropped. The figure is a lower bound with a resolution of one poll, and
/// a message already waiting when watching began counts from then. Not thread-safe: one poll at a time.
/// </summary>
/// <param name="maxSamples">Samples kept; past this the oldest are dropped (the estimate only gets lower).</param>
public sealed class OldestTaskTracker(int maxSamples = 64)
{
    private readonly LinkedList<(double SeenAt, byte[] Message)> _samples = new();

    /// <summary>Samples held now.</summary>
    public int SampleCount => _samples.Count;

    /// <summary>
    /// Takes one poll of the list and returns the age, in seconds, of its oldest message.
    /// </summary>
    /// <param name="now">The poll time, in seconds on a monotonic clock.</param>
    /// <param name="head">The newest message (index 0), or null when the list is empty.</param>
    /// <param name="tail">The oldest message (index -1), or null when the list is empty.</param>
    /// <param name="stillQueued">Whether a message is still in the list (LPOS).</param>
    public async Task<double> ObserveAsync(double now, byte[]? head, byte[]? tail, Func<byte[], Task<bool>> stillQueued)
    {
        if (head is null || tail is null)
        {
            _samples.Clear();
            return 0;
        }
        if (_samples.Last is not { } last || !last.Value.Message.AsSpan().SequenceEqual(head))
        {
            _samples.AddLast((now, head));
            if (_samples.Count > maxSamples) _samples.RemoveFirst();
        }
        // Drop samples whose message was consumed; the first one still queued (or the tail itself) bounds the age.
        while (_samples.First is { } first && _samples.Count > 1 && !first.Value.Message.AsSpan().SequenceEqual(tail))
        {
            if (await stillQueued(first.Value.Message).ConfigureAwait(false)) break;
            _samples.RemoveFirst();
        }
        return _samples.First is { } oldest ? Math.Max(0, now - oldest.Value.SeenAt) : 0;
    }
}
