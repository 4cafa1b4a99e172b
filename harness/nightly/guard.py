"""Run one command so that nothing it starts outlives it or the night.

    python -m harness.nightly.guard COMMAND [ARG...]

A cell's `harness run` starts QEMU machines (and SIMULATED consoles) in sessions
of their own (pexpect), so neither a process-group kill nor the run's own death
reaches them: a run killed mid-boot would leave its QEMU running.  The guard
makes itself the child subreaper (PR_SET_CHILD_SUBREAPER), so everything the
command leaves behind is re-parented to it, and asks to be told when the night
dies (PR_SET_PDEATHSIG, even a SIGKILLed one).  When the command ends, or the
guard is told to stop (SIGTERM, SIGINT, SIGHUP, or its parent's death), it
stops the command (SIGTERM) and then every descendant still there (SIGTERM,
then SIGKILL).  Its exit status is the command's.  Linux only, as /proc is.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from types import FrameType

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
CHILD_GRACE = 5.0  # seconds the command has to stop on SIGTERM
SWEEP_GRACE = 3.0  # seconds a left-over descendant has between SIGTERM and SIGKILL


def _prctl(option: int, value: int) -> None:
    with contextlib.suppress(OSError, AttributeError):  # not Linux: the guard still stops its command
        ctypes.CDLL(None, use_errno=True).prctl(option, value)


def descendants(root: int) -> list[int]:
    """Live (not zombie) descendants of ROOT, from /proc."""
    children: dict[int, list[int]] = {}
    live: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
        if fields[0] != "Z":
            live.add(int(entry))
    out, todo = [], [root]
    while todo:
        for c in children.get(todo.pop(), []):
            todo.append(c)
            if c in live:
                out.append(c)
    return out


def _reap() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def sweep() -> None:
    """Stop every descendant still there: SIGTERM, then SIGKILL after SWEEP_GRACE."""
    me = os.getpid()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        deadline = time.monotonic() + SWEEP_GRACE
        pids = descendants(me)
        for p in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, sig)
        while pids and time.monotonic() < deadline:
            _reap()
            time.sleep(0.05)
            pids = descendants(me)
        if not pids:
            break
    _reap()


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m harness.nightly.guard COMMAND [ARG...]", file=sys.stderr)
        return 2
    parent = os.getppid()
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    stop: list[tuple[int, float]] = []  # (signal, when)
    child = subprocess.Popen(argv)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.append((signum, time.monotonic()))
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signal.SIGTERM)

    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, on_signal)
    if os.getppid() != parent:  # the night died before prctl could tell us
        on_signal(signal.SIGTERM, None)
    while True:
        try:
            rc = child.wait(0.2)
            break
        except subprocess.TimeoutExpired:
            if stop and time.monotonic() - stop[0][1] > CHILD_GRACE:
                child.kill()
    sweep()
    return 128 + stop[0][0] if stop else rc

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
