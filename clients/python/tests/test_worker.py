"""The worker runner against a real host node: allocation over a shared pool, exact counts, the process pool,
and what a clean or an immediate stop does with running tasks."""

from __future__ import annotations

import collections
import os
import threading
import time
from typing import Dict, List

import handlers
from celeryactors import Allocator, Task, Worker
from support import HostNode, finished, run_worker, unique, wait_until


def test_pool_of_three_on_two_queues_reports_exact_counts(node: HostNode, allocator: Allocator,
                                                          workers: List[Worker]) -> None:
    queues = [unique("billing"), unique("shipping")]
    task_name = unique("order.process")
    lock = threading.Lock()
    running = [0]
    most = [0]
    seen: List[Task] = []

    def handler(task: Task) -> None:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
            seen.append(task)
        try:
            handlers.by_instruction(task)
        finally:
            with lock:
                running[0] -= 1

    plan = []
    expected: Dict[str, collections.Counter] = {q: collections.Counter() for q in queues}
    for i in range(50):
        queue = queues[i % 2]
        failure = "PaymentDeclined" if i % 7 == 0 else "InventoryMissing" if i % 11 == 0 else None
        expected[queue][failure or "succeeded"] += 1
        plan.append({"task_name": task_name, "queue": queue, "task_id": f"t{i}", "priority": i % 10,
                     "task_data": {"sleep": 0.04, "raise": failure, "i": i}})
    worker = run_worker(workers, allocator, unique("runner"), queues, handler, pool_size=3)
    allocator.publish_tasks(plan)

    wait_until(lambda: all(finished(node, q) == 25 for q in queues), timeout=60, what="50 tasks finished")
    for queue in queues:
        stats = node.queue(queue)
        assert stats is not None
        failures = sum(n for kind, n in expected[queue].items() if kind != "succeeded")
        assert (stats["accepted"], stats["allocated"], stats["succeeded"], stats["failed"], stats["requeued"]) == (
            25, 25, expected[queue]["succeeded"], failures, 0), stats

    def metrics_exact() -> bool:
        samples = node.metrics()
        for queue in queues:
            labels = {"task_name": task_name, "queue": queue}
            if samples.get("celery_task_started_total", **labels) != 25:
                return False
            if samples.get("celery_task_succeeded_total", **labels) != expected[queue]["succeeded"]:
                return False
            if samples.get("celery_task_duration_seconds_count", **labels) != 25:
                return False
            for exception in ("PaymentDeclined", "InventoryMissing"):
                if samples.get("celery_task_failed_total", exception=exception, **labels) != expected[queue][exception]:
                    return False
            if len(samples.series("celery_task_failed_total", **labels)) != 2:
                return False
        return True

    wait_until(metrics_exact, what="exact counts by exception in /metrics")
    assert most[0] == 3  # the pool was used, and never exceeded
    assert sorted(t.task_id for t in seen) == sorted(p["task_id"] for p in plan)  # each ran once
    assert all(t.attempt == 1 and t.task_name == task_name for t in seen)
    assert {t.task_id: t.task_data for t in seen} == {p["task_id"]: p["task_data"] for p in plan}
    assert worker.stats == {"received": 50, "succeeded": 50 - sum(
        n for q in queues for k, n in expected[q].items() if k != "succeeded"), "failed": sum(
        n for q in queues for k, n in expected[q].items() if k != "succeeded"), "unreported": 0}
    assert worker.held == []


