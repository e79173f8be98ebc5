"""What the allocator and the metrics calls send for workers and metrics against wire format v1 and the
node's validation rules, the assignments a worker reads, and the package's documented names; without Redis."""

from __future__ import annotations

import json
from typing import Any, Dict

import pytest

import celeryactors
import celeryactors.allocator as allocator_module
from celeryactors import Allocator, Task, wire
from celeryactors.metrics import track_pubsub_message, track_task_execution, update_queue_length
from recording import RecordingRedis, only_message


# -- workers ----------------------------------------------------------------------------------------------


def test_register_shape_and_pool_size_from_cpu(fake: Allocator, recorder: RecordingRedis) -> None:
    assert fake.register_worker(worker_name="worker-1", queues=["a", "b", "a"],
                                capabilities={"cpu": 4, "memory": 8192}) == 4
    kind, channel, message = only_message(recorder)
    assert (kind, channel) == ("publish", "workers:control")
    assert {k: v for k, v in message.items() if k != "published_at"} == {
        "type": "register", "worker": "worker-1", "queues": ["a", "b"], "pool_size": 4,
        "capabilities": {"cpu": 4, "memory": 8192}}
    assert fake.register_worker("w", ["a"]) == 1
    assert "capabilities" not in recorder.sent[-1][2] and "instance" not in recorder.sent[-1][2]
    assert fake.register_worker("w", ["a"], {"cpu": 8}, pool_size=2, instance="1.5-42") == 2
    assert recorder.sent[-1][2]["instance"] == "1.5-42" and recorder.sent[-1][2]["pool_size"] == 2


@pytest.mark.parametrize("kwargs, words", [
    ({"queues": []}, "queues"),
    ({"queues": "abc"}, "queues"),
    ({"queues": [""]}, "queues"),
    ({"queues": [f"q{i}" for i in range(65)]}, "queues"),
    ({"pool_size": 0}, "pool_size"),
    ({"pool_size": 100_001}, "pool_size"),
    ({"pool_size": 2.5}, "pool_size"),
    ({"capabilities": {"cpu": 2.5}}, "cpu"),
    ({"capabilities": {"cpu": "many"}}, "cpu"),
    ({"worker_name": ""}, "worker"),
    ({"instance": ""}, "instance"),
])
def test_invalid_registrations(fake: Allocator, recorder: RecordingRedis, kwargs: Dict[str, Any],
                               words: str) -> None:
    arguments: Dict[str, Any] = {"worker_name": "w", "queues": ["q"]}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=words):
        fake.register_worker(**arguments)
    assert recorder.sent == []


def test_heartbeat_unregister_and_status_shapes(fake: Allocator, recorder: RecordingRedis) -> None:
    fake.heartbeat("w")
    fake.heartbeat("w", running=["t1", "t2"])
    fake.heartbeat("w", running=[])
    fake.unregister_worker("w")
    fake.report_status("t1", "w", "received", queue="q")
    fake.report_status("t1", "w", "succeeded", runtime=1.25)
    fake.report_status("t1", "w", "failed", runtime=0, exception=KeyError("k"))
    shapes = [(channel, {k: v for k, v in m.items() if k != "published_at"}) for _, channel, m in recorder.sent]
    assert shapes == [
        ("workers:control", {"type": "heartbeat", "worker": "w"}),
        ("workers:control", {"type": "heartbeat", "worker": "w", "running": ["t1", "t2"]}),
        ("workers:control", {"type": "heartbeat", "worker": "w", "running": []}),
        ("workers:control", {"type": "unregister", "worker": "w"}),
        ("task-status", {"task_id": "t1", "worker": "w", "status": "received", "queue": "q"}),
        ("task-status", {"task_id": "t1", "worker": "w", "status": "succeeded", "runtime": 1.25}),
        ("task-status", {"task_id": "t1", "worker": "w", "status": "failed", "runtime": 0.0,
                         "exception": "KeyError"}),
    ]
    assert all(isinstance(m["published_at"], float) for _, _, m in recorder.sent)


def test_invalid_status_reports(fake: Allocator, recorder: RecordingRedis) -> None:
    for kwargs in ({"status": "done"}, {"status": "succeeded", "runtime": -1},
                   {"status": "started", "runtime": 1}, {"status": "succeeded", "exception": "E"},
                   {"status": "failed", "exception": ""}, {"status": "succeeded", "runtime": wire.MAX_SECONDS + 1}):
        with pytest.raises(ValueError):
            fake.report_status("t1", "w", **kwargs)
    with pytest.raises(ValueError, match="running"):
        fake.heartbeat("w", running="t1")
    assert recorder.sent == []


def test_assignment_parsing() -> None:
    payload = json.dumps({"type": "assignment", "task_id": "x1", "task_name": "t", "queue": "q",
                          "task_data": {"a": 1}, "priority": 8, "attempt": 2, "allocated_at": 1796160277.831,
                          "future_field": True})
    assert wire.parse_assignment(payload.encode()) == Task("x1", "t", "q", {"a": 1}, 8, 2, 1796160277.831)
    assert wire.parse_assignment(b'{"type":"assignment","task_id":"a","task_name":"t","queue":"q"}') == Task(
        "a", "t", "q", None, 5, 1, None)
    assert wire.parse_assignment(b'{"type":"something_new"}') is None
    for bad in (b"not json", b"[1]", b'{"type":"assignment","task_name":"t","queue":"q"}',
                b'{"type":"assignment","task_id":"a","task_name":"t","queue":"q","attempt":"2"}'):
        with pytest.raises(ValueError):
            wire.parse_assignment(bad)


