"""The tasks a worker holds, shared by its loop (which takes assignments) and its pool (which ends them)."""

from __future__ import annotations

import threading
from typing import Dict, List, Optional, Tuple

from ._assignment import Task

#: A held task's key: (queue, task id), since two queues may use the same task id.
Key = Tuple[str, str]


class _Entry:
    __slots__ = ("task", "submitted")

    def __init__(self, task: Task) -> None:
        self.task = task
        self.submitted = False  # handed to the pool; a task taken during a stop never is


class HeldTasks:
    """The tasks allocated to the worker and not yet reported finished, and counts of what became of them.

    Every method takes one lock: the loop adds tasks while the pool's threads end them. After :meth:`close`
    (the worker unregistered, so the nodes gave its tasks back) nothing is reported any more: a task that
    ends then is counted ``unreported``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: Dict[Key, _Entry] = {}
        self._closed = False
        self._counts = {"received": 0, "succeeded": 0, "failed": 0, "unreported": 0}

    def open(self) -> None:
        """Starts a run with nothing held."""
        with self._lock:
            self._entries.clear()
            self._closed = False

    def close(self) -> None:
        """Ends a run: what was not started is forgotten; what still runs is kept only to count its end."""
        with self._lock:
            self._closed = True
            self._entries = {key: entry for key, entry in self._entries.items() if entry.submitted}

    @property
    def closed(self) -> bool:
        """True once the run ended: results are not reported."""
        return self._closed

    def take(self, task: Task, start: bool) -> bool:
        """Holds an assigned task; True when it is new and ``start`` (not stopping), so the pool runs it. A
        repeat of a held task (its acknowledgement got lost) runs only once."""
        key = (task.queue, task.task_id)
        with self._lock:
            if key in self._entries:
                return False
            entry = self._entries[key] = _Entry(task)
            self._counts["received"] += 1
            entry.submitted = start
            return start

    def starting(self, key: Key) -> Optional[Task]:
        """The task whose handler begins, or None when it is no longer held or the run ended."""
        with self._lock:
            entry = self._entries.get(key)
            return None if entry is None or self._closed else entry.task

    def ending(self, key: Key) -> Optional[Task]:
        """The task whose handler ended, to report; None when there is nothing to report (after the run
        ended the task went back to its queue and may run elsewhere: it is counted unreported)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or not entry.submitted:
                return None
            if self._closed:
                del self._entries[key]
                self._counts["unreported"] += 1
                return None
            return entry.task

    def ended(self, key: Key, status: str) -> None:
        """Lets go of a task once its end (``succeeded`` or ``failed``) was reported."""
        with self._lock:
            self._entries.pop(key, None)
            self._counts[status] += 1

    def running(self) -> int:
        """How many held tasks were handed to the pool and have not ended."""
        with self._lock:
            return sum(1 for entry in self._entries.values() if entry.submitted)

    def task_ids(self) -> List[str]:
        """The ids of the held tasks, as a heartbeat lists them."""
        with self._lock:
            return [task_id for (_, task_id) in self._entries]

    def tasks(self) -> List[Task]:
        """The held tasks; empty once the run ended."""
        with self._lock:
            return [] if self._closed else [entry.task for entry in self._entries.values()]

    def counts(self) -> Dict[str, int]:
        """``received``, ``succeeded``, ``failed`` and ``unreported`` since the worker was made."""
        with self._lock:
            return dict(self._counts)
