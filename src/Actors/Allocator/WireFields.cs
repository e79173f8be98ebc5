using System.Text.Json;
using CeleryActors.Messages.Allocator;
using CeleryActors.Messages.Subscription;

namespace CeleryActors.Actors.Allocator;

/// <summary>Why a field was refused: the reason label and a short detail naming the field.</summary>
/// <param name="Reason">The rejection reason.</param>
/// <param name="Detail">The detail.</param>
public readonly record struct WireError(RejectionReason Reason, string Detail);

/// <summary>
/// Field readers shared by the allocator's wire parsers (SPEC §4.1): each reads the value after a property name
/// from a forward-only <see cref="Utf8JsonReader"/> and either stores it or returns the error that rejects the
/// message. Names (worker, queue, task id, ...) are non-empty strings of at most
/// <see cref="MaxNameLength"/> characters, so they are safe as label values and keys.
/// </summary>
public static class WireFields
{
    /// <summary>Longest accepted name.</summary>
    public const int MaxNameLength = 256;

    /// <summary>Most capabilities or requirements one message may carry.</summary>
    public const int MaxCapabilities = 64;

    /// <summary>Reads a required non-empty, bounded string.</summary>
    public static WireError? Name(ref Utf8JsonReader reader, string field, ref string? target)
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.String)
        {
            reader.Skip();
            return new WireError(RejectionReason.WrongType, $"{field} is not a string");
        }
        var raw = reader.HasValueSequence ? reader.ValueSequence.Length : reader.ValueSpan.Length;
        if (raw > MaxNameLength * 6) return TooLong(field);
        var value = reader.GetString()!;
        if (value.Length == 0) return new WireError(RejectionReason.OutOfRange, $"{field} is empty");
        if (value.Length > MaxNameLength) return TooLong(field);
        target = value;
        return null;
    }

    /// <summary>Reads a finite number; null is allowed (and leaves the target unset) when <paramref name="nullable"/>.</summary>
    public static WireError? Number(ref Utf8JsonReader reader, string field, ref double? target, bool nullable = true)
    {
        reader.Read();
        if (reader.TokenType == JsonTokenType.Null && nullable) return null;
        if (reader.TokenType != JsonTokenType.Number)
        {
            reader.Skip();
            return new WireError(RejectionReason.WrongType, $"{field} is not a number");
        }
        if (!reader.TryGetDouble(out var value) || !double.IsFinite(value))
            return new WireError(RejectionReason.OutOfRange, $"{field} is not a finite number");
        target = value;
        return null;
    }

    /// <summary>Reads a whole number (a JSON number without fraction that fits 32 bits).</summary>
    public static WireError? Integer(ref Utf8JsonReader reader, string field, ref int? target)
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.Number)
        {
            reader.Skip();
            return new WireError(RejectionReason.WrongType, $"{field} is not a number");
        }
        if (reader.TryGetInt32(out var value))
        {
            target = value;
            return null;
        }
        // 9.0 and 9e0 are the integer 9 in JSON's number model (and what some JSON writers produce).
        if (!reader.TryGetDouble(out var d) || !double.IsFinite(d) || Math.Floor(d) != d)
            return new WireError(RejectionReason.WrongType, $"{field} is not a whole number");
        if (d is < int.MinValue or > int.MaxValue) return new WireError(RejectionReason.OutOfRange, $"{field} is too large");
        target = (int)d;
        return null;
    }

    /// <summary>Reads an object of name → number or string (capabilities, requirements).</summary>
    public static WireError? Capabilities(
        ref Utf8JsonReader reader, string field, ref Dictionary<string, CapabilityValue>? target)
    {
        reader.Read();
        if (reader.TokenType == JsonTokenType.Null) return null;
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            return new WireError(RejectionReason.WrongType, $"{field} is not an object");
        }
        var result = new Dictionary<string, CapabilityValue>(StringComparer.Ordinal);
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var name = reader.GetString()!;
            if (name.Length == 0 || name.Length > MaxNameLength)
                return new WireError(RejectionReason.OutOfRange, $"a name in {field} is empty or too long");
            reader.Read();
            switch (reader.TokenType)
            {
                case JsonTokenType.Number when reader.TryGetDouble(out var n) && double.IsFinite(n):
                    result[name] = CapabilityValue.Of(n);
                    break;
                case JsonTokenType.String:
                    var text = reader.GetString()!;
                    if (text.Length > MaxNameLength) return TooLong($"{field}.{name}");
                    result[name] = CapabilityValue.Of(text);
                    break;
                default:
                    reader.Skip();
                    return new WireError(RejectionReason.WrongType, $"{field}.{name} is neither a number nor a string");
            }
            if (result.Count > MaxCapabilities)
                return new WireError(RejectionReason.OutOfRange, $"{field} has more than {MaxCapabilities} entries");
        }
        target = result;
        return null;
    }

    /// <summary>Reads an array of distinct names: non-empty unless <paramref name="allowEmpty"/>, at most
    /// <paramref name="maxCount"/> (default <see cref="MaxCapabilities"/>).</summary>
    public static WireError? Names(ref Utf8JsonReader reader, string field, ref List<string>? target,
        bool allowEmpty = false, int maxCount = MaxCapabilities)
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            reader.Skip();
            return new WireError(RejectionReason.WrongType, $"{field} is not an array");
        }
        var result = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.String)
            {
                reader.Skip();
                return new WireError(RejectionReason.WrongType, $"an entry of {field} is not a string");
            }
            var value = reader.GetString()!;
            if (value.Length == 0 || value.Length > MaxNameLength)
                return new WireError(RejectionReason.OutOfRange, $"an entry of {field} is empty or too long");
            if (!seen.Add(value)) continue;
            result.Add(value);
            if (result.Count > maxCount)
                return new WireError(RejectionReason.OutOfRange, $"{field} has more than {maxCount} entries");
        }
        if (result.Count == 0 && !allowEmpty) return new WireError(RejectionReason.OutOfRange, $"{field} is empty");
        target = result;
        return null;
    }

    /// <summary>Skips an unknown field's value (forward compatibility).</summary>
    public static void Skip(ref Utf8JsonReader reader)
    {
        reader.Read();
        reader.Skip();
    }

    /// <summary>Runs <paramref name="readField"/> for every property of the top-level object, turning JSON
    /// errors into rejections.</summary>
    public static WireError? ReadObject<TFields>(ReadOnlySpan<byte> payload, ref TFields fields, FieldReader<TFields> readField)
        where TFields : struct
    {
        try
        {
            var reader = new Utf8JsonReader(payload, new JsonReaderOptions { MaxDepth = 64 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
                return new WireError(RejectionReason.NotAnObject, "the payload is not a JSON object");
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var error = readField(ref reader, ref fields);
                if (error is not null) return error;
            }
            if (reader.Read())
                return new WireError(RejectionReason.InvalidJson, "trailing data after the JSON object");
            return null;
        }
        catch (JsonException e)
        {
            return new WireError(RejectionReason.InvalidJson, $"not valid JSON ({e.Message})");
        }
        catch (InvalidOperationException e)
        {
            return new WireError(RejectionReason.InvalidJson, $"not valid UTF-8 JSON ({e.Message})");
        }
    }

    /// <summary>Reads one property (the reader is on its name) into <paramref name="fields"/>.</summary>
    public delegate WireError? FieldReader<TFields>(ref Utf8JsonReader reader, ref TFields fields) where TFields : struct;

    /// <summary>A missing-field error, or null when present.</summary>
    public static WireError? Missing(object? value, string field) =>
        value is null ? new WireError(RejectionReason.MissingField, $"{field} is missing") : null;

    /// <summary>Shortens a value quoted in a rejection detail.</summary>
    public static string Truncate(string value) => value.Length <= 64 ? value : value[..64] + "…";

    private static WireError TooLong(string field) =>
        new(RejectionReason.OutOfRange, $"{field} is longer than {MaxNameLength} characters");
}
