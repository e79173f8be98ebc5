"""What the allocator sends for tasks (field names, types, defaults) against wire format v1 and the node's
validation rules, without Redis: a recording stand-in for the redis-py client captures what would be sent."""

from __future__ import annotations

import math
import uuid
from typing import Any, Dict

import pytest

import celeryactors
import celeryactors.allocator as allocator_module
from celeryactors import Allocator, Channels, NoListenerError, get_allocator, wire
from recording import RecordingRedis, only_message


# -- channels ---------------------------------------------------------------------------------------------


def test_channel_names_follow_the_prefix() -> None:
    plain = Channels()
    assert (plain.tasks("q"), plain.worker("w"), plain.workers_control, plain.task_status, plain.metrics) == (
        "tasks:q", "worker:w", "workers:control", "task-status", "metrics")
    prefixed = Channels("prod.")
    assert (prefixed.tasks("q"), prefixed.worker("w"), prefixed.workers_control, prefixed.task_status,
            prefixed.metrics) == ("prod.tasks:q", "prod.worker:w", "prod.workers:control", "prod.task-status",
                                  "prod.metrics")


def test_environment_gives_url_and_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1234/3")
    monkeypatch.setenv("ALLOCATOR_CHANNEL_PREFIX", "x.")
    made = Allocator()
    assert made.redis_url == "redis://127.0.0.1:1234/3" and made.channels.prefix == "x."
    monkeypatch.delenv("REDIS_URL")
    monkeypatch.delenv("ALLOCATOR_CHANNEL_PREFIX")
    default = Allocator()
    assert default.redis_url == "redis://localhost:6379/0" and default.channels.prefix == ""


def test_get_allocator_is_one_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(allocator_module, "_shared", None)
    first = get_allocator()
    assert get_allocator() is first
    monkeypatch.setattr(allocator_module, "_shared_pid", -1)  # as a forked child sees it
    assert get_allocator() is not first


# -- tasks ------------------------------------------------------------------------------------------------


def test_task_shape_and_defaults(fake: Allocator, recorder: RecordingRedis) -> None:
    task_id = fake.publish_task("etl.load", "data")
    kind, channel, message = only_message(recorder)
    assert (kind, channel) == ("publish", "tasks:data")
    assert set(message) == {"task_name", "task_id", "priority", "task_data", "published_at"}
    assert message["task_name"] == "etl.load"
    assert message["task_id"] == task_id and str(uuid.UUID(task_id)) == task_id
    assert message["priority"] == 5 and type(message["priority"]) is int
    assert message["task_data"] is None
    assert isinstance(message["published_at"], float) and math.isfinite(message["published_at"])


def test_task_with_every_field(fake: Allocator, recorder: RecordingRedis) -> None:
    task_id = fake.publish_task(task_name="t", queue="q", task_data={"a": [1, 2.5, None, "x"]}, priority=9,
                                task_id="job-1", requires={"gpu": 1, "zone": "eu", "mem": 0.5})
    assert task_id == "job-1"
    _, _, message = only_message(recorder)
    assert message["task_data"] == {"a": [1, 2.5, None, "x"]}
    assert message["priority"] == 9
    assert message["requires"] == {"gpu": 1, "zone": "eu", "mem": 0.5}


def test_empty_requirements_are_left_out(fake: Allocator, recorder: RecordingRedis) -> None:
    fake.publish_task("t", "q", requires={})
    assert "requires" not in only_message(recorder)[2]


def test_payload_is_compact_utf8_json() -> None:
    payload = wire.encode(wire.task_message("t", "i", {"s": "zürich €"}, 1))
    assert payload == '{"task_name":"t","task_id":"i","priority":1,"task_data":{"s":"zürich €"}}'.encode()


@pytest.mark.parametrize("kwargs, words", [
    ({"priority": 11}, "priority"),
    ({"priority": -1}, "priority"),
    ({"priority": "high"}, "priority"),
    ({"priority": 8.0}, "priority"),
    ({"priority": True}, "priority"),
    ({"queue": ""}, "queue"),
    ({"queue": "q" * 257}, "queue"),
    ({"queue": 7}, "queue"),
    ({"task_name": ""}, "task_name"),
    ({"task_name": None}, "task_name"),
    ({"task_name": "\U0001F600" * 129}, "task_name"),  # 258 UTF-16 units, as the node counts
    ({"task_id": ""}, "task_id"),
    ({"task_id": "x" * 257}, "task_id"),
    ({"task_data": {1, 2}}, "JSON"),
    ({"task_data": {"when": object()}}, "JSON"),
    ({"task_data": float("nan")}, "JSON"),
    ({"task_data": {"inf": float("inf")}}, "JSON"),
    ({"task_data": "\ud800"}, "Unicode"),
    ({"requires": {"gpu": True}}, "requires"),
    ({"requires": {"gpu": [1]}}, "requires"),
    ({"requires": {"": 1}}, "requires"),
    ({"requires": {f"c{i}": i for i in range(65)}}, "requires"),
    ({"requires": {"big": 10 ** 400}}, "requires"),
    ({"requires": ["gpu"]}, "requires"),
])
def test_invalid_tasks_raise_before_sending(fake: Allocator, recorder: RecordingRedis, kwargs: Dict[str, Any],
                                            words: str) -> None:
    arguments: Dict[str, Any] = {"task_name": "t", "queue": "q", "task_data": None}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=words):
        fake.publish_task(**arguments)
    with pytest.raises(ValueError, match=words):
        fake.publish_task(**arguments, durable=True)
    assert recorder.sent == []


