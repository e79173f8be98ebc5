"""The node's limits and the field checks every message builder of :mod:`celeryactors.wire` applies.

Each check returns the value as it goes on the wire (plain int/float/str, lists, dicts) or raises
:class:`ValueError` naming the field, with the same rules as the host node's parsers.
"""

from __future__ import annotations

import math
import numbers
import operator
import time
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Union

#: Longest name (task, queue, worker, task id, exception, channel, ...) the node accepts, counted in UTF-16
#: code units as the node counts them.
MAX_NAME_LENGTH = 256
#: Most entries in one ``capabilities`` or ``requires`` object, or in one ``queues`` list.
MAX_CAPABILITIES = 64
#: Largest ``pool_size`` the node accepts.
MAX_POOL_SIZE = 100_000
#: Most task ids in one heartbeat's ``running`` list.
MAX_RUNNING = 100_000
#: Deepest nesting of JSON objects and arrays the node reads; the message object itself is the first level.
MAX_JSON_DEPTH = 64
#: The node's default ``MAX_PAYLOAD_BYTES``: larger payloads are rejected unread.
DEFAULT_MAX_PAYLOAD_BYTES = 1_048_576
#: The priority of a task that names none (0-9, 9 most urgent).
DEFAULT_PRIORITY = 5
#: The longest duration (``duration``, ``runtime``, ``latency``) the node takes as a measurement: 30 days. It is
#: also how far in the past a ``published_at`` may be.
MAX_SECONDS = 30 * 24 * 3600
#: How far ahead of the clock a ``published_at`` may be: a day.
MAX_FUTURE_SECONDS = 24 * 3600
#: The values of ``status`` on ``task-status``.
TASK_STATUSES = ("received", "started", "succeeded", "failed")
#: The largest count the node takes (a ``length``): 2^53, beyond which a double no longer holds every whole number.
MAX_COUNT = 2**53

#: A capability or requirement value: a number (met by a capability >= it) or a string (met by an equal one).
CapabilityValue = Union[int, float, str]


def _utf16_length(value: str) -> int:
    # The node counts .NET string length, where a character outside the BMP takes two units.
    return len(value.encode("utf-16-le", "surrogatepass")) // 2


def check_name(value: Any, field: str) -> str:
    """Checks a name field: a non-empty string of at most :data:`MAX_NAME_LENGTH` characters."""
    if not isinstance(value, str):
        raise ValueError(f"{field} must be a string, got {type(value).__name__}")
    if not value:
        raise ValueError(f"{field} must not be empty")
    _check_utf8(value, field)
    if _utf16_length(value) > MAX_NAME_LENGTH:
        raise ValueError(f"{field} is longer than {MAX_NAME_LENGTH} characters")
    return value


def _check_utf8(value: str, field: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{field} is not valid Unicode text (lone surrogate)") from None


def check_number(value: Any, field: str, minimum: Optional[float] = None) -> Union[int, float]:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{field} must be a number, got {type(value).__name__}")
    try:
        as_float = float(value)
    except (OverflowError, ValueError):
        raise ValueError(f"{field} must be a finite number") from None
    if not math.isfinite(as_float):
        raise ValueError(f"{field} must be a finite number, got {value!r}")
    if minimum is not None and as_float < minimum:
        raise ValueError(f"{field} must be >= {minimum}, got {value!r}")
    return int(value) if isinstance(value, numbers.Integral) else as_float


def check_int(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{field} must be a whole number, got bool")
    try:
        number = operator.index(value)
    except TypeError:
        raise ValueError(f"{field} must be a whole number, got {type(value).__name__} {value!r}") from None
    if not low <= number <= high:
        raise ValueError(f"{field} must be within {low}-{high}, got {number}")
    return number


def check_capabilities(value: Any, field: str) -> Optional[Dict[str, CapabilityValue]]:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValueError(f"{field} must be a mapping of name to number or string, got {type(value).__name__}")
    if len(value) > MAX_CAPABILITIES:
        raise ValueError(f"{field} has more than {MAX_CAPABILITIES} entries")
    result: Dict[str, CapabilityValue] = {}
    for name, item in value.items():
        check_name(name, f"a name in {field}")
        if isinstance(item, str):
            _check_utf8(item, f"{field}[{name!r}]")
            if _utf16_length(item) > MAX_NAME_LENGTH:
                raise ValueError(f"{field}[{name!r}] is longer than {MAX_NAME_LENGTH} characters")
            result[name] = item
        elif isinstance(item, bool) or not isinstance(item, numbers.Real):
            raise ValueError(f"{field}[{name!r}] must be a number or a string, got {type(item).__name__}")
        else:
            result[name] = check_number(item, f"{field}[{name!r}]")
    return result


def check_names(
    value: Any, field: str, allow_empty: bool = False, max_count: int = MAX_CAPABILITIES
) -> List[str]:
    # A bare string is iterable too, and 'abc' as ['a', 'b', 'c'] is never what the caller meant.
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ValueError(f"{field} must be a list of strings, got {type(value).__name__}")
    result: List[str] = []
    seen = set()
    for item in value:
        check_name(item, f"an entry of {field}")
        if item in seen:
            continue  # the node ignores repeats too
        seen.add(item)
        result.append(item)
        if len(result) > max_count:
            raise ValueError(f"{field} has more than {max_count} entries")
    if not result and not allow_empty:
        raise ValueError(f"{field} must name at least one entry")
    return result


def json_depth_exceeds(value: Any, limit: int) -> bool:
    # Iterative, so deep data costs no Python recursion; called after json.dumps, so there are no cycles.
    containers = (dict, list, tuple)
    stack: List[Tuple[Any, int]] = [(value, 1)] if isinstance(value, containers) else []
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children: Iterable[Any] = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, containers))
    return False


def check_duration(value: Any, field: str) -> Union[int, float]:
    """Checks a duration in seconds: a number from 0 to :data:`MAX_SECONDS`, as the node bounds what goes into
    its histograms."""
    seconds = check_number(value, field, minimum=0)
    if seconds > MAX_SECONDS:
        raise ValueError(f"{field} is more than 30 days, got {value!r}")
    return seconds


def stamped(message: Dict[str, Any], published_at: Optional[float]) -> Dict[str, Any]:
    """``message`` with its ``published_at`` (checked: from 30 days ago to a day ahead of this clock, the node's
    window), when there is one."""
    if published_at is not None:
        at = float(check_number(published_at, "published_at"))
        now = time.time()
        if at > now + MAX_FUTURE_SECONDS:
            raise ValueError(f"published_at is more than a day from now, got {published_at!r}")
        if at < now - MAX_SECONDS:
            raise ValueError(f"published_at is more than 30 days ago, got {published_at!r}")
        message["published_at"] = at
    return message


def exception_name(exception: Any) -> str:
    """The exception label of a failure: the type name of an exception (instance or class), or a string."""
    if isinstance(exception, BaseException):
        return type(exception).__name__
    if isinstance(exception, type) and issubclass(exception, BaseException):
        return exception.__name__
    return check_name(exception, "exception")
