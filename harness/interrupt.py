"""SIGINT, SIGTERM and SIGHUP end the harness the same way: as an exception.

Each of them raises ``Interrupted`` (a ``KeyboardInterrupt``) in the main
thread, so every ``finally`` and context manager on the way out runs: VMs are
killed, the summary is written once, marked interrupted.  Only the first signal
is acted on; a second one while cleaning up is ignored, so cleanup cannot be
cut short.  The exit code is the shell's: 128 + the signal number (130, 143, 129).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(signal.Signals(signum).name)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


_fired: list[int] = []


def _handler(signum: int, frame: FrameType | None) -> None:
    if _fired:
        return  # already on the way out
    _fired.append(signum)
    raise Interrupted(signum)


def install() -> Callable[[], None]:
    """Route the three signals to ``Interrupted`` (main thread only); returns what
    puts the previous handlers back (a harness called in-process, as tests do)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    _fired.clear()
    previous = {sig: signal.signal(sig, _handler) for sig in SIGNALS}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


def exit_code_of(exc: BaseException) -> int:
    """The exit code for an interruption (a plain KeyboardInterrupt is SIGINT's)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, Interrupted):
            return seen.exit_code
        seen = seen.__cause__ or seen.__context__
    return 128 + signal.SIGINT