def test_limits_themselves_are_accepted(fake: Allocator, recorder: RecordingRedis) -> None:
    fake.publish_task("t" * 256, "q" * 256, priority=0, task_id="\U0001F600" * 128,
                      requires={f"c{i}": i for i in range(64)})
    fake.publish_task("t", "q", priority=9)
    assert len(recorder.sent) == 2


def test_nesting_limit_is_the_nodes() -> None:
    def nested(depth: int) -> Any:
        value: Any = None
        for _ in range(depth):
            value = [value]
        return value

    # The node reads at most 64 levels with the message object as the first (checked against a real node).
    wire.encode(wire.task_message("t", "i", nested(63)))
    with pytest.raises(ValueError, match="deeper"):
        wire.encode(wire.task_message("t", "i", nested(64)))


def test_payload_over_the_limit_is_refused(recorder: RecordingRedis) -> None:
    small = Allocator(redis_client=recorder, max_payload_bytes=200)
    small.publish_task("t", "q", task_data="x" * 50)
    with pytest.raises(ValueError, match="over the node's limit of 200"):
        small.publish_task("t", "q", task_data="x" * 200)
    assert len(recorder.sent) == 1


def test_invalid_arguments_never_connect() -> None:
    nowhere = Allocator("redis://127.0.0.1:1/0")  # nothing listens on port 1
    with pytest.raises(ValueError):
        nowhere.publish_task("t", "q", priority=11)
    with pytest.raises(ValueError):
        nowhere.register_worker("w", [])
    with pytest.raises(ValueError):
        nowhere.track_task_execution("t", "q", -1.0)
    assert nowhere._client is None


def test_batch_is_checked_whole_before_sending(fake: Allocator, recorder: RecordingRedis) -> None:
    tasks = [{"task_name": "t", "queue": "q", "task_data": i} for i in range(5)]
    with pytest.raises(ValueError, match="task 5: priority"):
        fake.publish_tasks(tasks + [{"task_name": "t", "queue": "q", "priority": 10}])
    with pytest.raises(ValueError, match="unknown fields: prio"):
        fake.publish_tasks([{"task_name": "t", "queue": "q", "prio": 1}])
    with pytest.raises(ValueError, match="needs task_name and queue"):
        fake.publish_tasks([{"task_name": "t"}])
    assert recorder.sent == []
    ids = fake.publish_tasks(tasks + [{"task_name": "u", "queue": "r", "task_id": "fixed", "priority": 2}],
                             batch_size=2)
    assert ids[-1] == "fixed" and len(set(ids)) == 6
    assert [(channel, message["task_id"]) for _, channel, message in recorder.sent] == (
        [("tasks:q", i) for i in ids[:5]] + [("tasks:r", "fixed")])


def test_durable_writes_the_same_object_to_the_stream(fake: Allocator, recorder: RecordingRedis) -> None:
    fake.publish_task("t", "q", task_data={"a": 1}, task_id="d1", durable=True)
    kind, name, message = only_message(recorder)
    assert (kind, name) == ("xadd", "tasks:q")
    assert {k: v for k, v in message.items() if k != "published_at"} == {
        "task_name": "t", "task_id": "d1", "priority": 5, "task_data": {"a": 1}}


def test_unheard_publish_raises_unless_opted_out(recorder: RecordingRedis) -> None:
    recorder.heard = 0
    quiet = Allocator(redis_client=recorder)
    with pytest.raises(NoListenerError) as raised:
        quiet.publish_task("t", "q", task_id="lost-1")
    assert raised.value.task_ids == ("lost-1",) and raised.value.channel == "tasks:q"
    assert quiet.publish_task("t", "q", task_id="ok", require_listener=False) == "ok"
    with pytest.raises(NoListenerError) as batch:
        quiet.publish_tasks([{"task_name": "t", "queue": "q", "task_id": f"b{i}"} for i in range(3)])
    assert batch.value.task_ids == ("b0", "b1", "b2") and batch.value.unheard == 3
    with pytest.raises(NoListenerError):
        quiet.update_queue_length("q", 1)
    relaxed = Allocator(redis_client=recorder, require_listener=False)
    relaxed.update_queue_length("q", 1)
    assert isinstance(NoListenerError("c"), celeryactors.CeleryActorsError)
