"""The worker runner: registers a worker, takes its assignments, runs a handler on a pool and reports."""

from __future__ import annotations

import asyncio
import inspect
import logging
import multiprocessing
import os
import pickle
import queue as queue_module
import signal
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from types import FrameType
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Set, Tuple

import redis

from . import wire
from .allocator import Allocator, _redact
from .wire import CapabilityValue, Task

__all__ = ["Handler", "Worker"]

log = logging.getLogger("celeryactors.worker")

#: What a :class:`Worker` runs for each task: called with the :class:`~celeryactors.Task`; its return value
#: is ignored; an exception fails the task with the exception's type name. A coroutine it returns is run.
Handler = Callable[[Task], Any]

_Key = Tuple[str, str]  # (queue, task id): two queues may use the same task id
_REDIS_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)
_POLL_SECONDS = 0.2  # how often the loop looks at a stop request while no message comes


class _Entry:
    """A task the worker holds: allocated to it and not yet reported finished."""

    __slots__ = ("task", "submitted")

    def __init__(self, task: Task) -> None:
        self.task = task
        self.submitted = False


class Worker:
    """Runs a handler for the tasks the CeleryActors nodes allocate to one worker.

    :param name: the worker's name (its assignments come on ``P + worker:{name}``).
    :param queues: the queues it consumes.
    :param handler: called with each :class:`~celeryactors.Task`; an exception fails the task and never
        stops the runner.
    :param pool_size: how many tasks run at once (threads or processes); the node never gives the worker
        more unfinished tasks than this, over all its queues.
    :param capabilities: name to number or string, matched against tasks' ``requires``.
    :param pool: ``"thread"`` (default) or ``"process"``: processes (spawned, so the handler must be
        importable: a module-level function) for CPU-bound handlers.
    :param allocator: the connection to use; default a new :class:`~celeryactors.Allocator` from the
        environment (``REDIS_URL``, ``ALLOCATOR_CHANNEL_PREFIX``).
    :param heartbeat_interval: seconds between heartbeats; keep it well under the nodes'
        ``ALLOCATOR_WORKER_TIMEOUT`` (15 s by default).
    :param drain_timeout: on a clean stop, seconds to let running tasks finish before the worker
        unregisters anyway (what still runs then goes back to its queue).
    :param handle_signals: let :meth:`run` on the main thread stop on SIGTERM/SIGINT (a second signal stops
        at once).

    The runner subscribes to its channel, registers with an ``instance`` id (start time and pid), sends a
    heartbeat listing the task ids it holds every ``heartbeat_interval``, acknowledges each assignment at
    once (``received``), reports ``started`` when the handler begins and ``succeeded`` or ``failed`` (with
    the runtime and the exception's type name) when it ends. On a clean stop it takes no new task, lets the
    running ones finish (up to ``drain_timeout``) and unregisters, which sends back to their queues the
    tasks it held and did not finish. A lost Redis connection is retried with back-off; the worker
    registers again once it is back.

    Use :meth:`run` (blocking) or the worker as a context manager (runs in a background thread)::

        with Worker('w1', ['emails'], send_email, pool_size=8):
            ...
    """

    def __init__(
        self,
        name: str,
        queues: Sequence[str],
        handler: Handler,
        pool_size: int = 4,
        capabilities: Optional[Mapping[str, CapabilityValue]] = None,
        *,
        pool: str = "thread",
        allocator: Optional[Allocator] = None,
        heartbeat_interval: float = 5.0,
        drain_timeout: float = 30.0,
        handle_signals: bool = True,
    ) -> None:
        if not callable(handler):
            raise ValueError(f"handler must be callable, got {type(handler).__name__}")
        if pool not in ("thread", "process"):
            raise ValueError(f"pool must be 'thread' or 'process', got {pool!r}")
        if pool == "process":
            try:
                pickle.dumps(handler)
            except Exception as error:
                raise ValueError(
                    f"a process pool needs a handler that pickles (a module-level function): {error}"
                ) from None
        if not heartbeat_interval > 0:
            raise ValueError(f"heartbeat_interval must be > 0, got {heartbeat_interval}")
        if not drain_timeout >= 0:
            raise ValueError(f"drain_timeout must be >= 0, got {drain_timeout}")
        # The registration is checked now, so a bad name or pool size fails here and not inside run().
        registration = wire.register_message(name, queues, pool_size, capabilities)
        #: The worker's name.
        self.name: str = registration["worker"]
        #: The queues it consumes.
        self.queues: List[str] = registration["queues"]
        #: How many tasks run at once.
        self.pool_size: int = registration["pool_size"]
        #: Its capabilities (None when it declared none).
        self.capabilities: Optional[Dict[str, CapabilityValue]] = registration.get("capabilities")
        self.handler = handler
        self.pool = pool
        self.allocator = allocator if allocator is not None else Allocator()
        self.heartbeat_interval = float(heartbeat_interval)
        self.drain_timeout = float(drain_timeout)
        self.handle_signals = handle_signals
        #: The instance id of the current (or last) run: start time and pid.
        self.instance: Optional[str] = None

        self._lock = threading.Lock()
        self._held: Dict[_Key, _Entry] = {}
        self._closed = False  # after unregistering: late results are not reported
        self._stop = threading.Event()
        self._finish = True
        self._ready = threading.Event()
        self._stopped = threading.Event()
        self._stopped.set()
        self._thread: Optional[threading.Thread] = None
        self._pool_threads: Set[int] = set()
        self._counts = {"received": 0, "succeeded": 0, "failed": 0, "unreported": 0}
        self._warned_at = 0.0

    # -- public control -----------------------------------------------------------------------------------

    def run(self) -> None:
        """Runs the worker until :meth:`stop`, SIGTERM or SIGINT; returns after it unregistered.

        Connection failures are retried (with back-off) rather than raised, so a worker started before its
        Redis keeps trying.
        """
        with self._lock:
            if not self._stopped.is_set():
                raise RuntimeError(f"worker {self.name!r} is already running")
            self._stopped.clear()
            self._closed = False
            self._held.clear()
        self._stop.clear()
        self._finish = True
        self.instance = f"{time.time():.3f}-{os.getpid()}"
        restore = self._install_signal_handlers()
        pool: Optional[_Pool] = None
        try:
            pool = _ProcessPool(self) if self.pool == "process" else _ThreadPool(self)
            self._serve(pool)
        finally:
            with self._lock:
                self._closed = True
                # The unregistration gave back what had not started; what still runs is tracked only to
                # count its late end as unreported.
                self._held = {key: entry for key, entry in self._held.items() if entry.submitted}
            if pool is not None:
                pool.shutdown(hard=not self._finish)
            restore()
            self._ready.clear()
            self._stopped.set()

    def start(self, timeout: Optional[float] = 30.0) -> "Worker":
        """Runs the worker in a background thread and returns once it registered (its subscription is on).

        :raises TimeoutError: when it could not register within ``timeout`` seconds (it is stopped then).
        """
        if not self._stopped.is_set():
            raise RuntimeError(f"worker {self.name!r} is already running")
        errors: List[BaseException] = []

        def target() -> None:
            try:
                self.run()
            except BaseException as error:
                errors.append(error)
                log.exception("worker %s stopped with an error", self.name)

        thread = threading.Thread(target=target, name=f"celeryactors-worker-{self.name}", daemon=True)
        self._thread = thread
        thread.start()
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._ready.wait(0.05):
            if not thread.is_alive():
                raise RuntimeError(f"worker {self.name!r} stopped before it registered") from (
                    errors[0] if errors else None)
            if deadline is not None and time.monotonic() >= deadline:
                self.stop(finish=False, timeout=5.0)
                raise TimeoutError(f"worker {self.name!r} did not register within {timeout} s")
        return self

    def stop(self, finish: bool = True, wait: bool = True, timeout: Optional[float] = None) -> bool:
        """Asks the worker to stop.

        :param finish: let running tasks finish first (up to ``drain_timeout``); False unregisters at once,
            sending what the worker holds back to its queues (handlers still running are not reported).
        :param wait: wait until :meth:`run` has returned (not when called from the handler itself).
        :returns: True when the worker has stopped (or is not waited for).
        """
        if not finish:
            self._finish = False
        self._stop.set()
        if not wait or threading.get_ident() in self._pool_threads:
            return True
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            return not thread.is_alive()
        return self._stopped.wait(timeout)

    def join(self, timeout: Optional[float] = None) -> bool:
        """Waits for a worker started with :meth:`start` to stop; True once it has."""
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def __enter__(self) -> "Worker":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop(finish=True, wait=True)

    @property
    def ready(self) -> bool:
        """True while the worker runs with its subscription on and its registration sent."""
        return self._ready.is_set()

    @property
    def held(self) -> List[Task]:
        """The tasks the worker holds now (allocated to it and not reported finished); empty once it has
        unregistered."""
        with self._lock:
            return [] if self._closed else [entry.task for entry in self._held.values()]

    @property
    def stats(self) -> Dict[str, int]:
        """Counts since the worker was made: ``received`` (assignments acknowledged), ``succeeded``,
        ``failed`` (reported) and ``unreported`` (finished after the worker had unregistered)."""
        with self._lock:
            return dict(self._counts)

    # -- the loop -----------------------------------------------------------------------------------------

    def _serve(self, pool: "_Pool") -> None:
        pubsub: Optional[redis.client.PubSub] = None
        backoff = 0.5
        need_register = True
        next_heartbeat = 0.0
        drain_deadline: Optional[float] = None
        try:
            while True:
                now = time.monotonic()
                if self._stop.is_set():
                    if drain_deadline is None:
                        drain_deadline = now + (self.drain_timeout if self._finish else 0.0)
                        log.info("worker %s stopping; %d tasks running", self.name, self._running_count())
                    if not self._finish or now >= drain_deadline or self._running_count() == 0:
                        break
                try:
                    if pubsub is None:
                        pubsub = self._subscribe()
                        need_register = True
                    if need_register:
                        need_register = not self._register()
                        self._ready.set()
                        next_heartbeat = time.monotonic() + self.heartbeat_interval
                        backoff = 0.5
                    wait = min(_POLL_SECONDS, max(0.0, next_heartbeat - time.monotonic()))
                    message = pubsub.get_message(ignore_subscribe_messages=True, timeout=wait)
                    if message is not None and message.get("type") == "message":
                        self._on_assignment(message["data"], pool)
                    if time.monotonic() >= next_heartbeat:
                        if need_register:
                            need_register = not self._register()
                        elif not self._heartbeat():
                            need_register = True  # a node that never knew this worker needs a registration
                        next_heartbeat = time.monotonic() + self.heartbeat_interval
                except _REDIS_ERRORS as error:
                    log.warning("worker %s: Redis connection lost (%s); retrying in %.1f s", self.name, error, backoff)
                    if pubsub is not None:
                        _close_quietly(pubsub)
                        pubsub = None
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, 10.0)
        finally:
            try:
                # What is still held (not started, or still running past the drain) goes back at once.
                self._send(self.allocator.channels.workers_control, wire.unregister_message(self.name, time.time()))
            except _REDIS_ERRORS as error:
                log.warning("worker %s could not unregister (%s); the nodes will time it out", self.name, error)
            if pubsub is not None:
                _close_quietly(pubsub)

    def _subscribe(self) -> "redis.client.PubSub":
        pubsub = self.allocator.redis.pubsub()
        channel = self.allocator.channels.worker(self.name)
        pubsub.subscribe(channel)
        # Registering before Redis confirmed the subscription could miss the first assignment.
        deadline = time.monotonic() + max(self.allocator.socket_timeout, 1.0)
        while time.monotonic() < deadline:
            message = pubsub.get_message(timeout=0.5)
            if message is not None and message.get("type") == "subscribe":
                return pubsub
        _close_quietly(pubsub)
        raise redis.exceptions.TimeoutError(f"no confirmation of the subscription to {channel}")

    def _register(self) -> bool:
        message = wire.register_message(
            self.name, self.queues, self.pool_size, self.capabilities, self.instance, time.time()
        )
        heard = self._send(self.allocator.channels.workers_control, message)
        if heard == 0:
            self._warn_unheard("its registration")
        else:
            log.info("worker %s registered (instance %s) for %s, pool %d", self.name, self.instance,
                     ", ".join(self.queues), self.pool_size)
        return heard > 0

    def _heartbeat(self) -> bool:
        with self._lock:
            running = [task_id for (_, task_id) in self._held]
        heard = self._send(self.allocator.channels.workers_control,
                           wire.heartbeat_message(self.name, running, time.time()))
        if heard == 0:
            self._warn_unheard("a heartbeat")
        return heard > 0

    def _on_assignment(self, data: bytes, pool: "_Pool") -> None:
        try:
            task = wire.parse_assignment(data)
        except ValueError as error:
            log.warning("worker %s ignored a message on its channel: %s", self.name, error)
            return
        if task is None:
            return
        key = (task.queue, task.task_id)
        with self._lock:
            entry = self._held.get(key)
            repeat = entry is not None
            if entry is None:
                entry = self._held[key] = _Entry(task)
                self._counts["received"] += 1
            # Taken during a stop, a task is held (and acknowledged) but not started: the unregistration
            # sends it back. A repeat of a held task (an acknowledgement that got lost) runs only once.
            start = not repeat and not self._stop.is_set()
            if start:
                entry.submitted = True
        self._report(task, "received")
        if start:
            pool.submit(task)

    # -- reports ------------------------------------------------------------------------------------------

    def _send(self, channel: str, message: Mapping[str, Any]) -> int:
        return self.allocator._publish(channel, self.allocator._encode(message), require_listener=False)

    def _report(
        self,
        task: Task,
        status: str,
        runtime: Optional[float] = None,
        exception: Optional[str] = None,
        attempts: int = 1,
    ) -> None:
        message = wire.task_status_message(
            task.task_id, self.name, status, runtime, exception, task.queue, time.time()
        )
        delay = 0.2
        for attempt in range(attempts):
            try:
                if self._send(self.allocator.channels.task_status, message) == 0:
                    self._warn_unheard(f"the report {status} of {task.task_id}")
                return
            except _REDIS_ERRORS as error:
                if attempt == attempts - 1:
                    log.error("worker %s could not report %s of %s: %s", self.name, status, task.task_id, error)
                    return
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _task_started(self, key: _Key) -> None:
        with self._lock:
            entry = self._held.get(key)
            if entry is None or self._closed:
                return
        self._report(entry.task, "started")

    def _task_finished(self, key: _Key, exception: Optional[str], runtime: Optional[float]) -> None:
        with self._lock:
            entry = self._held.get(key)
            if entry is None or not entry.submitted:
                return
            if self._closed:
                # Unregistered: the task went back to its queue and may run elsewhere.
                del self._held[key]
                self._counts["unreported"] += 1
                return
        # Several tries: a lost final report makes the task run again elsewhere.
        status = "failed" if exception is not None else "succeeded"
        self._report(entry.task, status, runtime, exception, attempts=6)
        with self._lock:
            self._held.pop(key, None)
            self._counts[status] += 1

    def _running_count(self) -> int:
        with self._lock:
            return sum(1 for entry in self._held.values() if entry.submitted)

    def _warn_unheard(self, what: str) -> None:
        now = time.monotonic()
        if now - self._warned_at >= 10.0:
            self._warned_at = now
            log.warning("worker %s: no node heard %s (is a node running on %s with ALLOCATOR_CHANNEL_PREFIX %r?)",
                        self.name, what, _redacted(self.allocator), self.allocator.channels.prefix)

    # -- running a handler --------------------------------------------------------------------------------

    def _run_here(self, task: Task) -> None:
        """Runs one task on the calling thread: report started, call the handler, report the end."""
        key = (task.queue, task.task_id)
        if self._closed:
            return  # given back when the worker unregistered; it may run elsewhere
        self._task_started(key)
        started = time.perf_counter()
        exception = _call_handler(self.handler, task, self.name)
        self._task_finished(key, exception, time.perf_counter() - started)

    def _install_signal_handlers(self) -> Callable[[], None]:
        if not self.handle_signals or threading.current_thread() is not threading.main_thread():
            return lambda: None

        def on_signal(signum: int, frame: Optional[FrameType]) -> None:
            if self._stop.is_set():
                self._finish = False  # a second signal: stop now
            log.info("worker %s got %s", self.name, signal.Signals(signum).name)
            self._stop.set()

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore

    def __repr__(self) -> str:
        return f"Worker(name={self.name!r}, queues={self.queues!r}, pool_size={self.pool_size}, pool={self.pool!r})"


