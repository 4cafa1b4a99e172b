"""A small typed, synchronous facade over ``qemu.qmp`` (which is asyncio-only).

Each ``Qmp`` owns a private event loop and drives it only inside its calls, so
it can be used from plain synchronous code (one thread per machine).  Snapshot
and register commands go through ``human-monitor-command`` (HMP), whose
errors come back as text rather than as QMP errors; they are turned into
``QmpError`` here.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from qemu.qmp import ConnectError, ExecInterruptedError, ExecuteError, QMPClient, QMPError

from harness.errors import InfraError

T = TypeVar("T")


class QmpError(InfraError):
    """A QMP command failed or QEMU's monitor went away."""


@dataclass(frozen=True)
class VmStatus:
    status: str  # "running", "paused", "prelaunch", "shutdown", "internal-error", ...
    running: bool


class Qmp:
    def __init__(self, socket_path: Path, *, timeout: float = 30.0) -> None:
        self.socket_path = socket_path
        self.timeout = timeout
        self._loop = asyncio.new_event_loop()
        self._client = QMPClient(f"harness-{socket_path.name}")
        self._connected = False

    # -- plumbing ---------------------------------------------------------
    def _run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        return self._loop.run_until_complete(asyncio.wait_for(coro, timeout or self.timeout))

    def connect(self, *, deadline: float = 30.0,
                alive: Callable[[], bool] | None = None) -> None:
        """Connect, retrying while QEMU is still creating the socket (and still ``alive``)."""
        end = time.monotonic() + deadline
        while True:
            if not self.socket_path.exists():  # not created yet: no noisy failed connect
                if time.monotonic() > end or (alive is not None and not alive()):
                    raise QmpError(f"QMP socket {self.socket_path} never appeared")
                time.sleep(0.02)
                continue
            try:
                self._run(self._client.connect(str(self.socket_path)))
                self._connected = True
                return
            except (TimeoutError, ConnectError, OSError) as e:
                if time.monotonic() > end or (alive is not None and not alive()):
                    raise QmpError(f"cannot connect to QMP at {self.socket_path}: {e}") from None
                # The client may be left half-open after a failed attempt.
                self._run(self._client.disconnect())
                time.sleep(0.05)

    def execute(self, cmd: str, args: dict[str, object] | None = None,
                timeout: float | None = None) -> Any:
        if not self._connected:
            raise QmpError(f"QMP not connected ({cmd})")
        try:
            return self._run(self._client.execute(cmd, args), timeout)
        except ExecuteError as e:
            raise QmpError(f"QMP {cmd}: {e.error.error.desc}") from None
        except (TimeoutError, QMPError, OSError, EOFError) as e:
            raise QmpError(f"QMP {cmd}: {type(e).__name__} {e}") from None

    def hmp(self, command: str, timeout: float | None = None) -> str:
        out = self.execute("human-monitor-command", {"command-line": command}, timeout)
        return str(out)

    def close(self) -> None:
        if self._loop.is_closed():
            return
        with contextlib.suppress(Exception):  # closing must never raise
            self._run(self._client.disconnect(), 5.0)
        # Whatever the client left behind (QEMU may have vanished mid-way) is
        # cancelled and awaited here, not garbage-collected with a closed loop.
        pending = asyncio.all_tasks(self._loop)
        for task in pending:
            task.cancel()
        with contextlib.suppress(Exception):
            self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self._connected = False
        self._loop.close()

    # -- typed commands ---------------------------------------------------
    def query_status(self) -> VmStatus:
        r = self.execute("query-status")
        return VmStatus(status=str(r["status"]), running=bool(r["running"]))

    def cont(self) -> None:
        self.execute("cont")

    def stop(self) -> None:
        self.execute("stop")

    def quit(self) -> None:
        """Ask QEMU to exit.  QEMU may drop the socket before or after replying."""
        with contextlib.suppress(QmpError):
            self.execute("quit", timeout=10.0)

    def savevm(self, name: str) -> None:
        self._hmp_checked(f"savevm {name}", timeout=120.0)

    def loadvm(self, name: str) -> None:
        self._hmp_checked(f"loadvm {name}", timeout=120.0)

    def delvm(self, name: str) -> None:
        self._hmp_checked(f"delvm {name}")

    def snapshots(self) -> list[str]:
        """Names of the VM snapshots (``info snapshots``)."""
        names: list[str] = []
        in_table = False
        for line in self.hmp("info snapshots").splitlines():
            parts = line.split()
            # A header "ID TAG VM SIZE DATE ..." then rows "ID TAG ..." (ID is "--"
            # in the list of snapshots present on all disks).
            if parts[:2] == ["ID", "TAG"]:
                in_table = True
            elif in_table and len(parts) >= 2:
                names.append(parts[1])
        return names

    def registers(self) -> str:
        """CPU registers as QEMU prints them (``info registers``), for hang reports."""
        return self.hmp("info registers")

    def pmemsave(self, addr: int, size: int, path: Path) -> None:
        """Save guest-physical memory [addr, addr+size) to ``path`` (written by QEMU)."""
        self.execute("pmemsave", {"val": addr, "size": size, "filename": str(path)},
                     timeout=120.0)

    def dump_guest_memory(self, path: Path) -> None:
        """Whole guest memory as an ELF core (``dump-guest-memory``, no paging)."""
        self.execute("dump-guest-memory", {"paging": False, "protocol": f"file:{path}"},
                     timeout=300.0)

    def _hmp_checked(self, command: str, timeout: float | None = None) -> None:
        out = self.hmp(command, timeout).strip()
        # HMP reports failure as text ("Error: ...") with a successful QMP reply.
        if out:
            raise QmpError(f"{command}: {out.splitlines()[0]}")

    def __enter__(self) -> Qmp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["Qmp", "QmpError", "VmStatus", "ExecInterruptedError"]
