using System.Threading.Channels;
using Akka.Streams;
using Akka.Streams.Dsl;
using Prometheus;

namespace CeleryActors.Actors.Metrics;

/// <summary>One value to observe into one histogram series.</summary>
/// <param name="Series">The histogram series (labels already resolved and bounded).</param>
/// <param name="Value">The value, in seconds.</param>
public readonly record struct Observation(Histogram.Child Series, double Value);

/// <summary>Sizes of the observation pipeline.</summary>
/// <param name="BufferSize">Observations held while the stream catches up; past this they are dropped and counted.</param>
/// <param name="BatchSize">Observations recorded per batch at most.</param>
/// <param name="BatchWindow">How long a partial batch waits for more before it is recorded.</param>
public sealed record ObservationPipelineSettings(int BufferSize, int BatchSize, TimeSpan BatchWindow)
{
    /// <summary>65,536 buffered, batches of 1,024, 50 ms window.</summary>
    public static ObservationPipelineSettings Default { get; } = new(65_536, 1_024, TimeSpan.FromMilliseconds(50));
}

/// <summary>
/// The Akka.Streams pipeline that carries histogram observations into prometheus-net: a bounded buffer feeding
/// a stream that pulls on demand (back-pressure), groups observations into batches, and records each batch in
/// one go. Producers never block: when they outrun the stream and the buffer is full, the observation is
/// dropped and counted in <c>celery_observations_dropped_total</c>, so a scrape always shows what was lost.
/// Counters are not part of it: they are exact, recorded where the message is handled.
/// </summary>
public sealed class ObservationPipeline
{
    private readonly ChannelWriter<Observation> _writer;
    private readonly Counter _dropped;

    private ObservationPipeline(ChannelWriter<Observation> writer, Counter dropped, Task completion)
    {
        _writer = writer;
        _dropped = dropped;
        Completion = completion;
    }

    /// <summary>Completes when the stream has recorded every accepted observation after <see cref="Complete"/>.</summary>
    public Task Completion { get; }

    /// <summary>Builds and starts the pipeline on <paramref name="materializer"/>; it stops with that materializer.</summary>
    public static ObservationPipeline Start(
        ObservationPipelineSettings settings, Counter dropped, IMaterializer materializer)
    {
        var channel = Channel.CreateBounded<Observation>(new BoundedChannelOptions(settings.BufferSize)
        {
            FullMode = BoundedChannelFullMode.Wait, // TryWrite then fails instead of blocking: we count the drop
            SingleReader = true,
            SingleWriter = false,
        });
        var completion = ChannelSource.FromReader(channel.Reader)
            .GroupedWithin(settings.BatchSize, settings.BatchWindow)
            .RunWith(Sink.ForEach<IEnumerable<Observation>>(Record), materializer);
        return new ObservationPipeline(channel.Writer, dropped, completion);
    }

    /// <summary>Offers one observation; never blocks. When the buffer is full the observation is dropped and
    /// counted. Returns nothing on purpose: a bool result would make <c>Receive(m => Offer(...))</c> bind to the
    /// handler overload that reports the message unhandled whenever it is false.</summary>
    public void Offer(Histogram.Child series, double value)
    {
        if (!_writer.TryWrite(new Observation(series, value))) _dropped.Inc();
    }

    /// <summary>Lets the stream drain what it holds and finish.</summary>
    public void Complete() => _writer.TryComplete();

    private static void Record(IEnumerable<Observation> batch)
    {
        foreach (var observation in batch) observation.Series.Observe(observation.Value);
    }
}