# -- metrics ----------------------------------------------------------------------------------------------


def test_metrics_shapes(fake: Allocator, recorder: RecordingRedis, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(allocator_module, "_shared", fake)
    monkeypatch.setattr(allocator_module, "_shared_pid", __import__("os").getpid())
    track_task_execution(task_name="process_data", queue="data_processing", duration=2.5, status="success")
    track_task_execution("t", "q", 1, status="failure", exception=ValueError)
    track_task_execution("t", "q", 0.5, "failure", "PaymentDeclined")
    update_queue_length("data_processing", 42)
    track_pubsub_message("tasks:data_processing", "task_published", 0.001)
    shapes = [(channel, {k: v for k, v in m.items() if k != "published_at"}) for _, channel, m in recorder.sent]
    assert shapes == [
        ("metrics", {"type": "task_execution", "task_name": "process_data", "queue": "data_processing",
                     "duration": 2.5, "status": "success"}),
        ("metrics", {"type": "task_execution", "task_name": "t", "queue": "q", "duration": 1,
                     "status": "failure", "exception": "ValueError"}),
        ("metrics", {"type": "task_execution", "task_name": "t", "queue": "q", "duration": 0.5,
                     "status": "failure", "exception": "PaymentDeclined"}),
        ("metrics", {"type": "queue_length", "queue": "data_processing", "length": 42}),
        ("metrics", {"type": "pubsub_message", "channel": "tasks:data_processing",
                     "message_type": "task_published", "latency": 0.001}),
    ]


@pytest.mark.parametrize("call", [
    lambda a: a.track_task_execution("t", "q", 1.0, status="failure"),
    lambda a: a.track_task_execution("t", "q", 1.0, status="ok"),
    lambda a: a.track_task_execution("t", "q", -0.1),
    lambda a: a.track_task_execution("t", "q", float("nan")),
    lambda a: a.track_task_execution("t", "q", "2.5"),
    lambda a: a.track_task_execution("t", "q", 1.0, exception="E"),
    lambda a: a.track_task_execution("", "q", 1.0),
    lambda a: a.update_queue_length("q", -1),
    lambda a: a.update_queue_length("q", 2.5),
    lambda a: a.update_queue_length("q", 2 ** 63),
    lambda a: a.update_queue_length("q", wire.MAX_COUNT + 1),
    lambda a: a.update_queue_length("", 1),
    lambda a: a.track_pubsub_message("c", "m", -1),
    lambda a: a.track_pubsub_message("c", "", 0.1),
    lambda a: a.track_pubsub_message("c" * 257, "m", 0.1),
    # The node's plausibility bounds: no measurement over 30 days.
    lambda a: a.track_task_execution("t", "q", wire.MAX_SECONDS + 1),
    lambda a: a.track_pubsub_message("c", "m", wire.MAX_SECONDS + 1),
])
def test_invalid_metrics(fake: Allocator, recorder: RecordingRedis, call: Any) -> None:
    with pytest.raises(ValueError):
        call(fake)
    assert recorder.sent == []


def test_exception_names() -> None:
    class PaymentDeclined(Exception):
        pass

    assert wire.exception_name(PaymentDeclined("card")) == "PaymentDeclined"
    assert wire.exception_name(PaymentDeclined) == "PaymentDeclined"
    assert wire.exception_name("Timeout") == "Timeout"
    with pytest.raises(ValueError):
        wire.exception_name(3)


def test_public_names_have_docstrings() -> None:
    import inspect

    from celeryactors import connection, errors, metrics, worker

    missing = []
    for module in (celeryactors, wire, metrics, worker, errors, allocator_module, connection):
        assert module.__doc__, module.__name__
        for name in getattr(module, "__all__", []):
            value = getattr(module, name)
            if inspect.isclass(value) or inspect.isfunction(value):
                if not inspect.getdoc(value):
                    missing.append(f"{module.__name__}.{name}")
                if inspect.isclass(value):
                    for attr, member in vars(value).items():
                        if not attr.startswith("_") and (inspect.isfunction(member) or isinstance(member, property)):
                            if not inspect.getdoc(member):
                                missing.append(f"{module.__name__}.{name}.{attr}")
    assert missing == []


def test_published_at_is_checked_against_the_nodes_window() -> None:
    import time

    now = time.time()
    assert wire.unregister_message("w", now - wire.MAX_SECONDS + 60)["published_at"] == now - wire.MAX_SECONDS + 60
    assert wire.unregister_message("w", now + 3600)["published_at"] == now + 3600  # clocks differ a little
    for bad, words in ((now + 2 * 86400, "a day from now"), (now - wire.MAX_SECONDS - 60, "30 days ago")):
        with pytest.raises(ValueError, match=words):
            wire.unregister_message("w", bad)
    assert wire.task_execution_message("t", "q", wire.MAX_SECONDS)["duration"] == wire.MAX_SECONDS
