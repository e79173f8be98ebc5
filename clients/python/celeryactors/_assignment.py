"""Assignments (node -> worker): the :class:`Task` a worker's handler gets, read from its channel."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional, Union

from ._checks import DEFAULT_PRIORITY


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
