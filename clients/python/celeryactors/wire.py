"""Wire format version 1: channel names, message shapes and the node's validation rules.

Every builder here checks its arguments with the same rules as the host node's parsers and raises
:class:`ValueError` naming the field, so a message the node would reject is never sent. The builders return
plain dicts (the JSON objects of the wire format); :func:`encode` turns one into the bytes that are published.
"""

from __future__ import annotations

import json
import math
import numbers
import operator
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

__all__ = [
    "CapabilityValue",
    "Channels",
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "DEFAULT_PRIORITY",
    "MAX_CAPABILITIES",
    "MAX_JSON_DEPTH",
    "MAX_NAME_LENGTH",
    "MAX_POOL_SIZE",
    "TASK_STATUSES",
    "Task",
    "check_name",
    "encode",
    "exception_name",
    "heartbeat_message",
    "parse_assignment",
    "pubsub_message_message",
    "queue_length_message",
    "register_message",
    "task_execution_message",
    "task_message",
    "task_status_message",
    "unregister_message",
]

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
#: The values of ``status`` on ``task-status``.
TASK_STATUSES = ("received", "started", "succeeded", "failed")
_MAX_INT32 = 2**31 - 1
_MAX_INT64 = 2**63 - 1

#: A capability or requirement value: a number (met by a capability >= it) or a string (met by an equal one).
CapabilityValue = Union[int, float, str]


class Channels:
    """The channel names of wire format v1, each behind the prefix ``ALLOCATOR_CHANNEL_PREFIX``.

    >>> Channels("prod.").tasks("payments")
    'prod.tasks:payments'
    """

    __slots__ = ("prefix",)

    def __init__(self, prefix: str = "") -> None:
        if not isinstance(prefix, str):
            raise ValueError(f"the channel prefix must be a string, got {type(prefix).__name__}")
        #: The prefix every channel name starts with (empty by default).
        self.prefix = prefix

    def tasks(self, queue: str) -> str:
        """The channel (and durable stream) producers publish a queue's tasks on: ``P + tasks:{queue}``."""
        return f"{self.prefix}tasks:{queue}"

    def worker(self, worker: str) -> str:
        """The channel the node sends a worker's assignments on: ``P + worker:{worker}``."""
        return f"{self.prefix}worker:{worker}"

    @property
    def workers_control(self) -> str:
        """Where workers register, heartbeat and unregister: ``P + workers:control``."""
        return f"{self.prefix}workers:control"

    @property
    def task_status(self) -> str:
        """Where workers report received/started/succeeded/failed: ``P + task-status``."""
        return f"{self.prefix}task-status"

    @property
    def metrics(self) -> str:
        """The metrics channel: ``P + metrics``."""
        return f"{self.prefix}metrics"

    def __repr__(self) -> str:
        return f"Channels(prefix={self.prefix!r})"


# ---------------------------------------------------------------------------------------------------------
# Field checks. Each returns the value as it goes on the wire (plain int/float/str, lists, dicts).


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


def _check_number(value: Any, field: str, minimum: Optional[float] = None) -> Union[int, float]:
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


