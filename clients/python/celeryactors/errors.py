"""The exceptions of the package. Argument errors are plain :class:`ValueError`; Redis errors (a refused
connection, a timeout) are redis-py's own, from :mod:`redis.exceptions`."""

from __future__ import annotations

from typing import Sequence, Tuple

__all__ = ["CeleryActorsError", "NoListenerError"]


class CeleryActorsError(Exception):
    """Base class of the package's own exceptions."""


class NoListenerError(CeleryActorsError):
    """A message was published and no subscriber heard it (Redis answered PUBLISH with 0): no host node is
    running on this Redis, or it runs with another ``ALLOCATOR_CHANNEL_PREFIX``. Pub/sub keeps nothing, so
    the message is gone; publishing it again with the same ids is safe (a repeated task id is a duplicate).

    ``channel`` is the first channel nobody heard; ``task_ids`` holds the ids of the tasks that were lost
    (empty for other messages); ``unheard`` counts the messages nobody heard.
    """

    def __init__(self, channel: str, task_ids: Sequence[str] = (), unheard: int = 1) -> None:
        self.channel = channel
        self.task_ids: Tuple[str, ...] = tuple(task_ids)
        self.unheard = unheard
        what = f"{unheard} messages" if unheard > 1 else "a message"
        super().__init__(
            f"no subscriber heard {what} on {channel!r}: is a host node running on this Redis with the "
            f"same ALLOCATOR_CHANNEL_PREFIX? (pass require_listener=False to publish anyway)"
        )
