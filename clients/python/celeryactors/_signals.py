"""SIGTERM and SIGINT as a request to stop, for a worker run on the main thread."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Callable, Optional


def on_stop_signals(callback: Callable[[str], None]) -> Callable[[], None]:
    """Calls ``callback`` with the signal's name on each SIGTERM or SIGINT; returns what puts the previous
    handlers back. Off the main thread it does nothing, since Python lets only that thread set handlers."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def on_signal(signum: int, frame: Optional[FrameType]) -> None:
        callback(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore
