"""Handlers importable by name: the process pool and the command line load them in other processes."""

from __future__ import annotations

import os
import time

from celeryactors import Task


class PaymentDeclined(Exception):
    """A business failure a handler raises."""


class InventoryMissing(LookupError):
    """Another one, of another type."""


class WrongProcess(Exception):
    """The handler ran in the runner's own process although a process pool was asked for."""


def by_instruction(task: Task) -> None:
    """Sleeps ``sleep`` seconds, then raises the exception ``raise`` names (if any)."""
    data = task.task_data or {}
    if data.get("parent_pid") == os.getpid():
        raise WrongProcess()
    time.sleep(data.get("sleep", 0))
    failure = data.get("raise")
    if failure == "PaymentDeclined":
        raise PaymentDeclined(f"card of task {task.task_id}")
    if failure == "InventoryMissing":
        raise InventoryMissing(task.task_id)


def noop(task: Task) -> None:
    """Does nothing (the runner's own overhead is what is left)."""
