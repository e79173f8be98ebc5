"""Where a worker's handler runs: a pool of threads, or of spawned processes for CPU-bound handlers."""

from __future__ import annotations

import asyncio
import inspect
import logging
import multiprocessing
import pickle
import queue as queue_module
import signal
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, List, Optional

from ._assignment import Task
from ._held import Key

log = logging.getLogger("celeryactors.worker")

#: What a :class:`Worker` runs for each task: called with the :class:`~celeryactors.Task`; its return value
#: is ignored; an exception fails the task with the exception's type name. A coroutine it returns is run.
Handler = Callable[[Task], Any]

#: Called when a task's handler begins; a thread pool asks it first, and False means the handler must not run
#: (the worker gave the task back). A process pool tells it after the child started, and ignores the answer.
Started = Callable[[Key], bool]
#: Called when a task's handler ended: its key, the exception's type name (None on success), the runtime.
Finished = Callable[[Key, Optional[str], Optional[float]], None]

POOL_KINDS = ("thread", "process")


def check_pool(kind: str, handler: Handler) -> None:
    """Raises :class:`ValueError` unless ``kind`` is a pool kind that can run ``handler``."""
    if kind not in POOL_KINDS:
        raise ValueError(f"pool must be 'thread' or 'process', got {kind!r}")
    if kind == "process":
        try:
            pickle.dumps(handler)
        except Exception as error:
            raise ValueError(
                f"a process pool needs a handler that pickles (a module-level function): {error}") from None


def call_handler(handler: Handler, task: Task, worker: str) -> Optional[str]:
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


class Pool:
    """Runs tasks' handlers and tells ``started`` and ``finished`` about each, in that order."""

    def __init__(self, worker: str, size: int, handler: Handler, started: Started, finished: Finished) -> None:
        self._worker = worker
        self._size = size
        self._handler = handler
        self._started = started
        self._finished = finished

    def submit(self, task: Task) -> None:
        raise NotImplementedError

    def runs_on_current_thread(self) -> bool:
        """True when called from a handler of this pool (which must not wait for the worker to stop)."""
        return False

    def shutdown(self, hard: bool) -> None:
        raise NotImplementedError


def make_pool(kind: str, worker: str, size: int, handler: Handler, started: Started, finished: Finished) -> Pool:
    """A pool of ``kind`` (one of :data:`POOL_KINDS`) with ``size`` threads or processes."""
    pool_type = ProcessPool if kind == "process" else ThreadPool
    return pool_type(worker, size, handler, started, finished)


class ThreadPool(Pool):
    """``size`` threads taking tasks from one queue; daemon threads, so a handler stuck past a hard stop
    does not keep the process alive."""

    def __init__(self, worker: str, size: int, handler: Handler, started: Started, finished: Finished) -> None:
        super().__init__(worker, size, handler, started, finished)
        self._queue: "queue_module.SimpleQueue[Optional[Task]]" = queue_module.SimpleQueue()
        self._threads: List[threading.Thread] = [
            threading.Thread(target=self._loop, name=f"celeryactors-{worker}-{i}", daemon=True) for i in range(size)
        ]
        for thread in self._threads:
            thread.start()

    def _loop(self) -> None:
        while True:
            task = self._queue.get()
            if task is None:
                return
            key = (task.queue, task.task_id)
            if not self._started(key):
                continue
            started = time.perf_counter()
            exception = call_handler(self._handler, task, self._worker)
            self._finished(key, exception, time.perf_counter() - started)

    def submit(self, task: Task) -> None:
        self._queue.put(task)

    def runs_on_current_thread(self) -> bool:
        return threading.current_thread() in self._threads

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
    exception = call_handler(_child_handler, task, worker)
    _child_events.put(("finished", task.queue, task.task_id, exception, time.perf_counter() - started))


class ProcessPool(Pool):
    """``size`` spawned processes. Children send 'started' and 'finished' through one queue that a parent
    thread reads in order, so a task's reports go out in order; a child that dies fails its task."""

    def __init__(self, worker: str, size: int, handler: Handler, started: Started, finished: Finished) -> None:
        super().__init__(worker, size, handler, started, finished)
        self._context = multiprocessing.get_context("spawn")
        self._events = self._context.Queue()
        self._executor = self._new_executor()
        self._reader = threading.Thread(target=self._read, name=f"celeryactors-{worker}-events", daemon=True)
        self._reader.start()

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self._size,
            mp_context=self._context,
            initializer=_child_init,
            initargs=(self._handler, self._events),
        )

    def submit(self, task: Task) -> None:
        try:
            future = self._executor.submit(_child_run, task, self._worker)
        except BrokenProcessPool:
            log.warning("worker %s: the process pool broke; starting a new one", self._worker)
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = self._new_executor()
            future = self._executor.submit(_child_run, task, self._worker)
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
                self._started((queue, task_id))
            else:
                self._finished((queue, task_id), exception, runtime)

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
