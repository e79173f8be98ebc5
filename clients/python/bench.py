"""Measures the Python client against a real host node: publish_task one by one, publish_tasks pipelined,
and the worker runner's cost per no-op task. Not part of the tests.

    PYTHONPATH=clients/python python3 clients/python/bench.py

Starts its own redis-server and host node on free loopback ports (the node built in Release first:
``dotnet build CeleryActors.sln -c Release``), or uses a running node with ``--redis-url`` and
``--node-url``. Every run uses fresh queue names.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Callable, Dict

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "tests"))

from celeryactors import Allocator, Task, Worker  # noqa: E402


def noop(task: Task) -> None:
    """The no-op handler (module level, so a process pool can load it)."""


def queue_stats(node_url: str, queue: str) -> Dict[str, Any]:
    try:
        with urllib.request.urlopen(f"{node_url}/api/queues/{queue}", timeout=10) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]
    except urllib.error.HTTPError:
        return {}


def wait_for(node_url: str, queue: str, field: str, count: int, timeout: float = 300.0) -> float:
    """Seconds until the queue's ``field`` reached ``count`` (polled every 10 ms)."""
    started = time.perf_counter()
    deadline = started + timeout
    while queue_stats(node_url, queue).get(field, 0) < count:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{queue}: {field} did not reach {count}")
        time.sleep(0.01)
    return time.perf_counter() - started


def measure(what: str, run: Callable[[], Any], count: int) -> float:
    cpu, wall = time.process_time(), time.perf_counter()
    run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{what}: {count} in {wall:.3f} s = {count / wall:,.0f}/s; client CPU {cpu / count * 1e6:.1f} us per task")
    return wall


def bench_publish(allocator: Allocator, node_url: str, count: int) -> None:
    queue = f"bench-one-{uuid.uuid4().hex[:8]}"
    data = {"symbol": "AAPL", "date": "2024-01-01"}

    def one_by_one() -> None:
        for _ in range(count):
            allocator.publish_task(task_name="bench.task", queue=queue, task_data=data, priority=5)

    measure("publish_task, one by one", one_by_one, count)
    print(f"  node accepted all {count} {wait_for(node_url, queue, 'accepted', count):.3f} s after the last call")


def bench_pipelined(allocator: Allocator, node_url: str, count: int, batch: int) -> None:
    queue = f"bench-batch-{uuid.uuid4().hex[:8]}"
    data = {"symbol": "AAPL", "date": "2024-01-01"}
    tasks = [{"task_name": "bench.task", "queue": queue, "task_data": data, "priority": i % 10} for i in range(count)]
    measure(f"publish_tasks, pipelined ({batch} per round trip)", lambda: allocator.publish_tasks(
        tasks, batch_size=batch), count)
    print(f"  node accepted all {count} {wait_for(node_url, queue, 'accepted', count):.3f} s after the call")


def bench_worker(allocator: Allocator, node_url: str, count: int, pool_size: int, pool: str) -> None:
    queue = f"bench-work-{uuid.uuid4().hex[:8]}"
    allocator.publish_tasks([{"task_name": "bench.noop", "queue": queue} for _ in range(count)])
    wait_for(node_url, queue, "accepted", count)

    worker = Worker(f"bench-{uuid.uuid4().hex[:8]}", [queue], noop, pool_size=pool_size, pool=pool,
                    allocator=allocator, handle_signals=False)
    cpu, wall = time.process_time(), time.perf_counter()
    worker.start()
    # Watching the runner's own count costs nothing; polling the node over HTTP here would bill its CPU
    # to the runner.
    while worker.stats["succeeded"] < count:
        time.sleep(0.01)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    worker.stop()
    assert queue_stats(node_url, queue)["succeeded"] == count
    print(f"worker runner, {pool} pool of {pool_size}, no-op handler: {count} tasks (queued before the start) in "
          f"{wall:.3f} s = {count / wall:,.0f}/s, {wall / count * 1e3:.2f} ms per task; runner CPU "
          f"{cpu / count * 1e6:.0f} us per task (receive, 3 reports, handler call)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis-url", help="use this Redis (with a node on it) instead of starting both")
    parser.add_argument("--node-url", help="the node's HTTP base, e.g. http://127.0.0.1:9540 (with --redis-url)")
    parser.add_argument("--one-by-one", type=int, default=20_000, help="tasks published one call each")
    parser.add_argument("--pipelined", type=int, default=200_000, help="tasks published with publish_tasks")
    parser.add_argument("--batch", type=int, default=1000, help="tasks per pipelined round trip")
    parser.add_argument("--worker-tasks", type=int, default=5000, help="no-op tasks per worker run")
    parser.add_argument("--pools", default="1,4,16", help="thread pool sizes to run the worker with")
    parser.add_argument("--process-pool", type=int, default=4, help="also a process pool of this size (0: no)")
    args = parser.parse_args()

    print(f"Python {platform.python_version()} on {platform.platform()}, {os.cpu_count()} CPUs")
    node = server = None
    if args.redis_url:
        if not args.node_url:
            parser.error("--redis-url needs --node-url")
        redis_url, node_url = args.redis_url, args.node_url.rstrip("/")
    else:
        from support import HostNode, RedisServer

        workdir = Path(tempfile.mkdtemp(prefix="celeryactors-bench-"))
        server = RedisServer(workdir)
        node = HostNode(server.url, workdir)
        redis_url, node_url = server.url, node.base
        print(f"private redis-server at {redis_url}, node at {node_url} (log {node.log_path})")
    try:
        allocator = Allocator(redis_url, "").connect()
        # Warm the node's hot path first (JIT): the figures are for a node that has been running.
        bench_pipelined(allocator, node_url, 20_000, args.batch)
        print("-- measured --")
        bench_publish(allocator, node_url, args.one_by_one)
        bench_pipelined(allocator, node_url, args.pipelined, args.batch)
        for size in [int(s) for s in args.pools.split(",") if s]:
            bench_worker(allocator, node_url, args.worker_tasks, size, "thread")
        if args.process_pool:
            bench_worker(allocator, node_url, args.worker_tasks, args.process_pool, "process")
    finally:
        if node is not None:
            node.stop()
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
