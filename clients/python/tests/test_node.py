"""The producer calls against a real host node and a real redis-server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import Any, Dict, List, Optional

import pytest
import redis

from celeryactors import Allocator, NoListenerError
from support import PACKAGE_DIR, HostNode, RedisServer, unique, wait_until

# The seed's calls, as its users wrote them; only the import line is the package's.
SNIPPET = textwrap.dedent("""
    from celeryactors import get_allocator
    allocator = get_allocator()
    allocator.connect()
    allocator.register_worker(worker_name='worker-1', queues=['data_processing', 'prediction'],
                              capabilities={'cpu': 4, 'memory': 8192})
    task_id = allocator.publish_task(task_name='process_market_data', queue='data_processing',
                                     task_data={'symbol': 'AAPL', 'date': '2024-01-01'}, priority=8)

    from celeryactors.metrics import track_task_execution, update_queue_length, track_pubsub_message
    track_task_execution(task_name='process_data', queue='data_processing', duration=2.5, status='success')
    update_queue_length('data_processing', 42)
    track_pubsub_message('tasks:data_processing', 'task_published', 0.001)
""")


def next_message(pubsub: "redis.client.PubSub", timeout: float = 15.0) -> Dict[str, Any]:
    message = wait_until(lambda: pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2),
                         timeout=timeout, what="a message on " + ", ".join(map(str, pubsub.channels)))
    return json.loads(message["data"])  # type: ignore[no-any-return]


def subscribed(client: "redis.Redis", *channels: str) -> "redis.client.PubSub":
    pubsub = client.pubsub()
    pubsub.subscribe(*channels)
    wait_until(lambda: (pubsub.get_message(timeout=0.2) or {}).get("type") == "subscribe", timeout=5)
    return pubsub


def test_the_seed_snippet_runs_as_written(node: HostNode, redis_server: RedisServer,
                                          redis_client: "redis.Redis") -> None:
    inbox = subscribed(redis_client, "worker:worker-1")
    env = dict(os.environ, REDIS_URL=redis_server.url, PYTHONPATH=str(PACKAGE_DIR))
    env.pop("ALLOCATOR_CHANNEL_PREFIX", None)
    done = subprocess.run([sys.executable, "-c", SNIPPET + "\nprint(task_id)\n"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    task_id = done.stdout.strip()

    assignment = next_message(inbox)
    assert assignment == {
        "type": "assignment", "task_id": task_id, "task_name": "process_market_data", "queue": "data_processing",
        "task_data": {"symbol": "AAPL", "date": "2024-01-01"}, "priority": 8, "attempt": 1,
        "allocated_at": assignment["allocated_at"],
    }
    worker = node.worker("worker-1")
    assert worker is not None
    assert worker["pool_size"] == 4  # the cpu capability, as documented
    assert worker["capabilities"] == {"cpu": 4, "memory": 8192}
    assert sorted(worker["queues"]) == ["data_processing", "prediction"]

    def metrics_arrived() -> bool:
        samples = node.metrics()
        return (samples.get("celery_task_succeeded_total", task_name="process_data", queue="data_processing") == 1
                and samples.get("celery_redis_pubsub_messages_total", channel="tasks:data_processing",
                                message_type="task_published") == 1)

    wait_until(metrics_arrived, what="the snippet's metrics in /metrics")
    inbox.close()


def test_every_metrics_call_shows_its_exact_value(node: HostNode, allocator: Allocator) -> None:
    task, queue, gauge_queue, channel = unique("report.build"), unique("reports"), unique("inbox"), unique("orders")
    allocator.track_task_execution(task_name=task, queue=queue, duration=2.5, status="success")
    allocator.track_task_execution(task_name=task, queue=queue, duration=0.25, status="success")
    allocator.track_task_execution(task, queue, 1.5, status="failure", exception="PaymentDeclined")
    allocator.track_task_execution(task, queue, 0.125, status="failure", exception=TimeoutError("slow"))
    allocator.update_queue_length(gauge_queue, 17)
    allocator.update_queue_length(gauge_queue, 42)  # a gauge: the last value counts
    allocator.track_pubsub_message(channel, "order_created", 0.001)
    allocator.track_pubsub_message(channel, "order_created", 0.004)
    allocator.track_pubsub_message(channel, "order_paid", 0.5)

    expected = {
        ("celery_task_started_total", (("task_name", task), ("queue", queue))): 4,
        ("celery_task_succeeded_total", (("task_name", task), ("queue", queue))): 2,
        ("celery_task_failed_total", (("task_name", task), ("queue", queue), ("exception", "PaymentDeclined"))): 1,
        ("celery_task_failed_total", (("task_name", task), ("queue", queue), ("exception", "TimeoutError"))): 1,
        ("celery_task_duration_seconds_count", (("task_name", task), ("queue", queue))): 4,
        ("celery_task_duration_seconds_sum", (("task_name", task), ("queue", queue))): 2.5 + 0.25 + 1.5 + 0.125,
        ("celery_task_duration_seconds_bucket", (("task_name", task), ("queue", queue), ("le", "1"))): 2,
        ("celery_queue_length", (("queue", gauge_queue), ("source", "allocator"))): 42,
        ("celery_redis_pubsub_messages_total", (("channel", channel), ("message_type", "order_created"))): 2,
        ("celery_redis_pubsub_messages_total", (("channel", channel), ("message_type", "order_paid"))): 1,
        ("celery_redis_pubsub_latency_seconds_count", (("channel", channel),)): 3,
        ("celery_redis_pubsub_latency_seconds_sum", (("channel", channel),)): 0.505,
    }

    def actual() -> Dict[Any, Optional[float]]:
        samples = node.metrics()
        return {key: samples.get(key[0], **dict(key[1])) for key in expected}

    def matches() -> bool:
        got = actual()
        return all(got[key] is not None and abs(got[key] - value) < 1e-9 for key, value in expected.items())

    wait_until(matches, what=f"exact metrics; got {actual()}")


def test_invalid_arguments_send_nothing(node: HostNode, allocator: Allocator, redis_server: RedisServer) -> None:
    queue, worker = unique("never"), unique("never-worker")
    sentinel = unique("sentinel")
    watcher = redis_server.client()
    with watcher.monitor() as monitor:
        bad_calls = [
            lambda: allocator.publish_task("t", queue, priority=11),
            lambda: allocator.publish_task("t", "", priority=1),
            lambda: allocator.publish_task("t", queue, task_data={"at": object()}),
            lambda: allocator.publish_task("t", queue, task_data={1, 2}, durable=True),
            lambda: allocator.publish_task("", queue),
            lambda: allocator.publish_task("t", queue, requires={"gpu": None}),
            lambda: allocator.publish_tasks([{"task_name": "t", "queue": queue}, {"task_name": "t", "queue": ""}]),
            lambda: allocator.register_worker(worker, [], {"cpu": 2}),
            lambda: allocator.register_worker(worker, [queue], pool_size=0),
            lambda: allocator.report_status("t1", worker, "finished"),
            lambda: allocator.track_task_execution("t", queue, -1),
            lambda: allocator.update_queue_length(queue, -5),
            lambda: allocator.track_pubsub_message(queue, "m", float("inf")),
        ]
        for call in bad_calls:
            with pytest.raises(ValueError):
                call()
        # Redis runs commands in order: once the sentinel shows, anything the calls sent would have shown.
        redis_server.client().echo(sentinel)
        seen: List[str] = []
        while True:
            command = monitor.next_command()["command"]
            if sentinel in command:
                break
            seen.append(command)
    leaked = [command for command in seen if queue in command or worker in command]
    assert leaked == []
    assert allocator.redis.exists(allocator.channels.tasks(queue)) == 0
    assert node.queue(queue) is None


def test_durable_publish_appends_the_task_to_the_stream(node: HostNode, redis_server: RedisServer,
                                                        redis_client: "redis.Redis") -> None:
    # Behind a prefix no node reads, the entries stay where they were put, to be looked at.
    with Allocator(redis_server.url, unique("unread") + ".") as unread:
        queue = unique("durable")
        first = unread.publish_task("ledger.post", queue, task_data={"amount": 12.5, "tags": ["a"]}, priority=7,
                                    requires={"region": "eu"}, durable=True)
        batch = unread.publish_tasks([{"task_name": "ledger.post", "queue": queue, "task_data": i, "task_id": f"b{i}"}
                                      for i in range(3)], durable=True)
        assert batch == ["b0", "b1", "b2"]
        entries = redis_client.xrange(unread.channels.tasks(queue))
    assert len(entries) == 4
    payloads = []
    for _, fields in entries:
        assert list(fields) == [b"payload"]
        payloads.append(json.loads(fields[b"payload"]))
    assert {k: v for k, v in payloads[0].items() if k != "published_at"} == {
        "task_name": "ledger.post", "task_id": first, "priority": 7, "task_data": {"amount": 12.5, "tags": ["a"]},
        "requires": {"region": "eu"}}
    assert [p["task_id"] for p in payloads[1:]] == batch and [p["task_data"] for p in payloads[1:]] == [0, 1, 2]
    assert all(isinstance(p["published_at"], float) for p in payloads)


def test_durable_tasks_are_taken_by_the_node_and_leave_the_stream(node: HostNode, allocator: Allocator,
                                                                  redis_client: "redis.Redis") -> None:
    queue = unique("durable")
    ids = allocator.publish_tasks([{"task_name": "ledger.post", "queue": queue, "task_id": f"d{i}"} for i in range(20)],
                                  durable=True)
    assert allocator.publish_task("ledger.post", queue, task_id="d0", durable=True) == "d0"  # a duplicate
    stats = wait_until(lambda: (node.queue(queue) or {}).get("duplicates") == 1 and node.queue(queue),
                       what="20 accepted and one duplicate")
    assert (stats["accepted"], stats["pending"]) == (len(ids), 20)
    wait_until(lambda: redis_client.xlen(allocator.channels.tasks(queue)) == 0, what="the stream emptied")


def test_a_publish_nobody_hears_raises(node: HostNode, redis_server: RedisServer) -> None:
    # No node listens behind this prefix.
    with Allocator(redis_server.url, unique("nobody") + ".") as lonely:
        with pytest.raises(NoListenerError) as raised:
            lonely.publish_task("t", "q", task_id="lost")
        assert raised.value.task_ids == ("lost",)
        assert lonely.publish_task("t", "q", task_id="sent-anyway", require_listener=False) == "sent-anyway"
        with pytest.raises(NoListenerError):
            lonely.register_worker("w", ["q"])
        with pytest.raises(NoListenerError):
            lonely.track_task_execution("t", "q", 1.0)


def test_batch_publish_reaches_the_node(node: HostNode, allocator: Allocator) -> None:
    queue = unique("bulk")
    ids = allocator.publish_tasks(
        [{"task_name": "bulk.item", "queue": queue, "task_data": {"n": i}, "priority": i % 10} for i in range(500)],
        batch_size=128)
    assert len(set(ids)) == 500
    stats = wait_until(lambda: (node.queue(queue) or {}).get("accepted") == 500 and node.queue(queue),
                       what="500 accepted")
    assert stats["pending"] == 500
    assert stats["pending_by_priority"] == {str(p): 50 for p in range(10)}
    # A retry of the same ids is a duplicate, not new tasks.
    allocator.publish_tasks([{"task_name": "bulk.item", "queue": queue, "task_id": i} for i in ids[:10]])
    wait_until(lambda: (node.queue(queue) or {}).get("duplicates") == 10, what="10 duplicates")
    assert node.queue(queue)["accepted"] == 500  # type: ignore[index]
