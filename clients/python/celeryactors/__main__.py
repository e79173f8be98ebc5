"""Command line: ``python -m celeryactors worker --name NAME --queues a,b --app module:function``."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .allocator import Allocator
from .wire import CapabilityValue
from .worker import Handler, Worker

__all__ = ["load_handler", "main"]


def load_handler(spec: str) -> Handler:
    """Imports ``module:function`` (the function may be dotted, ``module:obj.method``) and returns it."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"--app must be module:function, got {spec!r}")
    target: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise ValueError(f"{spec} is not callable")
    return target  # type: ignore[no-any-return]


def _capability(text: str) -> Tuple[str, CapabilityValue]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"a capability is NAME=VALUE, got {text!r}")
    parsed: CapabilityValue
    try:
        parsed = int(value)
    except ValueError:
        try:
            parsed = float(value)
        except ValueError:
            parsed = value
    return name, parsed


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m celeryactors", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    worker = commands.add_parser("worker", help="run a worker until SIGTERM or Ctrl+C")
    worker.add_argument("--name", required=True, help="the worker's name")
    worker.add_argument("--queues", required=True, help="comma-separated queues it consumes")
    worker.add_argument("--app", required=True, help="the handler, module:function; called with each Task")
    worker.add_argument("--pool-size", type=int, default=4, help="tasks run at once (default 4)")
    worker.add_argument("--pool", choices=("thread", "process"), default="thread", help="default thread")
    worker.add_argument("--capability", action="append", type=_capability, default=[], metavar="NAME=VALUE",
                        help="a capability (repeatable); numbers are numbers, anything else a string")
    worker.add_argument("--redis-url", help="default REDIS_URL, else redis://localhost:6379/0")
    worker.add_argument("--prefix", help="channel prefix; default ALLOCATOR_CHANNEL_PREFIX, else empty")
    worker.add_argument("--heartbeat-interval", type=float, default=5.0, help="seconds (default 5)")
    worker.add_argument("--drain-timeout", type=float, default=30.0,
                        help="seconds running tasks may take to finish on stop (default 30)")
    worker.add_argument("--log-level", default="INFO", help="default INFO")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the command line; returns the exit code (0 after a clean stop, 2 for bad arguments)."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        handler = load_handler(args.app)
        capabilities: Dict[str, CapabilityValue] = dict(args.capability)
        queues: List[str] = [q.strip() for q in args.queues.split(",") if q.strip()]
        worker = Worker(
            args.name,
            queues,
            handler,
            pool_size=args.pool_size,
            capabilities=capabilities or None,
            pool=args.pool,
            allocator=Allocator(args.redis_url, args.prefix),
            heartbeat_interval=args.heartbeat_interval,
            drain_timeout=args.drain_timeout,
        )
    except (ValueError, ImportError, AttributeError) as error:
        print(f"celeryactors: {error}", file=sys.stderr)
        return 2
    worker.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
