"""Session fixtures: one redis-server and one host node for all the tests that need them (each test uses
names of its own), started on first use and stopped at the end, whatever happened."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator, List

import pytest
import redis

from celeryactors import Allocator, Worker
from recording import RecordingRedis
from support import HostNode, RedisServer


@pytest.fixture(scope="session", autouse=True)
def plain_environment() -> Iterator[None]:
    """The package reads REDIS_URL and ALLOCATOR_CHANNEL_PREFIX; the tests pass both explicitly."""
    saved = {k: os.environ.pop(k) for k in ("REDIS_URL", "ALLOCATOR_CHANNEL_PREFIX", "MAX_PAYLOAD_BYTES")
             if k in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(tmp_path_factory.mktemp("celeryactors"))


@pytest.fixture(scope="session")
def redis_server(workdir: Path) -> Iterator[RedisServer]:
    server = RedisServer(workdir)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def node(redis_server: RedisServer, workdir: Path) -> Iterator[HostNode]:
    host = HostNode(redis_server.url, workdir)
    try:
        yield host
    finally:
        host.stop()


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator["redis.Redis"]:
    client = redis_server.client()
    try:
        yield client
    finally:
        client.connection_pool.disconnect()


@pytest.fixture
def allocator(node: HostNode, redis_server: RedisServer) -> Iterator[Allocator]:
    """An allocator on the node's Redis (the node is running, so publishes are heard)."""
    with Allocator(redis_server.url, "") as connected:
        yield connected


@pytest.fixture
def recorder() -> RecordingRedis:
    """A stand-in for the redis-py client that records what would be sent (for the message-shape tests)."""
    return RecordingRedis()


@pytest.fixture
def fake(recorder: RecordingRedis) -> Allocator:
    """An allocator that sends into ``recorder``."""
    return Allocator(redis_client=recorder, channel_prefix="")


@pytest.fixture
def workers() -> Iterator[List[Worker]]:
    """Workers a test starts; each is stopped at the end, failed or not."""
    started: List[Worker] = []
    try:
        yield started
    finally:
        for worker in started:
            worker.stop(finish=False, timeout=10)
