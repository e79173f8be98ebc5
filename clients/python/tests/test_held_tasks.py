"""The book of a worker's held tasks alone: what starts, what is reported and what is counted unreported."""

from __future__ import annotations

from celeryactors import Task
from celeryactors._held import HeldTasks


def task(task_id: str, queue: str = "q") -> Task:
    return Task(task_id, "t", queue)


def test_a_new_task_starts_once_and_a_repeat_only_counts_as_received_once() -> None:
    held = HeldTasks()
    assert held.take(task("a"), start=True)
    assert not held.take(task("a"), start=True)  # a lost acknowledgement repeated the assignment
    assert held.take(task("a", queue="other"), start=True)  # two queues may share a task id
    assert held.counts()["received"] == 2
    assert held.running() == 2 and sorted(held.task_ids()) == ["a", "a"]


def test_a_task_taken_while_stopping_is_held_but_never_started_or_reported() -> None:
    held = HeldTasks()
    assert not held.take(task("late"), start=False)
    assert held.running() == 0 and held.task_ids() == ["late"]
    assert held.ending(("q", "late")) is None
    held.close()
    assert held.tasks() == [] and held.task_ids() == []


def test_an_ended_task_is_let_go_and_counted_by_its_status() -> None:
    held = HeldTasks()
    held.take(task("ok"), start=True)
    held.take(task("bad"), start=True)
    assert held.starting(("q", "ok")) == task("ok")
    for key, status in ((("q", "ok"), "succeeded"), (("q", "bad"), "failed")):
        assert held.ending(key) is not None
        held.ended(key, status)
    counts = held.counts()
    assert (counts["succeeded"], counts["failed"], counts["unreported"]) == (1, 1, 0)
    assert held.tasks() == [] and held.running() == 0


def test_after_the_run_ends_nothing_starts_and_a_late_end_is_counted_unreported() -> None:
    held = HeldTasks()
    held.take(task("running"), start=True)
    held.close()
    assert held.closed and held.tasks() == []
    assert held.starting(("q", "running")) is None
    assert held.ending(("q", "running")) is None
    assert held.counts()["unreported"] == 1 and held.running() == 0
    held.open()
    assert not held.closed and held.take(task("running"), start=True)
