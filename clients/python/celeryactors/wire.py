"""Wire format version 1: channel names, message shapes and the node's validation rules.

Every builder here checks its arguments with the same rules as the host node's parsers and raises
:class:`ValueError` naming the field, so a message the node would reject is never sent. The builders return
plain dicts (the JSON objects of the wire format); :func:`encode` turns one into the bytes that are published.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Iterable, Mapping, Optional, Sequence

from ._assignment import Task, parse_assignment
from ._checks import (
    CapabilityValue,
    DEFAULT_MAX_PAYLOAD_BYTES,
    DEFAULT_PRIORITY,
    MAX_CAPABILITIES,
    MAX_COUNT,
    MAX_JSON_DEPTH,
    MAX_NAME_LENGTH,
    MAX_POOL_SIZE,
    MAX_RUNNING,
    MAX_SECONDS,
    TASK_STATUSES,
    check_capabilities,
    check_duration,
    check_int,
    check_name,
    check_names,
    exception_name,
    json_depth_exceeds,
    stamped,
)

__all__ = [
    "CapabilityValue",
    "Channels",
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "DEFAULT_PRIORITY",
    "MAX_CAPABILITIES",
    "MAX_COUNT",
    "MAX_JSON_DEPTH",
    "MAX_NAME_LENGTH",
    "MAX_POOL_SIZE",
    "MAX_SECONDS",
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
    if json_depth_exceeds(message, MAX_JSON_DEPTH):
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
        "priority": check_int(priority, "priority", 0, 9),
        "task_data": task_data,
    }
    checked = check_capabilities(requires, "requires")
    if checked:
        message["requires"] = checked
    return stamped(message, published_at)


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
        "queues": check_names(queues, "queues"),
        "pool_size": check_int(pool_size, "pool_size", 1, MAX_POOL_SIZE),
    }
    checked = check_capabilities(capabilities, "capabilities")
    if checked is not None:
        message["capabilities"] = checked
    if instance is not None:
        message["instance"] = check_name(instance, "instance")
    return stamped(message, published_at)


def heartbeat_message(
    worker: str, running: Optional[Iterable[str]] = None, published_at: Optional[float] = None
) -> Dict[str, Any]:
    """A ``heartbeat`` for ``P + workers:control``; ``running`` lists the task ids the worker holds (a task
    held longer than the ack timeout and not listed goes back to its queue). None omits the list."""
    message: Dict[str, Any] = {"type": "heartbeat", "worker": check_name(worker, "worker")}
    if running is not None:
        message["running"] = check_names(running, "running", allow_empty=True, max_count=MAX_RUNNING)
    return stamped(message, published_at)


def unregister_message(worker: str, published_at: Optional[float] = None) -> Dict[str, Any]:
    """An ``unregister`` for ``P + workers:control``: what the worker holds goes back to its queues."""
    message: Dict[str, Any] = {"type": "unregister", "worker": check_name(worker, "worker")}
    return stamped(message, published_at)


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
        message["runtime"] = float(check_duration(runtime, "runtime"))
    if exception is not None:
        if status != "failed":
            raise ValueError(f"exception goes with failed, not {status}")
        message["exception"] = exception_name(exception)
    return stamped(message, published_at)


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
        "duration": check_duration(duration, "duration"),
        "status": status,
    }
    if status == "failure":
        if exception is None:
            raise ValueError("a failure needs exception (the exception's type name)")
        message["exception"] = exception_name(exception)
    elif exception is not None:
        raise ValueError("exception goes with status 'failure'")
    return stamped(message, published_at)


def queue_length_message(queue: str, length: int, published_at: Optional[float] = None) -> Dict[str, Any]:
    """A ``queue_length`` for ``P + metrics``: sets the queue's ``celery_queue_length`` gauge."""
    message: Dict[str, Any] = {
        "type": "queue_length",
        "queue": check_name(queue, "queue"),
        "length": check_int(length, "length", 0, MAX_COUNT),
    }
    return stamped(message, published_at)


def pubsub_message_message(
    channel: str, message_type: str, latency: float, published_at: Optional[float] = None
) -> Dict[str, Any]:
    """A ``pubsub_message`` for ``P + metrics``: counts one message of ``message_type`` on ``channel`` and
    observes its latency (seconds, >= 0)."""
    message: Dict[str, Any] = {
        "type": "pubsub_message",
        "channel": check_name(channel, "channel"),
        "message_type": check_name(message_type, "message_type"),
        "latency": check_duration(latency, "latency"),
    }
    return stamped(message, published_at)
