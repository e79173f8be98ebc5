"""The producer side: publish tasks, register workers, report task status and send metrics over Redis."""

from __future__ import annotations

import os
import threading
import time
import uuid
from typing import Any, Iterable, List, Mapping, Optional, Sequence, Tuple

from . import wire
from .connection import DEFAULT_REDIS_URL, Connection
from .errors import NoListenerError
from .wire import CapabilityValue, Channels  # noqa: F401 (Channels: importable from here, as it always was)

__all__ = ["Allocator", "DEFAULT_REDIS_URL", "get_allocator", "new_task_id"]

_TASK_FIELDS = frozenset({"task_name", "queue", "task_data", "priority", "task_id", "requires"})


def new_task_id() -> str:
    """A fresh task id (a random UUID), as :meth:`Allocator.publish_task` makes when given none."""
    return str(uuid.uuid4())


class Allocator(Connection):
    """A connection to the CeleryActors nodes through their Redis, speaking wire format v1.

    :param redis_url: ``redis://[:password@]host:port[/db]`` or ``rediss://``; default ``REDIS_URL`` from the
        environment, else ``redis://localhost:6379/0``.
    :param channel_prefix: prefix of every channel name; default ``ALLOCATOR_CHANNEL_PREFIX``, else empty.
        It must be the nodes' prefix.
    :param redis_client: an existing :class:`redis.Redis` to use instead of connecting to ``redis_url``.
    :param require_listener: the default of every call's ``require_listener``: when true, a publish that no
        subscriber heard raises :class:`~celeryactors.NoListenerError`.
    :param max_payload_bytes: the nodes' ``MAX_PAYLOAD_BYTES`` (default that variable, else 1 MiB): larger
        messages raise :class:`ValueError` instead of being rejected by the node.
    :param socket_timeout: seconds a Redis command may take before it fails.

    Every method checks its arguments before anything is sent and raises :class:`ValueError` for a message
    the node would reject. The connection is made by :meth:`connect` or by the first call that needs it. One
    allocator may be shared by threads (redis-py's client is thread-safe); :func:`get_allocator` gives the
    process's shared one.
    """

    # -- tasks --------------------------------------------------------------------------------------------

    def publish_task(
        self,
        task_name: str,
        queue: str,
        task_data: Any = None,
        priority: int = wire.DEFAULT_PRIORITY,
        task_id: Optional[str] = None,
        requires: Optional[Mapping[str, CapabilityValue]] = None,
        *,
        durable: bool = False,
        require_listener: Optional[bool] = None,
    ) -> str:
        """Publishes one task on ``P + tasks:{queue}`` and returns its task id.

        :param task_name: the task's name (what the worker runs), 1-256 characters.
        :param queue: the queue, 1-256 characters.
        :param task_data: any JSON-serialisable value (default None); it reaches the worker as it was sent.
        :param priority: 0-9, 9 most urgent (default 5).
        :param task_id: the task's id, unique in its queue; a fresh UUID when None. Publishing an id that is
            already pending, allocated or recently finished is a duplicate the node ignores, so retrying a
            publish with the same id is safe.
        :param requires: capabilities a worker must have: a number is met by a capability >= it, a string by
            an equal string.
        :param durable: instead of pub/sub, XADD the task to the Redis stream named like the channel (field
            ``payload``, the same JSON) and return once Redis stored it. Nodes read that stream from the
            version that adds the durable intake; older nodes leave the entries there, unread.
        :param require_listener: raise :class:`~celeryactors.NoListenerError` when no subscriber heard the
            task (default: the allocator's ``require_listener``). Not used with ``durable``.
        :raises ValueError: for any argument the node would reject (before anything is sent).
        """
        channel, task_id, payload = self._task_payload(task_name, queue, task_data, priority, task_id, requires)
        if durable:
            self.redis.xadd(channel, {"payload": payload})
        else:
            self._publish(channel, payload, require_listener, task_ids=(task_id,))
        return task_id

    def publish_tasks(
        self,
        tasks: Iterable[Mapping[str, Any]],
        *,
        durable: bool = False,
        require_listener: Optional[bool] = None,
        batch_size: int = 1000,
    ) -> List[str]:
        """Publishes many tasks in pipelined round trips and returns their task ids, in order.

        Each task is a mapping with the keyword arguments of :meth:`publish_task`: ``task_name`` and
        ``queue`` (required), ``task_data``, ``priority``, ``task_id``, ``requires``. Every task is checked
        before the first is sent, so a bad one sends nothing. ``batch_size`` tasks go per round trip.
        With ``require_listener``, tasks nobody heard raise one :class:`~celeryactors.NoListenerError`
        (after the whole batch was sent) whose ``task_ids`` name them.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        prepared: List[Tuple[str, str, bytes]] = []
        for index, task in enumerate(tasks):
            if not isinstance(task, Mapping):
                raise ValueError(f"task {index} is not a mapping, got {type(task).__name__}")
            unknown = set(task) - _TASK_FIELDS
            if unknown:
                raise ValueError(f"task {index} has unknown fields: {', '.join(sorted(map(str, unknown)))}")
            if "task_name" not in task or "queue" not in task:
                raise ValueError(f"task {index} needs task_name and queue")
            try:
                prepared.append(
                    self._task_payload(
                        task["task_name"],
                        task["queue"],
                        task.get("task_data"),
                        task.get("priority", wire.DEFAULT_PRIORITY),
                        task.get("task_id"),
                        task.get("requires"),
                    )
                )
            except ValueError as error:
                raise ValueError(f"task {index}: {error}") from None
        unheard: List[Tuple[str, str]] = []
        for start in range(0, len(prepared), batch_size):
            chunk = prepared[start : start + batch_size]
            pipe = self.redis.pipeline(transaction=False)
            for channel, _, payload in chunk:
                if durable:
                    pipe.xadd(channel, {"payload": payload})
                else:
                    pipe.publish(channel, payload)
            results = pipe.execute()
            if not durable:
                unheard.extend((channel, task_id) for (channel, task_id, _), n in zip(chunk, results) if n == 0)
        if unheard and self._requires(require_listener):
            raise NoListenerError(unheard[0][0], [task_id for _, task_id in unheard], unheard=len(unheard))
        return [task_id for _, task_id, _ in prepared]

    def _task_payload(
        self,
        task_name: str,
        queue: str,
        task_data: Any,
        priority: int,
        task_id: Optional[str],
        requires: Optional[Mapping[str, CapabilityValue]],
    ) -> Tuple[str, str, bytes]:
        wire.check_name(queue, "queue")
        if task_id is None:
            task_id = new_task_id()
        message = wire.task_message(task_name, task_id, task_data, priority, requires, published_at=time.time())
        return self.channels.tasks(queue), task_id, self._encode(message)

    # -- workers ------------------------------------------------------------------------------------------

    def register_worker(
        self,
        worker_name: str,
        queues: Sequence[str],
        capabilities: Optional[Mapping[str, CapabilityValue]] = None,
        pool_size: Optional[int] = None,
        *,
        instance: Optional[str] = None,
        require_listener: Optional[bool] = None,
    ) -> int:
        """Registers (or registers again) a worker on ``P + workers:control``; returns the pool size sent.

        :param worker_name: the worker's name; its assignments come on ``P + worker:{worker_name}``.
        :param queues: the queues it consumes (at least one).
        :param capabilities: name to number or string, matched against tasks' ``requires``.
        :param pool_size: how many unfinished tasks it may hold over all its queues. When None: the ``cpu``
            capability if there is one (a whole number >= 1), else 1.
        :param instance: the worker process's identity (e.g. start time and pid); registering with another
            instance than the node knows tells it the process restarted, and what it held goes back to its
            queues at once.

        A registered worker must send a heartbeat (:meth:`heartbeat`) or a status report more often than the
        nodes' ``ALLOCATOR_WORKER_TIMEOUT`` (15 s by default), or it goes offline and its tasks go back.
        :class:`~celeryactors.Worker` does all of this.
        """
        if pool_size is None:
            pool_size = _default_pool_size(capabilities)
        message = wire.register_message(worker_name, queues, pool_size, capabilities, instance, time.time())
        self._send(self.channels.workers_control, message, require_listener)
        return int(message["pool_size"])

    def heartbeat(
        self,
        worker_name: str,
        running: Optional[Iterable[str]] = None,
        *,
        require_listener: Optional[bool] = None,
    ) -> None:
        """Tells the nodes the worker is alive; ``running`` lists the task ids it holds (a task held longer
        than the ack timeout and not listed goes back to its queue). None sends no list."""
        message = wire.heartbeat_message(worker_name, running, time.time())
        self._send(self.channels.workers_control, message, require_listener)

    def unregister_worker(self, worker_name: str, *, require_listener: Optional[bool] = None) -> None:
        """Unregisters a worker: what it holds goes back to its queues and it gets no more tasks."""
        message = wire.unregister_message(worker_name, time.time())
        self._send(self.channels.workers_control, message, require_listener)

    def report_status(
        self,
        task_id: str,
        worker_name: str,
        status: str,
        runtime: Optional[float] = None,
        exception: Any = None,
        queue: Optional[str] = None,
        *,
        require_listener: Optional[bool] = None,
    ) -> None:
        """Reports a task's progress on ``P + task-status``: ``received`` (the acknowledgement), ``started``,
        ``succeeded`` or ``failed`` (with ``runtime`` in seconds, and ``exception``: a type name, or an
        exception whose type names it). ``queue`` is the task's queue."""
        message = wire.task_status_message(task_id, worker_name, status, runtime, exception, queue, time.time())
        self._send(self.channels.task_status, message, require_listener)

    # -- metrics ------------------------------------------------------------------------------------------

    def track_task_execution(
        self,
        task_name: str,
        queue: str,
        duration: float,
        status: str = "success",
        exception: Any = None,
        *,
        require_listener: Optional[bool] = None,
    ) -> None:
        """Counts one task execution on ``P + metrics``: one start, one success or failure, and one duration
        observation (seconds). ``status`` is ``success`` or ``failure``; a failure needs ``exception``."""
        message = wire.task_execution_message(task_name, queue, duration, status, exception, time.time())
        self._send(self.channels.metrics, message, require_listener)

    def update_queue_length(self, queue: str, length: int, *, require_listener: Optional[bool] = None) -> None:
        """Sets a queue's ``celery_queue_length`` gauge (a whole number >= 0) on ``P + metrics``."""
        message = wire.queue_length_message(queue, length, time.time())
        self._send(self.channels.metrics, message, require_listener)

    def track_pubsub_message(
        self, channel: str, message_type: str, latency: float, *, require_listener: Optional[bool] = None
    ) -> None:
        """Counts one pub/sub message of ``message_type`` on ``channel`` and observes its latency (seconds)."""
        message = wire.pubsub_message_message(channel, message_type, latency, time.time())
        self._send(self.channels.metrics, message, require_listener)


def _default_pool_size(capabilities: Optional[Mapping[str, CapabilityValue]]) -> int:
    if not capabilities or "cpu" not in capabilities:
        return 1
    cpu = capabilities["cpu"]
    if isinstance(cpu, bool) or not isinstance(cpu, (int, float)) or cpu < 1 or cpu != int(cpu):
        raise ValueError(f"pool_size defaults to the cpu capability, which is not a whole number >= 1 ({cpu!r}): "
                         "pass pool_size")
    return int(cpu)


_shared: Optional[Allocator] = None
_shared_pid: Optional[int] = None
_shared_lock = threading.Lock()


def get_allocator() -> Allocator:
    """The process's shared :class:`Allocator`, made on first call from ``REDIS_URL`` (else
    ``redis://localhost:6379/0``) and ``ALLOCATOR_CHANNEL_PREFIX``. A forked child gets its own."""
    global _shared, _shared_pid
    pid = os.getpid()
    with _shared_lock:
        if _shared is None or _shared_pid != pid:
            # A child of fork must not share the parent's sockets; redis-py would reconnect anyway.
            _shared, _shared_pid = Allocator(), pid
        return _shared
