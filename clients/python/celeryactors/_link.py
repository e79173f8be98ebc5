"""What a worker says to the nodes over Redis: its subscription, registration, heartbeats, reports and
unregistration."""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

import redis

from . import wire
from ._assignment import Task
from .connection import Connection, redact
from .wire import CapabilityValue

log = logging.getLogger("celeryactors.worker")

#: What a lost or stuck Redis connection raises; the worker retries them.
REDIS_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)
_WARN_EVERY_SECONDS = 10.0


class NodeLink:
    """One worker's side of wire format v1. Nothing here needs a listener, but a message no node heard is
    warned about (at most every 10 s), since it usually means a wrong Redis or channel prefix."""

    def __init__(
        self,
        connection: Connection,
        name: str,
        queues: Sequence[str],
        pool_size: int,
        capabilities: Optional[Mapping[str, CapabilityValue]],
    ) -> None:
        self._connection = connection
        self._channels = connection.channels
        self._name = name
        self._queues = list(queues)
        self._pool_size = pool_size
        self._capabilities: Optional[Dict[str, CapabilityValue]] = (
            None if capabilities is None else dict(capabilities))
        self._warned_at = 0.0

    @property
    def name(self) -> str:
        """The worker's name."""
        return self._name

    def subscribe(self) -> "redis.client.PubSub":
        """Subscribes to the worker's channel and returns once Redis confirmed it: registering before that
        could miss the first assignment."""
        pubsub = self._connection.redis.pubsub()
        channel = self._channels.worker(self._name)
        pubsub.subscribe(channel)
        deadline = time.monotonic() + max(self._connection.socket_timeout, 1.0)
        while time.monotonic() < deadline:
            message = pubsub.get_message(timeout=0.5)
            if message is not None and message.get("type") == "subscribe":
                return pubsub
        close_quietly(pubsub)
        raise redis.exceptions.TimeoutError(f"no confirmation of the subscription to {channel}")

    def register(self, instance: Optional[str]) -> bool:
        """Sends the registration; True when a node heard it."""
        message = wire.register_message(
            self._name, self._queues, self._pool_size, self._capabilities, instance, time.time())
        heard = self._send(self._channels.workers_control, message)
        if heard == 0:
            self._warn_unheard("its registration")
        else:
            log.info("worker %s registered (instance %s) for %s, pool %d", self._name, instance,
                     ", ".join(self._queues), self._pool_size)
        return heard > 0

    def heartbeat(self, running: List[str]) -> bool:
        """Sends a heartbeat listing the held task ids; False when no node heard it (one that never knew the
        worker needs a registration)."""
        heard = self._send(self._channels.workers_control, wire.heartbeat_message(self._name, running, time.time()))
        if heard == 0:
            self._warn_unheard("a heartbeat")
        return heard > 0

    def unregister(self) -> None:
        """Unregisters: what the worker still holds goes back to its queues at once."""
        try:
            self._send(self._channels.workers_control, wire.unregister_message(self._name, time.time()))
        except REDIS_ERRORS as error:
            log.warning("worker %s could not unregister (%s); the nodes will time it out", self._name, error)

    def report(
        self,
        task: Task,
        status: str,
        runtime: Optional[float] = None,
        exception: Optional[str] = None,
        attempts: int = 1,
    ) -> None:
        """Reports a task's status, trying up to ``attempts`` times with back-off; a report that cannot be sent
        is logged, never raised (the node's ack timeout covers a lost one)."""
        message = wire.task_status_message(
            task.task_id, self._name, status, runtime, exception, task.queue, time.time())
        delay = 0.2
        for attempt in range(attempts):
            try:
                if self._send(self._channels.task_status, message) == 0:
                    self._warn_unheard(f"the report {status} of {task.task_id}")
                return
            except REDIS_ERRORS as error:
                if attempt == attempts - 1:
                    log.error("worker %s could not report %s of %s: %s", self._name, status, task.task_id, error)
                    return
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _send(self, channel: str, message: Mapping[str, Any]) -> int:
        return self._connection._send(channel, message, require_listener=False)

    def _warn_unheard(self, what: str) -> None:
        now = time.monotonic()
        if now - self._warned_at >= _WARN_EVERY_SECONDS:
            self._warned_at = now
            log.warning("worker %s: no node heard %s (is a node running on %s with ALLOCATOR_CHANNEL_PREFIX %r?)",
                        self._name, what, redact(self._connection.redis_url), self._channels.prefix)


def close_quietly(pubsub: "redis.client.PubSub") -> None:
    """Closes a subscription whose connection may already be gone."""
    try:
        pubsub.close()
    except Exception:
        pass


class Session:
    """A worker's presence on the nodes across lost connections: a confirmed subscription to its channel, a
    registration after each (re)subscription and again until a node heard one, and a heartbeat listing the
    held tasks every ``heartbeat_interval``."""

    def __init__(
        self,
        link: NodeLink,
        instance: Optional[str],
        heartbeat_interval: float,
        held_ids: Callable[[], List[str]],
        on_registered: Callable[[], None],
    ) -> None:
        self._link = link
        self._instance = instance
        self._interval = heartbeat_interval
        self._held_ids = held_ids
        self._on_registered = on_registered
        self._pubsub: Optional["redis.client.PubSub"] = None
        self._need_register = True
        self._next_heartbeat = 0.0
        self._backoff = 0.5

    def poll(self, timeout: float) -> Optional[bytes]:
        """The next message on the worker's channel within ``timeout`` seconds (None when none came), after
        (re)subscribing, registering and sending a heartbeat as they are due. Raises :data:`REDIS_ERRORS`."""
        if self._pubsub is None:
            self._pubsub = self._link.subscribe()
            self._need_register = True
        if self._need_register:
            self._need_register = not self._link.register(self._instance)
            self._on_registered()
            self._next_heartbeat = time.monotonic() + self._interval
            self._backoff = 0.5
        if time.monotonic() >= self._next_heartbeat:
            if self._need_register:
                self._need_register = not self._link.register(self._instance)
            elif not self._link.heartbeat(self._held_ids()):
                self._need_register = True  # a node that never knew this worker needs a registration
            self._next_heartbeat = time.monotonic() + self._interval
        wait = min(timeout, max(0.0, self._next_heartbeat - time.monotonic()))
        message = self._pubsub.get_message(ignore_subscribe_messages=True, timeout=wait)
        if message is not None and message.get("type") == "message":
            data: bytes = message["data"]
            return data
        return None

    def lost(self, error: BaseException) -> float:
        """Drops the broken subscription; returns how many seconds to wait before the next try."""
        backoff = self._backoff
        log.warning("worker %s: Redis connection lost (%s); retrying in %.1f s", self._link.name, error, backoff)
        if self._pubsub is not None:
            close_quietly(self._pubsub)
            self._pubsub = None
        self._backoff = min(backoff * 2, 10.0)
        return backoff

    def close(self) -> None:
        """Unregisters (what the worker still holds goes back to its queues at once) and unsubscribes."""
        self._link.unregister()
        if self._pubsub is not None:
            close_quietly(self._pubsub)
            self._pubsub = None
