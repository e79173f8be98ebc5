using System.Buffers;
using System.Buffers.Text;
using System.IO.Pipelines;
using System.Text;

namespace CeleryActors.Redis;

/// <summary>What a frame of a pattern subscription is.</summary>
internal enum FrameKind { Message, Subscribed, Other }

/// <summary>The RESP side of one connection of a <see cref="FlowControlledSubscription"/>: commands out, frames in. The last message read is in
/// <see cref="Channel"/> and <see cref="Payload"/>.</summary>
internal sealed class RespConnection(Stream stream) : IAsyncDisposable
{
    private readonly PipeReader _reader = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 64 * 1024));
    private readonly SemaphoreSlim _writing = new(1, 1);
    // Channels repeat: each is decoded once, not a string per message.
    private readonly Dictionary<int, (byte[] Bytes, string Name)> _channelNames = [];

    public long LastRead = DateTime.UtcNow.Ticks;
    public volatile bool Holding;

    public string Channel { get; private set; } = "";

    public byte[] Payload { get; private set; } = [];

    public async Task SendAsync(string[] command, CancellationToken cancellation)
    {
        var text = new StringBuilder().Append('*').Append(command.Length).Append("\r\n");
        foreach (var part in command)
            text.Append('$').Append(Encoding.UTF8.GetByteCount(part)).Append("\r\n").Append(part).Append("\r\n");
        var bytes = Encoding.UTF8.GetBytes(text.ToString());
        await _writing.WaitAsync(cancellation).ConfigureAwait(false);
        try
        {
            await stream.WriteAsync(bytes, cancellation).ConfigureAwait(false);
            await stream.FlushAsync(cancellation).ConfigureAwait(false);
        }
        finally
        {
            _writing.Release();
        }
    }

    /// <summary>Reads a simple reply: <c>+OK</c> is true, <c>-ERR ...</c> false.</summary>
    public async Task<(bool Ok, string Text)> ReadSimpleReplyAsync(CancellationToken cancellation)
    {
        while (true)
        {
            var result = await _reader.ReadAsync(cancellation).ConfigureAwait(false);
            var reader = new SequenceReader<byte>(result.Buffer);
            if (reader.TryReadTo(out ReadOnlySequence<byte> line, "\r\n"u8))
            {
                var text = Encoding.UTF8.GetString(line);
                _reader.AdvanceTo(reader.Position);
                return (text.StartsWith('+'), text);
            }
            if (result.IsCompleted) throw new IOException("connection closed by Redis");
            _reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }

    /// <summary>Reads one push frame (an array of bulk strings and integers).</summary>
    public async Task<FrameKind> ReadFrameAsync(CancellationToken cancellation)
    {
        while (true)
        {
            var result = await _reader.ReadAsync(cancellation).ConfigureAwait(false);
            Volatile.Write(ref LastRead, DateTime.UtcNow.Ticks);
            var buffer = result.Buffer;
            if (TryParse(ref buffer, out var kind))
            {
                _reader.AdvanceTo(buffer.Start);
                return kind;
            }
            if (result.IsCompleted) throw new IOException("connection closed by Redis");
            _reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }

    private bool TryParse(ref ReadOnlySequence<byte> buffer, out FrameKind kind)
    {
        kind = FrameKind.Other;
        var reader = new SequenceReader<byte>(buffer);
        if (!reader.TryReadTo(out ReadOnlySpan<byte> header, "\r\n"u8)) return false;
        if (header.IsEmpty || header[0] != '*' || !Utf8Parser.TryParse(header[1..], out int count, out _) || count < 1)
            throw new IOException("unexpected reply from Redis: " + Encoding.UTF8.GetString(header));
        string? channel = null;
        byte[]? payload = null;
        for (var i = 0; i < count; i++)
        {
            if (!reader.TryReadTo(out ReadOnlySpan<byte> line, "\r\n"u8)) return false;
            if (line.IsEmpty) throw new IOException("empty line from Redis");
            if (line[0] == ':') continue;
            if (line[0] != '$' || !Utf8Parser.TryParse(line[1..], out int length, out _) || length < -1)
                throw new IOException("unexpected reply from Redis: " + Encoding.UTF8.GetString(line));
            if (length == -1) continue;
            if (reader.Remaining < length + 2) return false;
            var value = reader.UnreadSequence.Slice(0, length);
            if (i == 0)
                kind = Equals(value, "pmessage"u8) ? FrameKind.Message
                    : Equals(value, "psubscribe"u8) ? FrameKind.Subscribed
                    : FrameKind.Other;
            else if (kind == FrameKind.Message && i == 2) channel = ChannelName(value);
            else if (kind == FrameKind.Message && i == 3) payload = value.ToArray();
            reader.Advance(length + 2);
        }
        if (kind == FrameKind.Message && (channel is null || payload is null || count != 4))
            throw new IOException("a pmessage from Redis without its channel or payload");
        if (channel is not null) Channel = channel;
        if (payload is not null) Payload = payload;
        buffer = buffer.Slice(reader.Position);
        return true;
    }

    private string ChannelName(ReadOnlySequence<byte> value)
    {
        var bytes = value.IsSingleSegment ? value.FirstSpan : value.ToArray();
        var hash = new HashCode();
        hash.AddBytes(bytes);
        var key = hash.ToHashCode();
        if (_channelNames.TryGetValue(key, out var known) && bytes.SequenceEqual(known.Bytes)) return known.Name;
        var name = Encoding.UTF8.GetString(bytes);
        if (_channelNames.Count < 1024) _channelNames[key] = (bytes.ToArray(), name);
        return name;
    }

    private static bool Equals(ReadOnlySequence<byte> value, ReadOnlySpan<byte> expected) =>
        value.IsSingleSegment ? value.FirstSpan.SequenceEqual(expected) : value.ToArray().AsSpan().SequenceEqual(expected);

    /// <summary>Closes the connection under a read that waits, which then fails.</summary>
    public void Abort() => stream.Dispose();

    public async ValueTask DisposeAsync()
    {
        await _reader.CompleteAsync().ConfigureAwait(false);
        await stream.DisposeAsync().ConfigureAwait(false);
        _writing.Dispose();
    }
}
