"""One QEMU virtual machine: start, boot, run commands, snapshot/restore, stop.

The QEMU process runs in its own session (process group) so that a single
``killpg`` removes it and anything it spawned; every ``Machine`` is registered
until closed and an ``atexit`` hook kills leftovers, and the context manager
closes on any exception including KeyboardInterrupt.  Files in ``workdir``:

    qemu.cmdline   the exact argv (shell-quoted), written before starting
    qemu.stderr    QEMU's own messages (and qemu.stdout)
    qemu.pid       every pid QEMU had in this directory (one per start): what
                   to check for leftovers, by pid and never by name
    console.log    everything the guest's serial console printed, as it arrived
    plan9.ini      the boot configuration, for profiles that place it in memory
    vmstate.qcow2  holds savevm snapshots when no guest disk is qcow2
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from harness.errors import InfraError
from harness.qemu.console import (
    BootDialogue,
    BootResult,
    BootTimeouts,
    CommandResult,
    Console,
    ConsoleClosed,
)
from harness.qemu.profiles import (
    Disk,
    QemuProfile,
    build_command,
    check_qemu,
    make_vmstate_disk,
)
from harness.qemu.qmp import Qmp, VmStatus

# Unix socket paths are limited to 108 bytes; deep work dirs get sockets in /tmp.
_MAX_SOCK_DIR = 80


class QemuExited(InfraError):
    """QEMU exited when it should have been running."""


_LIVE: set[Machine] = set()
_LIVE_LOCK = threading.Lock()


@atexit.register
def kill_all() -> None:
    """Kill every machine still running (at exit, and when the harness is interrupted).

    Only the processes: a machine's QMP and console belong to the thread driving it,
    which may still be inside them."""
    with _LIVE_LOCK:
        machines = list(_LIVE)
    for m in machines:
        m.terminate()
        if m.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                m.proc.wait(timeout=10.0)


class Machine:
    def __init__(
        self,
        profile: QemuProfile,
        kernel: Path | None,
        *,
        workdir: Path,
        disks: Sequence[Disk] = (),
        append: str = "console=0",
        memory: int | None = None,
        smp: int = 1,
        snapshots: bool = False,
        net: bool = True,
        timeouts: BootTimeouts | None = None,
        dialogue: BootDialogue | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.profile = profile
        self.kernel = kernel
        self.workdir = Path(workdir)
        self.disks = list(disks)
        self.append = append
        self.memory = memory
        self.smp = smp
        self.snapshots = snapshots
        self.net = net
        self.timeouts = timeouts or BootTimeouts()
        self.dialogue = dialogue or BootDialogue()
        self.extra_args = tuple(extra_args)
        self.proc: subprocess.Popen[bytes] | None = None
        self.console: Console | None = None
        self.qmp: Qmp | None = None
        self.command: list[str] = []
        self._sockdir: Path | None = None
        self._own_sockdir = False

    # -- lifecycle --------------------------------------------------------
    def start(self) -> None:
        """Start QEMU paused, attach console and QMP, then let the guest run."""
        if self.proc is not None:
            raise InfraError("machine already started")
        check_qemu(self.profile)
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def _start(self) -> None:
        sockdir = self.workdir.resolve()
        if len(str(sockdir)) > _MAX_SOCK_DIR:
            sockdir = Path(tempfile.mkdtemp(prefix="nh-qemu-", dir="/tmp"))
            self._own_sockdir = True
        self._sockdir = sockdir
        serial, qmp = sockdir / "serial.sock", sockdir / "qmp.sock"
        for sock in (serial, qmp):
            sock.unlink(missing_ok=True)
        vmstate = None
        if self.snapshots and not any(d.format == "qcow2" and not d.readonly for d in self.disks):
            vmstate = make_vmstate_disk(self.workdir / "vmstate.qcow2")
        self.command = build_command(
            self.profile, self.kernel, workdir=self.workdir, disks=self.disks,
            append=self.append, memory=self.memory, smp=self.smp, serial_path=serial,
            qmp_path=qmp, vmstate=vmstate, net=self.net, paused=True, extra=self.extra_args,
        )
        (self.workdir / "qemu.cmdline").write_text(shlex.join(self.command) + "\n")
        with open(self.workdir / "qemu.stdout", "wb") as out, \
                open(self.workdir / "qemu.stderr", "wb") as err:
            self.proc = subprocess.Popen(
                self.command, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                cwd=self.workdir, start_new_session=True,
            )
        with _LIVE_LOCK:
            _LIVE.add(self)
        with open(self.workdir / "qemu.pid", "a") as f:
            f.write(f"{self.proc.pid}\n")
        self._attach(qmp, serial)

    def _attach(self, qmp: Path, serial: Path) -> None:
        """QMP and the console of a started (paused) QEMU, then let it run."""
        self.qmp = Qmp(qmp)
        try:
            self.qmp.connect(alive=self.alive)
        except InfraError:
            # QEMU creates its sockets within milliseconds; if it died first (bad
            # option, unreadable file) say so with its own message.
            if not self.alive():
                raise QemuExited(f"QEMU exited at start{self._exit_detail()}") from None
            raise
        self.console = Console.connect_unix(serial, self.workdir / "console.log",
                                            alive=self.alive)
        self.console.on_eof = self._exit_detail
        self.qmp.cont()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def stderr_tail(self, n: int = 5) -> list[str]:
        try:
            lines = (self.workdir / "qemu.stderr").read_text(errors="replace").splitlines()
        except OSError:
            return []
        return lines[-n:]

    def _exit_detail(self) -> str:
        if self.proc is None:
            return ""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=1.0)
        rc = self.proc.poll()
        state = "still running" if rc is None else f"exit status {rc}"
        tail = " | ".join(self.stderr_tail(3))
        return f" (QEMU {state}{'; stderr: ' + tail if tail else ''})"

    def boot(self) -> BootResult:
        """Drive the boot dialogue to an rc prompt."""
        if self.console is None:
            self.start()
        assert self.console is not None
        try:
            return self.console.boot(self.profile, dialogue=self.dialogue,
                                     timeouts=self.timeouts, append=self.append)
        except ConsoleClosed as e:
            raise QemuExited(str(e)) from None

    def run(self, cmd: str, timeout: float = 60.0) -> CommandResult:
        assert self.console is not None, "machine not started"
        try:
            return self.console.run_command(cmd, timeout)
        except ConsoleClosed as e:
            raise QemuExited(str(e)) from None

    def status(self) -> VmStatus:
        assert self.qmp is not None, "machine not started"
        return self.qmp.query_status()

    def snapshot(self, name: str = "booted") -> None:
        """Save the whole VM (needs a qcow2 disk or ``snapshots=True``)."""
        assert self.qmp is not None, "machine not started"
        self.qmp.savevm(name)

    def restore(self, name: str = "booted") -> None:
        """Go back to a snapshot and resynchronise the console at its rc prompt."""
        assert self.qmp is not None and self.console is not None, "machine not started"
        self.qmp.loadvm(name)
        if not self.qmp.query_status().running:
            self.qmp.cont()
        self.console.resync()

    def hang_report(self, outdir: Path, *, memory: bool = False) -> list[Path]:
        """Save CPU registers (and optionally all guest memory) for a hung guest."""
        assert self.qmp is not None, "machine not started"
        outdir.mkdir(parents=True, exist_ok=True)
        regs = outdir / "registers.txt"
        regs.write_text(self.qmp.registers())
        files = [regs]
        if memory:
            core = outdir / "memory.elf"
            self.qmp.dump_guest_memory(core.resolve())
            files.append(core)
        return files

    def terminate(self) -> None:
        """SIGKILL QEMU's whole process group, and nothing else: safe from any thread."""
        proc = self.proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)

    def kill(self) -> None:
        """SIGKILL QEMU's whole process group, reap it and release our ends."""
        proc = self.proc
        self.terminate()
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10.0)
        with _LIVE_LOCK:
            _LIVE.discard(self)
        if self.qmp is not None:
            self.qmp.close()
        if self.console is not None:
            self.console.close()
        if self._own_sockdir and self._sockdir is not None:
            shutil.rmtree(self._sockdir, ignore_errors=True)
            self._own_sockdir = False

    def close(self, *, graceful: bool = True) -> None:
        """Stop QEMU (QMP quit if it answers, else kill) and release everything."""
        proc = self.proc
        if graceful and self.qmp is not None and proc is not None and proc.poll() is None:
            with contextlib.suppress(Exception):
                self.qmp.quit()
                proc.wait(timeout=5.0)
        self.kill()

    def __enter__(self) -> Machine:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        # On an error (or Ctrl-C) do not wait for a polite quit.
        self.close(graceful=exc_type is None)
