"""A recording stand-in for the redis-py client, for the tests of message shapes: it captures what would be
sent and answers PUBLISH with a chosen number of listeners."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Tuple


class RecordingRedis:
    """Stands in for redis.Redis: records PUBLISH and XADD, answers PUBLISH with ``heard``."""

    def __init__(self, heard: int = 1) -> None:
        self.heard = heard
        self.sent: List[Tuple[str, str, Any]] = []

    def publish(self, channel: str, payload: bytes) -> int:
        self.sent.append(("publish", channel, json.loads(payload)))
        return self.heard

    def xadd(self, name: str, fields: Dict[str, bytes]) -> bytes:
        assert list(fields) == ["payload"]
        self.sent.append(("xadd", name, json.loads(fields["payload"])))
        return b"1-0"

    def pipeline(self, transaction: bool = True) -> "RecordingPipeline":
        return RecordingPipeline(self)


class RecordingPipeline:
    def __init__(self, owner: RecordingRedis) -> None:
        self.owner = owner
        self.calls: List[Any] = []

    def publish(self, channel: str, payload: bytes) -> None:
        self.calls.append(lambda: self.owner.publish(channel, payload))

    def xadd(self, name: str, fields: Dict[str, bytes]) -> None:
        self.calls.append(lambda: self.owner.xadd(name, fields))

    def execute(self) -> List[Any]:
        return [call() for call in self.calls]


def only_message(recorder: RecordingRedis) -> Tuple[str, str, Dict[str, Any]]:
    """The one message the recorder captured."""
    assert len(recorder.sent) == 1, recorder.sent
    return recorder.sent[0]