def _check_int(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{field} must be a whole number, got bool")
    try:
        number = operator.index(value)
    except TypeError:
        raise ValueError(f"{field} must be a whole number, got {type(value).__name__} {value!r}") from None
    if not low <= number <= high:
        raise ValueError(f"{field} must be within {low}-{high}, got {number}")
    return number


def _check_capabilities(value: Any, field: str) -> Optional[Dict[str, CapabilityValue]]:
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
            result[name] = _check_number(item, f"{field}[{name!r}]")
    return result


def _check_names(
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


def _json_depth_exceeds(value: Any, limit: int) -> bool:
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


def _stamped(message: Dict[str, Any], published_at: Optional[float]) -> Dict[str, Any]:
    """``message`` with its ``published_at`` (checked), when there is one."""
    if published_at is not None:
        message["published_at"] = float(_check_number(published_at, "published_at"))
    return message


def exception_name(exception: Any) -> str:
    """The exception label of a failure: the type name of an exception (instance or class), or a string."""
    if isinstance(exception, BaseException):
        return type(exception).__name__
    if isinstance(exception, type) and issubclass(exception, BaseException):
        return exception.__name__
    return check_name(exception, "exception")


def encode(message: Mapping[str, Any], max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES) -> bytes:
    """The UTF-8 JSON bytes of a message, or :class:`ValueError` if the node could not read them.

    Refuses what is not JSON (NaN, infinity, objects json cannot encode, cycles), nesting deeper than the
    node reads (:data:`MAX_JSON_DEPTH`) and payloads over ``max_payload_bytes``.
    """
    try:
        text = json.dumps(message, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError) as error:
        raise ValueError(f"the message is not JSON-serialisable: {error}") from None
    try:
        payload = text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("the message holds text that is not valid Unicode (a lone surrogate)") from None
    if _json_depth_exceeds(message, MAX_JSON_DEPTH):
        raise ValueError(f"the message nests objects and arrays deeper than {MAX_JSON_DEPTH} levels")
    if len(payload) > max_payload_bytes:
        raise ValueError(f"the message is {len(payload)} bytes, over the node's limit of {max_payload_bytes}")
    return payload


# ---------------------------------------------------------------------------------------------------------
# Messages.


def task_message(
    task_name: str,
    task_id: str,
    task_data: Any = None,
    priority: int = DEFAULT_PRIORITY,
    requires: Optional[Mapping[str, CapabilityValue]] = None,
    published_at: Optional[float] = None,
) -> Dict[str, Any]:
    """A task for ``P + tasks:{queue}``.

    ``task_data`` is any JSON value (default null); ``priority`` 0-9; ``requires`` maps capability names to a
    number (met by a capability >= it) or a string (met by an equal one); ``published_at`` is Unix seconds.
    Optional fields left as None are omitted. The data's JSON-ness is checked by :func:`encode`.
    """
    message: Dict[str, Any] = {
        "task_name": check_name(task_name, "task_name"),
        "task_id": check_name(task_id, "task_id"),
        "priority": _check_int(priority, "priority", 0, 9),
        "task_data": task_data,
    }
    checked = _check_capabilities(requires, "requires")
    if checked:
        message["requires"] = checked
    return _stamped(message, published_at)


def register_message(
    worker: str,
    queues: Sequence[str],
    pool_size: int,
    capabilities: Optional[Mapping[str, CapabilityValue]] = None,
    instance: Optional[str] = None,
    published_at: Optional[float] = None,
) -> Dict[str, Any]:
    """A ``register`` for ``P + workers:control``: the worker, its queues (at least one), its pool size
    (1-100,000, bounding its unfinished tasks over all its queues), capabilities and the process instance."""
    message: Dict[str, Any] = {
        "type": "register",
        "worker": check_name(worker, "worker"),
        "queues": _check_names(queues, "queues"),
        "pool_size": _check_int(pool_size, "pool_size", 1, MAX_POOL_SIZE),
    }
    checked = _check_capabilities(capabilities, "capabilities")
    if checked is not None:
        message["capabilities"] = checked
    if instance is not None:
        message["instance"] = check_name(instance, "instance")
    return _stamped(message, published_at)


def heartbeat_message(
    worker: str, running: Optional[Iterable[str]] = None, published_at: Optional[float] = None
) -> Dict[str, Any]:
    """A ``heartbeat`` for ``P + workers:control``; ``running`` lists the task ids the worker holds (a task
    held longer than the ack timeout and not listed goes back to its queue). None omits the list."""
    message: Dict[str, Any] = {"type": "heartbeat", "worker": check_name(worker, "worker")}
    if running is not None:
        message["running"] = _check_names(running, "running", allow_empty=True, max_count=MAX_RUNNING)
    return _stamped(message, published_at)


def unregister_message(worker: str, published_at: Optional[float] = None) -> Dict[str, Any]:
    """An ``unregister`` for ``P + workers:control``: what the worker holds goes back to its queues."""
    message: Dict[str, Any] = {"type": "unregister", "worker": check_name(worker, "worker")}
    return _stamped(message, published_at)


def task_status_message(
    task_id: str,
    worker: str,
    status: str,
    runtime: Optional[float] = None,
    exception: Any = None,
    queue: Optional[str] = None,
    published_at: Optional[float] = None,
) -> Dict[str, Any]:
    """A report for ``P + task-status``: ``status`` is one of :data:`TASK_STATUSES`; ``runtime`` (seconds,
    >= 0) goes with succeeded/failed, ``exception`` (a type name, or an exception whose type names it) with
    failed; ``queue`` names the task's queue (two queues may share a task id)."""
    if status not in TASK_STATUSES:
        raise ValueError(f"status must be one of {', '.join(TASK_STATUSES)}, got {status!r}")
    message: Dict[str, Any] = {
        "task_id": check_name(task_id, "task_id"),
        "worker": check_name(worker, "worker"),
        "status": status,
    }
    if queue is not None:
        message["queue"] = check_name(queue, "queue")
    finished = status in ("succeeded", "failed")
    if runtime is not None:
        if not finished:
            raise ValueError(f"runtime goes with succeeded or failed, not {status}")
        message["runtime"] = float(_check_number(runtime, "runtime", minimum=0))
    if exception is not None:
        if status != "failed":
            raise ValueError(f"exception goes with failed, not {status}")
        message["exception"] = exception_name(exception)
    return _stamped(message, published_at)


def task_execution_message(
    task_name: str,
    queue: str,
    duration: float,
    status: str = "success",
    exception: Any = None,
    published_at: Optional[float] = None,
) -> Dict[str, Any]:
    """A ``task_execution`` for ``P + metrics``: one start, one success or failure, one duration observation.
    ``status`` is ``success`` or ``failure``; a failure needs ``exception`` (a type name or an exception)."""
    if status not in ("success", "failure"):
        raise ValueError(f"status must be 'success' or 'failure', got {status!r}")
    message: Dict[str, Any] = {
        "type": "task_execution",
        "task_name": check_name(task_name, "task_name"),
        "queue": check_name(queue, "queue"),
        "duration": _check_number(duration, "duration", minimum=0),
        "status": status,
    }
    if status == "failure":
        if exception is None:
            raise ValueError("a failure needs exception (the exception's type name)")
        message["exception"] = exception_name(exception)
    elif exception is not None:
        raise ValueError("exception goes with status 'failure'")
    return _stamped(message, published_at)


def queue_length_message(queue: str, length: int, published_at: Optional[float] = None) -> Dict[str, Any]:
    """A ``queue_length`` for ``P + metrics``: sets the queue's ``celery_queue_length`` gauge."""
    message: Dict[str, Any] = {
        "type": "queue_length",
        "queue": check_name(queue, "queue"),
        "length": _check_int(length, "length", 0, _MAX_INT64),
    }
    return _stamped(message, published_at)


def pubsub_message_message(
    channel: str, message_type: str, latency: float, published_at: Optional[float] = None
) -> Dict[str, Any]:
    """A ``pubsub_message`` for ``P + metrics``: counts one message of ``message_type`` on ``channel`` and
    observes its latency (seconds, >= 0)."""
    message: Dict[str, Any] = {
        "type": "pubsub_message",
        "channel": check_name(channel, "channel"),
        "message_type": check_name(message_type, "message_type"),
        "latency": _check_number(latency, "latency", minimum=0),
    }
    return _stamped(message, published_at)


# ---------------------------------------------------------------------------------------------------------
# Assignments (node -> worker).


@dataclass(frozen=True)
class Task:
    """One assignment the node sent to a worker: what the handler of a :class:`~celeryactors.Worker` gets.

    ``task_data`` is the producer's JSON value, decoded; ``attempt`` is 1 on first delivery and more after a
    redelivery (the same ``task_id``: a handler that must not run twice can check it); ``allocated_at`` is
    Unix seconds, or None when the node sent none.
    """

    task_id: str
    task_name: str
    queue: str
    task_data: Any = None
    priority: int = DEFAULT_PRIORITY
    attempt: int = 1
    allocated_at: Optional[float] = None


def parse_assignment(payload: Union[bytes, str]) -> Optional[Task]:
    """Reads a message of a worker's channel: the :class:`Task` of an ``assignment``, None for another
    message type (forward compatibility), :class:`ValueError` for one that is not an assignment's shape."""
    try:
        message = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"not JSON: {error}") from None
    if not isinstance(message, dict):
        raise ValueError("not a JSON object")
    if message.get("type") != "assignment":
        return None
    for field in ("task_id", "task_name", "queue"):
        if not isinstance(message.get(field), str) or not message[field]:
            raise ValueError(f"{field} is missing or not a string")
    priority = message.get("priority", DEFAULT_PRIORITY)
    attempt = message.get("attempt", 1)
    allocated_at = message.get("allocated_at")
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise ValueError("priority is not a whole number")
    if isinstance(attempt, bool) or not isinstance(attempt, int):
        raise ValueError("attempt is not a whole number")
    if allocated_at is not None and (isinstance(allocated_at, bool) or not isinstance(allocated_at, (int, float))):
        raise ValueError("allocated_at is not a number")
    return Task(
        task_id=message["task_id"],
        task_name=message["task_name"],
        queue=message["queue"],
        task_data=message.get("task_data"),
        priority=priority,
        attempt=attempt,
        allocated_at=None if allocated_at is None else float(allocated_at),
    )
