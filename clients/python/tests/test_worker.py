"""The worker runner against a real host node: allocation, reports, exact counts, stopping, heartbeats."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Dict, Iterator, List

import pytest
import redis

import handlers
from celeryactors import Allocator, Task, Worker
from support import PACKAGE_DIR, HostNode, RedisServer, unique, wait_until

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture
def workers() -> Iterator[List[Worker]]:
    """Workers a test starts; each is stopped at the end, failed or not."""
    started: List[Worker] = []
    try:
        yield started
    finally:
        for worker in started:
            worker.stop(finish=False, timeout=10)


def run_worker(workers: List[Worker], allocator: Allocator, name: str, queues: List[str],
               handler: Callable[[Task], Any], pool_size: int, **options: Any) -> Worker:
    options.setdefault("heartbeat_interval", 1.0)
    worker = Worker(name, queues, handler, pool_size=pool_size, allocator=allocator, **options)
    workers.append(worker)
    return worker.start(timeout=15)


def finished(node: HostNode, queue: str) -> int:
    stats = node.queue(queue) or {}
    return int(stats.get("succeeded", 0)) + int(stats.get("failed", 0))


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


def test_registration_heartbeats_and_unregistration_on_the_wire(
        node: HostNode, allocator: Allocator, workers: List[Worker], redis_client: "redis.Redis") -> None:
    queue, name = unique("wire"), unique("wired")
    release = threading.Event()
    control = redis_client.pubsub()
    control.subscribe("workers:control")
    wait_until(lambda: (control.get_message(timeout=0.2) or {}).get("type") == "subscribe")
    mine: List[Dict[str, Any]] = []

    def collect(until: Callable[[Dict[str, Any]], bool]) -> Dict[str, Any]:
        def step() -> Any:
            message = control.get_message(ignore_subscribe_messages=True, timeout=0.2)
            if message is None:
                return None
            body = json.loads(message["data"])
            if body.get("worker") != name:
                return None
            mine.append(body)
            return body if until(body) else None
        return wait_until(step, timeout=15)  # type: ignore[no-any-return]

    worker = run_worker(workers, allocator, name, [queue], lambda t: release.wait(30), pool_size=2,
                        capabilities={"cpu": 2, "zone": "eu"}, heartbeat_interval=0.2)
    try:
        register = collect(lambda m: m["type"] == "register")
        assert {k: v for k, v in register.items() if k != "published_at"} == {
            "type": "register", "worker": name, "queues": [queue], "pool_size": 2,
            "capabilities": {"cpu": 2, "zone": "eu"}, "instance": worker.instance}
        instance = worker.instance or ""
        stamp, _, pid = instance.partition("-")
        assert pid == str(os.getpid()) and abs(float(stamp) - time.time()) < 60
        allocator.publish_task("wire.task", queue, task_id="held-1")
        beat = collect(lambda m: m["type"] == "heartbeat" and m.get("running") == ["held-1"])
        assert set(beat) == {"type", "worker", "running", "published_at"}
        wait_until(lambda: (node.worker(name) or {}).get("unfinished_tasks") == 1, what="the node sees it held")
    finally:
        release.set()
    collect(lambda m: m["type"] == "heartbeat" and m.get("running") == [])
    worker.stop()
    collect(lambda m: m["type"] == "unregister")
    control.close()
    wait_until(lambda: not (node.worker(name) or {}).get("online"), what="the node has it offline")


def test_the_command_line_runs_a_worker_until_sigterm(node: HostNode, redis_server: RedisServer,
                                                      allocator: Allocator, tmp_path: Any) -> None:
    queues, name = [unique("cli-a"), unique("cli-b")], unique("cli")
    env = dict(os.environ, REDIS_URL=redis_server.url, PYTHONPATH=os.pathsep.join([str(PACKAGE_DIR), TESTS_DIR]))
    env.pop("ALLOCATOR_CHANNEL_PREFIX", None)
    log = open(tmp_path / "cli.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "celeryactors", "worker", "--name", name, "--queues", ",".join(queues),
         "--app", "handlers:by_instruction", "--pool-size", "2", "--capability", "cpu=2", "--heartbeat-interval", "1"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=str(tmp_path))
    try:
        wait_until(lambda: (node.worker(name) or {}).get("online"), what="the command-line worker registered")
        assert node.worker(name)["pool_size"] == 2  # type: ignore[index]
        allocator.publish_tasks([{"task_name": "cli.task", "queue": queues[i % 2],
                                  "task_data": {"raise": "PaymentDeclined" if i == 3 else None}} for i in range(6)])
        wait_until(lambda: finished(node, queues[0]) == 3 and finished(node, queues[1]) == 3, what="6 tasks finished")
        assert (node.queue(queues[1]) or {}).get("failed") == 1
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
        wait_until(lambda: not (node.worker(name) or {}).get("online"), what="unregistered")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        log.close()
    output = (tmp_path / "cli.log").read_text()
    assert "registered" in output and "PaymentDeclined" in output


def test_the_runner_comes_back_after_redis_restarts(workdir: Any) -> None:
    # A Redis of its own, without a node: restarting the session's would disturb the other tests.
    from support import RedisServer

    server = RedisServer(workdir)
    name, queue = unique("survivor"), unique("flaky")
    ran: List[str] = []
    try:
        client = server.client()
        lonely = Allocator(server.url, "", require_listener=False)
        worker = Worker(name, [queue], lambda t: ran.append(t.task_id), pool_size=1, allocator=lonely,
                        heartbeat_interval=0.2)
        worker.start(timeout=15)
        try:
            server.restart()
            # The runner subscribes again; then an assignment sent to it is taken and reported.
            wait_until(lambda: client.pubsub_numsub(f"worker:{name}")[0][1] == 1, timeout=20,
                       what="the runner subscribed again")
            status = client.pubsub()
            status.subscribe("task-status")
            wait_until(lambda: (status.get_message(timeout=0.2) or {}).get("type") == "subscribe")
            client.publish(f"worker:{name}", json.dumps({
                "type": "assignment", "task_id": "after-restart", "task_name": "t", "queue": queue,
                "task_data": None, "priority": 5, "attempt": 1, "allocated_at": time.time()}))
            reports: List[str] = []

            def succeeded() -> bool:
                message = status.get_message(ignore_subscribe_messages=True, timeout=0.2)
                if message is not None:
                    reports.append(json.loads(message["data"])["status"])
                return "succeeded" in reports

            wait_until(succeeded, what="the reports after the restart")
            assert reports == ["received", "started", "succeeded"] and ran == ["after-restart"]
            status.close()
        finally:
            worker.stop(finish=False, timeout=10)
        client.connection_pool.disconnect()
    finally:
        server.stop()
