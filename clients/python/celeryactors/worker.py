"""The worker runner: registers a worker, takes its assignments, runs a handler on a pool and reports."""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Callable, Dict, List, Mapping, Optional, Sequence

from . import wire
from ._held import HeldTasks, Key
from ._link import REDIS_ERRORS, NodeLink, Session
from ._pools import Handler, Pool, check_pool, make_pool
from ._signals import on_stop_signals
from .allocator import Allocator
from .wire import CapabilityValue, Task

__all__ = ["Handler", "Worker"]

log = logging.getLogger("celeryactors.worker")

_POLL_SECONDS = 0.2  # how often the loop looks at a stop request while no message comes


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
        check_pool(pool, handler)
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

        self._link = NodeLink(self.allocator, self.name, self.queues, self.pool_size, self.capabilities)
        self._held = HeldTasks()
        self._running_pool: Optional[Pool] = None
        self._run_lock = threading.Lock()
        self._stop = threading.Event()
        self._finish = True
        self._ready = threading.Event()
        self._stopped = threading.Event()
        self._stopped.set()
        self._thread: Optional[threading.Thread] = None

    # -- public control -----------------------------------------------------------------------------------

    def run(self) -> None:
        """Runs the worker until :meth:`stop`, SIGTERM or SIGINT; returns after it unregistered.

        Connection failures are retried (with back-off) rather than raised, so a worker started before its
        Redis keeps trying.
        """
        with self._run_lock:
            if not self._stopped.is_set():
                raise RuntimeError(f"worker {self.name!r} is already running")
            self._stopped.clear()
        self._held.open()
        self._stop.clear()
        self._finish = True
        self.instance = f"{time.time():.3f}-{os.getpid()}"
        # Made per run, so the queues, capabilities or allocator set on the worker before it count.
        self._link = NodeLink(self.allocator, self.name, self.queues, self.pool_size, self.capabilities)
        restore = self._install_signal_handlers()
        pool: Optional[Pool] = None
        try:
            pool = self._running_pool = make_pool(
                self.pool, self.name, self.pool_size, self.handler, self._task_started, self._task_finished)
            self._serve(pool)
        finally:
            # The unregistration gave back what had not started; what still runs is tracked only to count its
            # late end as unreported.
            self._held.close()
            if pool is not None:
                pool.shutdown(hard=not self._finish)
            self._running_pool = None  # a process pool holds pipes and an executor
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
        pool = self._running_pool
        if not wait or (pool is not None and pool.runs_on_current_thread()):
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
        return self._held.tasks()

    @property
    def stats(self) -> Dict[str, int]:
        """Counts since the worker was made: ``received`` (assignments acknowledged), ``succeeded``,
        ``failed`` (reported) and ``unreported`` (finished after the worker had unregistered)."""
        return self._held.counts()

    # -- the loop -----------------------------------------------------------------------------------------

    def _serve(self, pool: Pool) -> None:
        session = Session(self._link, self.instance, self.heartbeat_interval, self._held.task_ids, self._ready.set)
        drain_deadline: Optional[float] = None
        try:
            while True:
                if self._stop.is_set():
                    now = time.monotonic()
                    if drain_deadline is None:
                        drain_deadline = now + (self.drain_timeout if self._finish else 0.0)
                        log.info("worker %s stopping; %d tasks running", self.name, self._held.running())
                    if not self._finish or now >= drain_deadline or self._held.running() == 0:
                        break
                try:
                    data = session.poll(_POLL_SECONDS)
                    if data is not None:
                        self._on_assignment(data, pool)
                except REDIS_ERRORS as error:
                    self._stop.wait(session.lost(error))
        finally:
            # What is still held (not started, or still running past the drain) goes back at once.
            session.close()

    def _on_assignment(self, data: bytes, pool: Pool) -> None:
        try:
            task = wire.parse_assignment(data)
        except ValueError as error:
            log.warning("worker %s ignored a message on its channel: %s", self.name, error)
            return
        if task is None:
            return
        # Taken during a stop, a task is held (and acknowledged) but not started: the unregistration sends it
        # back.
        start = self._held.take(task, start=not self._stop.is_set())
        self._link.report(task, "received")
        if start:
            pool.submit(task)

    def _task_started(self, key: Key) -> bool:
        task = self._held.starting(key)
        if task is None:
            return False  # given back when the worker unregistered; it may run elsewhere
        self._link.report(task, "started")
        return True

    def _task_finished(self, key: Key, exception: Optional[str], runtime: Optional[float]) -> None:
        task = self._held.ending(key)
        if task is None:
            return
        # Several tries: a lost final report makes the task run again elsewhere.
        status = "failed" if exception is not None else "succeeded"
        self._link.report(task, status, runtime, exception, attempts=6)
        self._held.ended(key, status)

    def _install_signal_handlers(self) -> Callable[[], None]:
        return on_stop_signals(self._on_signal) if self.handle_signals else (lambda: None)

    def _on_signal(self, name: str) -> None:
        if self._stop.is_set():
            self._finish = False  # a second signal: stop now
        log.info("worker %s got %s", self.name, name)
        self._stop.set()

    def __repr__(self) -> str:
        return f"Worker(name={self.name!r}, queues={self.queues!r}, pool_size={self.pool_size}, pool={self.pool!r})"