def test_process_pool_runs_in_other_processes(node: HostNode, allocator: Allocator,
                                              workers: List[Worker]) -> None:
    queue, task_name = unique("crunch"), unique("crunch.numbers")
    run_worker(workers, allocator, unique("proc"), [queue], handlers.by_instruction, pool_size=2, pool="process")
    failures = {2: "PaymentDeclined", 5: "InventoryMissing"}
    allocator.publish_tasks([{"task_name": task_name, "queue": queue, "task_data": {
        "parent_pid": os.getpid(), "raise": failures.get(i), "sleep": 0.01}} for i in range(8)])
    wait_until(lambda: finished(node, queue) == 8, timeout=60, what="8 tasks finished")
    stats = node.queue(queue)
    assert stats is not None and (stats["succeeded"], stats["failed"]) == (6, 2)

    def exact() -> bool:
        samples = node.metrics()
        labels = {"task_name": task_name, "queue": queue}
        return (samples.get("celery_task_started_total", **labels) == 8
                and samples.get("celery_task_failed_total", exception="PaymentDeclined", **labels) == 1
                and samples.get("celery_task_failed_total", exception="InventoryMissing", **labels) == 1
                and samples.get("celery_task_failed_total", exception="WrongProcess", **labels) is None)

    wait_until(exact, what="process-pool counts in /metrics")


def test_a_clean_stop_finishes_what_runs_and_returns_the_rest(node: HostNode, allocator: Allocator,
                                                              workers: List[Worker]) -> None:
    queue, task_name = unique("reports"), unique("report.render")
    lock = threading.Lock()
    runs: collections.Counter = collections.Counter()

    def handler(task: Task) -> None:
        with lock:
            runs[task.task_id] += 1
        time.sleep(0.05)

    first = run_worker(workers, allocator, unique("first"), [queue], handler, pool_size=3)
    ids = allocator.publish_tasks([{"task_name": task_name, "queue": queue, "task_data": i} for i in range(50)])
    wait_until(lambda: first.stats["succeeded"] >= 9, timeout=30, what="the first runner under way")
    assert first.stop(finish=True, timeout=30)
    stopped = first.stats
    assert stopped["succeeded"] < 50 and first.held == []
    # Nothing started was dropped: every task the first runner began, it finished and reported.
    assert stopped["succeeded"] == sum(runs.values())
    returned = stopped["received"] - stopped["succeeded"]

    second = run_worker(workers, allocator, unique("second"), [queue], handler, pool_size=3)
    wait_until(lambda: finished(node, queue) == 50, timeout=60, what="all 50 finished")
    stats = node.queue(queue)
    assert stats is not None
    assert (stats["accepted"], stats["succeeded"], stats["failed"]) == (50, 50, 0)
    assert stats["requeued"] >= returned  # and any assignment still on its way when the first unregistered
    assert stopped["succeeded"] + second.stats["succeeded"] == 50
    assert sorted(runs) == sorted(ids) and set(runs.values()) == {1}  # each ran exactly once


def test_an_immediate_stop_returns_running_tasks_to_the_queue(node: HostNode, allocator: Allocator,
                                                              workers: List[Worker]) -> None:
    queue, task_name = unique("imports"), unique("import.file")
    release = threading.Event()
    done_by_second: List[str] = []

    def stuck(task: Task) -> None:
        release.wait(30)

    first = run_worker(workers, allocator, unique("stuck"), [queue], stuck, pool_size=3)
    ids = allocator.publish_tasks([{"task_name": task_name, "queue": queue, "task_id": f"f{i}"} for i in range(20)])
    wait_until(lambda: len(first.held) == 3, what="three tasks held by the stuck runner")
    held = sorted(t.task_id for t in first.held)
    try:
        assert first.stop(finish=False, timeout=10)
        wait_until(lambda: (node.queue(queue) or {}).get("requeued") == 3, what="the three held tasks requeued")
        second = run_worker(workers, allocator, unique("rescuer"), [queue], lambda t: done_by_second.append(t.task_id),
                            pool_size=4)
        wait_until(lambda: finished(node, queue) == 20, timeout=60, what="all 20 finished by the second runner")
        assert sorted(done_by_second) == sorted(ids)
        assert set(held) <= set(done_by_second)
        assert second.stats["succeeded"] == 20 and first.stats["succeeded"] == 0
    finally:
        release.set()
    # The first runner's handlers end after it unregistered: not reported, the counts stay exact.
    wait_until(lambda: first.stats["unreported"] == 3, what="late results dropped")
    stats = node.queue(queue)
    assert stats is not None and (stats["succeeded"], stats["failed"], stats["requeued"]) == (20, 0, 3)
