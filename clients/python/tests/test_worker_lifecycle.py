"""The worker runner's life on the wire against a real host node: registration, heartbeats and unregistration,
the command line until SIGTERM, and coming back after Redis restarts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Dict, List

import redis

import handlers
from celeryactors import Allocator, Worker
from support import PACKAGE_DIR, HostNode, RedisServer, finished, run_worker, unique, wait_until

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))


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
