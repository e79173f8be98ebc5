"""The seed's metrics calls, over the ``P + metrics`` channel of the process's shared allocator.

>>> from celeryactors.metrics import track_task_execution, update_queue_length, track_pubsub_message
>>> track_task_execution(task_name='process_data', queue='data_processing', duration=2.5, status='success')
>>> update_queue_length('data_processing', 42)
>>> track_pubsub_message('tasks:data_processing', 'task_published', 0.001)

Each call checks its arguments first (:class:`ValueError` for a message the node would reject) and raises
:class:`~celeryactors.NoListenerError` when no node heard it, unless ``require_listener=False``. For another
Redis or prefix than the environment's, use the same methods of an :class:`~celeryactors.Allocator`.
"""

from __future__ import annotations

from typing import Any, Optional

from .allocator import get_allocator

__all__ = ["track_pubsub_message", "track_task_execution", "update_queue_length"]


def track_task_execution(
    task_name: str,
    queue: str,
    duration: float,
    status: str = "success",
    exception: Any = None,
    *,
    require_listener: Optional[bool] = None,
) -> None:
    """Counts one execution of ``task_name`` on ``queue``: one start, one success (``status='success'``)
    or one failure (``status='failure'``, with ``exception``: the exception's type name, or the exception),
    and one observation of ``duration`` seconds in ``celery_task_duration_seconds``."""
    get_allocator().track_task_execution(
        task_name, queue, duration, status, exception, require_listener=require_listener
    )


def update_queue_length(queue: str, length: int, *, require_listener: Optional[bool] = None) -> None:
    """Sets ``celery_queue_length{queue, source="allocator"}`` to ``length`` (a whole number >= 0)."""
    get_allocator().update_queue_length(queue, length, require_listener=require_listener)


def track_pubsub_message(
    channel: str, message_type: str, latency: float, *, require_listener: Optional[bool] = None
) -> None:
    """Counts one message of ``message_type`` on ``channel`` in ``celery_redis_pubsub_messages_total`` and
    observes its ``latency`` (seconds) in ``celery_redis_pubsub_latency_seconds``."""
    get_allocator().track_pubsub_message(channel, message_type, latency, require_listener=require_listener)
