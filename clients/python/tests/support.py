"""Processes and helpers for the tests: a real redis-server and a real host node on free loopback ports,
each stopped (killed if need be) when its fixture ends, and polling with deadlines instead of sleeps."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, FrozenSet, List, Optional, Tuple, TypeVar

import redis

from celeryactors import Allocator, Task, Worker

REPO = Path(__file__).resolve().parents[3]
PACKAGE_DIR = REPO / "clients" / "python"
T = TypeVar("T")


def unique(prefix: str) -> str:
    """A name no other test uses: the nodes and Redis live for the whole session."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], T], timeout: float = 15.0, interval: float = 0.05, what: str = "") -> T:
    """Polls ``check`` until it returns something truthy and returns it; fails at the deadline."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = check()
        except AssertionError as error:
            last = error
        else:
            if last:
                return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout} s: {what or check}; last: {last!r}")
        time.sleep(interval)


def _die_with_parent() -> None:
    # If pytest itself is killed, its servers get SIGTERM instead of living on (Linux prctl PR_SET_PDEATHSIG).
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except Exception:
        pass


def _stop_process(process: "subprocess.Popen[bytes]", grace: float) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


class RedisServer:
    """A redis-server on a free loopback port, no persistence."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (bash scripts/install-prerequisites.sh test)")
        self._binary, self._workdir = binary, workdir
        last_error = ""
        for _ in range(5):  # a free port can be taken between finding it and binding it
            self.port = free_port()
            self.url = f"redis://127.0.0.1:{self.port}/0"
            try:
                self._launch()
                return
            except (AssertionError, RuntimeError) as error:
                last_error = str(error)
                _stop_process(self.process, 2)
        raise RuntimeError(f"redis-server did not start: {last_error}")

    def _launch(self) -> None:
        self.log = self._workdir / f"redis-{self.port}.log"
        self.process = subprocess.Popen(
            [self._binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self._workdir), "--logfile", str(self.log)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        wait_until(self._answers, timeout=10, what="redis-server answers PING")

    def restart(self) -> None:
        """Stops the server and starts a new one on the same port (its data is gone)."""
        self.stop()
        self._launch()

    def _answers(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"redis-server exited with {self.process.returncode}")
        try:
            return bool(redis.Redis(port=self.port, host="127.0.0.1", socket_timeout=1).ping())
        except redis.exceptions.ConnectionError:
            return False

    def client(self) -> "redis.Redis":
        return redis.Redis.from_url(self.url, socket_timeout=10)

    def stop(self) -> None:
        _stop_process(self.process, 10)


def host_dll() -> Path:
    """The built host node; CELERYACTORS_HOST_DLL overrides."""
    override = os.environ.get("CELERYACTORS_HOST_DLL")
    candidates = [Path(override)] if override else [
        REPO / "src" / "Host" / "bin" / "Release" / "net10.0" / "CeleryActors.Host.dll",
        REPO / "tests" / "CeleryActors.Tests" / "bin" / "Release" / "net10.0" / "CeleryActors.Host.dll",
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise RuntimeError(
        "the host node is not built (looked for " + ", ".join(map(str, candidates)) + "): "
        "run dotnet build CeleryActors.sln -c Release"
    )


class HostNode:
    """A real host node process on the given Redis, its HTTP server on a free loopback port."""

    def __init__(self, redis_url: str, workdir: Path, extra_env: Optional[Dict[str, str]] = None) -> None:
        dotnet = shutil.which("dotnet")
        if dotnet is None:
            raise RuntimeError("dotnet is not on PATH")
        dll = host_dll()
        self.metrics_port = free_port()
        self.base = f"http://127.0.0.1:{self.metrics_port}"
        self.log_path = workdir / f"node-{self.metrics_port}.log"
        # Only this node's settings: a prefix, broker or token from the caller's environment would change
        # what the tests see.
        env = {k: v for k, v in os.environ.items()
               if k not in ("CELERY_BROKER_URL", "CELERY_BROKERS", "API_TOKEN", "METRICS_TOKEN")
               and not k.startswith(("ALLOCATOR_", "CeleryActors__"))}
        env.update({
            "REDIS_URL": redis_url,
            "METRICS_PORT": str(self.metrics_port),
            "METRICS_HOST": "127.0.0.1",
            "CLUSTER_HOSTNAME": "127.0.0.1",
            "CLUSTER_PORT": "0",
            "DOTNET_ENVIRONMENT": "Production",
            "CELERYACTORS_STATE_DIR": str(workdir / "state"),
        })
        env.update(extra_env or {})
        self._log_file = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [dotnet, str(dll)], cwd=str(workdir), env=env, stdin=subprocess.DEVNULL,
            stdout=self._log_file, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
        )
        try:
            wait_until(self._ready, timeout=60, interval=0.1, what="the host node's /health/ready")
        except BaseException:
            self.stop()
            raise RuntimeError(f"the host node did not get ready:\n{self.log_tail()}")

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"the host node exited with {self.process.returncode}:\n{self.log_tail()}")
        try:
            with urllib.request.urlopen(self.base + "/health/ready", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def get(self, path: str) -> Tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.base + path, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def json(self, path: str) -> Any:
        status, body = self.get(path)
        if status != 200:
            raise AssertionError(f"GET {path} answered {status}: {body[:200]!r}")
        return json.loads(body)

    def queue(self, name: str) -> Optional[Dict[str, Any]]:
        """The queue's statistics, or None while the node has not seen it (404)."""
        status, body = self.get(f"/api/queues/{name}")
        return json.loads(body) if status == 200 else None

    def worker(self, name: str) -> Optional[Dict[str, Any]]:
        for worker in self.json("/api/workers")["workers"]:
            if worker["worker"] == name:
                return worker  # type: ignore[no-any-return]
        return None

    def metrics(self) -> "Samples":
        status, body = self.get("/metrics")
        assert status == 200, status
        return Samples(body.decode())

    def stop(self) -> None:
        try:
            _stop_process(self.process, 15)
        finally:
            self._log_file.close()


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


class Samples:
    """The samples of one scrape of /metrics (Prometheus text format)."""

    def __init__(self, text: str) -> None:
        self.values: Dict[Tuple[str, FrozenSet[Tuple[str, str]]], float] = {}
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            match = _SAMPLE.match(line)
            if match is None:
                continue
            name, labels, value = match.groups()
            pairs = frozenset(
                (key, raw.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\"))
                for key, raw in _LABEL.findall(labels or "")
            )
            self.values[(name, pairs)] = float(value)

    def get(self, name: str, **labels: str) -> Optional[float]:
        """The value of the one series with exactly these labels, or None."""
        return self.values.get((name, frozenset(labels.items())))

    def series(self, name: str, **labels: str) -> List[Tuple[Dict[str, str], float]]:
        """Every series of ``name`` whose labels include these."""
        wanted = set(labels.items())
        return [(dict(pairs), value) for (n, pairs), value in self.values.items() if n == name and wanted <= pairs]


def run_worker(workers: List[Worker], allocator: Allocator, name: str, queues: List[str],
               handler: Callable[[Task], Any], pool_size: int, **options: Any) -> Worker:
    """Starts a worker on the allocator's Redis (heartbeats every second unless told), kept in ``workers`` so
    the test's fixture stops it."""
    options.setdefault("heartbeat_interval", 1.0)
    worker = Worker(name, queues, handler, pool_size=pool_size, allocator=allocator, **options)
    workers.append(worker)
    return worker.start(timeout=15)


def finished(node: HostNode, queue: str) -> int:
    """How many tasks of the queue the node counts succeeded or failed."""
    stats = node.queue(queue) or {}
    return int(stats.get("succeeded", 0)) + int(stats.get("failed", 0))