def _call_handler(handler: Handler, task: Task, worker: str) -> Optional[str]:
    """Calls the handler; returns None on success, else the exception's type name."""
    try:
        result = handler(task)
        if inspect.iscoroutine(result):
            asyncio.run(result)
        return None
    except BaseException as error:  # a handler's SystemExit or KeyboardInterrupt fails its task only
        log.warning("worker %s: task %s (%s) failed with %s", worker, task.task_id, task.task_name,
                    type(error).__name__, exc_info=True)
        return type(error).__name__


def _close_quietly(pubsub: "redis.client.PubSub") -> None:
    try:
        pubsub.close()
    except Exception:
        pass


def _redacted(allocator: Allocator) -> str:
    return _redact(allocator.redis_url)


# ---------------------------------------------------------------------------------------------------------
# Pools.


class _Pool:
    def submit(self, task: Task) -> None:
        raise NotImplementedError

    def shutdown(self, hard: bool) -> None:
        raise NotImplementedError


class _ThreadPool(_Pool):
    """pool_size threads taking tasks from one queue; daemon threads, so a handler stuck past a hard stop
    does not keep the process alive."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker
        self._queue: "queue_module.SimpleQueue[Optional[Task]]" = queue_module.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._loop, name=f"celeryactors-{worker.name}-{i}", daemon=True)
            for i in range(worker.pool_size)
        ]
        for thread in self._threads:
            thread.start()

    def _loop(self) -> None:
        self._worker._pool_threads.add(threading.get_ident())
        while True:
            task = self._queue.get()
            if task is None:
                return
            self._worker._run_here(task)

    def submit(self, task: Task) -> None:
        self._queue.put(task)

    def shutdown(self, hard: bool) -> None:
        for _ in self._threads:
            self._queue.put(None)
        if not hard:
            for thread in self._threads:
                thread.join(1.0)


# The child side of the process pool: each child gets the handler and the events queue once, at its start.
_child_handler: Optional[Handler] = None
_child_events: Any = None


def _child_init(handler: Handler, events: Any) -> None:
    global _child_handler, _child_events
    _child_handler, _child_events = handler, events
    # The parent decides when to stop; a Ctrl+C or SIGTERM sent to the whole process group must not kill
    # the children under running tasks.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _child_run(task: Task, worker: str) -> None:
    assert _child_handler is not None
    _child_events.put(("started", task.queue, task.task_id, None, None))
    started = time.perf_counter()
    exception = _call_handler(_child_handler, task, worker)
    _child_events.put(("finished", task.queue, task.task_id, exception, time.perf_counter() - started))


class _ProcessPool(_Pool):
    """pool_size spawned processes. Children send 'started' and 'finished' through one queue that a parent
    thread reads in order, so a task's reports go out in order; a child that dies fails its task."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker
        self._context = multiprocessing.get_context("spawn")
        self._events = self._context.Queue()
        self._executor = self._new_executor()
        self._reader = threading.Thread(target=self._read, name=f"celeryactors-{worker.name}-events", daemon=True)
        self._reader.start()

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self._worker.pool_size,
            mp_context=self._context,
            initializer=_child_init,
            initargs=(self._worker.handler, self._events),
        )

    def submit(self, task: Task) -> None:
        try:
            future = self._executor.submit(_child_run, task, self._worker.name)
        except BrokenProcessPool:
            log.warning("worker %s: the process pool broke; starting a new one", self._worker.name)
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = self._new_executor()
            future = self._executor.submit(_child_run, task, self._worker.name)
        future.add_done_callback(lambda done: self._on_done(task, done))

    def _on_done(self, task: Task, future: "Future[None]") -> None:
        error = None if future.cancelled() else future.exception()
        if future.cancelled() or error is not None:
            # The child died (or the task could not be sent to it): no 'finished' will come.
            name = "Cancelled" if error is None else type(error).__name__
            self._events.put(("crashed", task.queue, task.task_id, name, None))

    def _read(self) -> None:
        while True:
            event = self._events.get()
            if event is None:
                return
            kind, queue, task_id, exception, runtime = event
            if kind == "started":
                self._worker._task_started((queue, task_id))
            else:
                self._worker._task_finished((queue, task_id), exception, runtime)

    def shutdown(self, hard: bool) -> None:
        if hard:
            # ProcessPoolExecutor cannot cancel a running call; its children ignore SIGTERM, so kill them.
            processes = list(getattr(self._executor, "_processes", {}).values())
            self._executor.shutdown(wait=False, cancel_futures=True)
            for process in processes:
                try:
                    process.kill()
                except (OSError, ValueError):
                    pass
        else:
            self._executor.shutdown(wait=True)
        self._events.put(None)
        self._reader.join(2.0)
