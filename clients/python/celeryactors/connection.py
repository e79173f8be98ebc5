"""The connection to the nodes' Redis that :class:`~celeryactors.Allocator` and :class:`~celeryactors.Worker`
share: its settings (from arguments or the environment), the redis-py client, and publishing a checked message."""

from __future__ import annotations

import os
import threading
from typing import Any, Mapping, Optional, Sequence, TypeVar

import redis

from . import wire
from .errors import NoListenerError
from .wire import Channels

__all__ = ["Connection", "DEFAULT_REDIS_URL", "redact"]

#: Where the allocator connects when neither an argument nor ``REDIS_URL`` says otherwise.
DEFAULT_REDIS_URL = "redis://localhost:6379/0"

_Self = TypeVar("_Self", bound="Connection")


class Connection:
    """The settings, the redis-py client and the publishing that :class:`~celeryactors.Allocator` and
    :class:`~celeryactors.Worker` share; the parameters are :class:`~celeryactors.Allocator`'s."""

    def __init__(
        self,
        redis_url: Optional[str] = None,
        channel_prefix: Optional[str] = None,
        *,
        redis_client: Optional["redis.Redis"] = None,
        require_listener: bool = True,
        max_payload_bytes: Optional[int] = None,
        socket_timeout: float = 5.0,
    ) -> None:
        self.redis_url: str = redis_url or os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
        prefix = channel_prefix if channel_prefix is not None else os.environ.get("ALLOCATOR_CHANNEL_PREFIX", "")
        #: The channel names, behind the prefix.
        self.channels = Channels(prefix)
        self.require_listener = require_listener
        if max_payload_bytes is None:
            raw = os.environ.get("MAX_PAYLOAD_BYTES") or str(wire.DEFAULT_MAX_PAYLOAD_BYTES)
            try:
                max_payload_bytes = int(raw)
            except ValueError:
                raise ValueError(f"MAX_PAYLOAD_BYTES must be a whole number of bytes, got {raw!r}") from None
        if max_payload_bytes < 1:
            raise ValueError(f"max_payload_bytes must be at least 1, got {max_payload_bytes}")
        self.max_payload_bytes = max_payload_bytes
        self.socket_timeout = socket_timeout
        self._client: Optional["redis.Redis"] = redis_client
        self._owns_client = redis_client is None
        self._lock = threading.Lock()

    # -- connection ---------------------------------------------------------------------------------------

    def connect(self: _Self) -> _Self:
        """Connects to Redis and checks it answers (PING); returns the allocator. Calling it is optional
        (the first call that needs Redis connects), but it fails early when Redis is unreachable."""
        self.redis.ping()
        return self

    @property
    def redis(self) -> "redis.Redis":
        """The redis-py client, made on first use."""
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    self._client = redis.Redis.from_url(
                        self.redis_url,
                        socket_timeout=self.socket_timeout,
                        socket_connect_timeout=self.socket_timeout,
                        socket_keepalive=True,
                    )
                client = self._client
        return client

    def close(self) -> None:
        """Closes the connections this allocator opened (a client passed in is left to its owner)."""
        if not self._owns_client:
            return
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.connection_pool.disconnect()

    def __enter__(self: _Self) -> _Self:
        return self.connect()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- publishing ---------------------------------------------------------------------------------------

    def _send(self, channel: str, message: Mapping[str, Any], require_listener: Optional[bool]) -> int:
        """Encodes a built message and publishes it; returns how many subscribers heard it."""
        return self._publish(channel, self._encode(message), require_listener)

    def _encode(self, message: Mapping[str, Any]) -> bytes:
        return wire.encode(message, self.max_payload_bytes)

    def _requires(self, require_listener: Optional[bool]) -> bool:
        return self.require_listener if require_listener is None else require_listener

    def _publish(
        self, channel: str, payload: bytes, require_listener: Optional[bool], task_ids: Sequence[str] = ()
    ) -> int:
        heard = int(self.redis.publish(channel, payload))
        if heard == 0 and self._requires(require_listener):
            raise NoListenerError(channel, task_ids)
        return heard

    def __repr__(self) -> str:
        prefix = self.channels.prefix
        return f"{type(self).__name__}(redis_url={redact(self.redis_url)!r}, channel_prefix={prefix!r})"


def redact(url: str) -> str:
    """The URL without its password, for reprs and logs."""
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest:
        return f"{scheme}://***@{rest.rpartition('@')[2]}"
    return url
