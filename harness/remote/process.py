"""A process on the QEMU host that cannot outlive us, in a directory that cannot either.

The remote side is one small POSIX sh script, given the directory and the argv
as positional parameters (never as text: ``sh -c SCRIPT nh DIR ARGV...``, every
word shlex-quoted by ``SshConnection.start``).  It starts the process in its own
session and keeps a *lifeline*: a reader on the exec channel's stdin.  When the
channel closes, for whatever reason (``kill()``, Ctrl-C, SIGTERM, a SIGKILLed
harness, a dropped network: sshd closes the session's pipes), the reader gets
EOF and kills the process group and removes the directory.  ``kill()`` also
removes both explicitly and waits for the script to confirm.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
import time
from collections.abc import Sequence

import paramiko

from harness.remote.ssh import SshConnection, SshError

# $1: the run directory, then the argv.  fd 3 keeps the channel's stdin for the
# lifeline: an asynchronous list's own stdin is /dev/null (POSIX, no job control).
LIFELINE = r"""
d=$1; shift
cd "$d" || exit 97
exec 3<&0
setsid "$@" </dev/null >process.stdout 2>process.stderr 3<&- &
p=$!
echo "NH-PID $p"
{ cat <&3 >/dev/null; kill -KILL "-$p" "$p" 2>/dev/null; rm -rf -- "$d"; } &
wait "$p"; rc=$?
echo "NH-EXIT $rc"
exec 3<&-
wait
exit "$rc"
"""

_LIVE: set[RemoteProcess] = set()
_LIVE_LOCK = threading.Lock()


@atexit.register
def _kill_leftovers() -> None:
    with _LIVE_LOCK:
        procs = list(_LIVE)
    for p in procs:
        p.kill()


class RemoteProcess:
    """ARGV running in DIRECTORY on the host; ``kill()`` removes both."""

    def __init__(self, conn: SshConnection, directory: str, argv: Sequence[str]) -> None:
        self.conn, self.directory, self.argv = conn, directory, list(argv)
        self.chan: paramiko.Channel | None = None
        self.pid: int | None = None
        self._exit: int | None = None
        self._buf = ""

    def start(self, timeout: float = 15.0) -> RemoteProcess:
        self.chan = self.conn.start(["sh", "-c", LIFELINE, "nh-lifeline", self.directory, *self.argv])
        with _LIVE_LOCK:
            _LIVE.add(self)
        end = time.monotonic() + timeout
        while self.pid is None:
            self._poll(0.1)
            if self.chan.exit_status_ready() and self.pid is None:
                rc = self.chan.recv_exit_status()
                self.kill()
                raise SshError(f"{self.conn.spec}: could not start {self.argv[0]} in {self.directory} (exit {rc})")
            if time.monotonic() > end:
                self.kill()
                raise SshError(f"{self.conn.spec}: {self.argv[0]} did not start within {timeout:.0f}s")
        return self

    def _poll(self, wait: float = 0.0) -> None:
        chan = self.chan
        if chan is None:
            return
        deadline = time.monotonic() + wait
        while True:
            while chan.recv_ready():
                self._buf += chan.recv(4096).decode("ascii", "replace")
            *lines, self._buf = self._buf.split("\n")
            for line in lines:
                word, _, value = line.strip().partition(" ")
                if word == "NH-PID":
                    self.pid = int(value)
                elif word == "NH-EXIT":
                    self._exit = int(value)
            if time.monotonic() >= deadline or chan.closed:
                return
            time.sleep(0.02)

    def alive(self) -> bool:
        self._poll()
        return self.chan is not None and not self.chan.closed and self._exit is None \
            and not self.chan.exit_status_ready() and self.conn.alive()

    @property
    def returncode(self) -> int | None:
        self._poll()
        return self._exit

    def terminate(self) -> None:
        """Close the lifeline's write end only (the host kills the group and removes the
        directory): safe from another thread; kill() still confirms and releases."""
        chan = self.chan
        if chan is not None:
            with contextlib.suppress(Exception):
                chan.shutdown_write()

    def kill(self) -> None:
        """Close the lifeline (the host kills the group and removes the directory), and
        make sure of both with a second command while the connection lasts."""
        chan, self.chan = self.chan, None
        with _LIVE_LOCK:
            _LIVE.discard(self)
        if chan is not None:
            with contextlib.suppress(Exception):
                chan.shutdown_write()
                end = time.monotonic() + 10.0
                while not chan.exit_status_ready() and time.monotonic() < end:
                    time.sleep(0.05)
            with contextlib.suppress(Exception):
                chan.close()
        if self.conn.alive():
            argv = ["rm", "-rf", "--", self.directory]
            if self.pid is not None:
                argv = ["sh", "-c", 'kill -KILL "-$1" "$1" 2>/dev/null; rm -rf -- "$2"', "nh-kill",
                        str(self.pid), self.directory]
            with contextlib.suppress(SshError):
                self.conn.run(argv, timeout=30, check=False)
