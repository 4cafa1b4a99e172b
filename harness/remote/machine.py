"""A QEMU machine on a remote host, driven exactly like a local one.

``RemoteMachine`` is a ``harness.qemu.machine.Machine`` whose QEMU runs on the
host at the other end of an ``SshConnection``:

- the QEMU command line is the profile's own (``build_command``), with the
  serial and QMP sockets in a fresh per-run directory on the host;
- the files it names (kernel, disks, vmstate, plan9.ini, U-Boot firmware) are
  copied there by SFTP and the command line points at the copies;
- QEMU runs under the lifeline of ``RemoteProcess``: when the connection goes,
  however it goes, the host kills QEMU and removes the directory;
- its serial console and QMP sockets are forwarded to private local sockets
  (direct-streamlocal), so the same ``Console`` and ``Qmp`` code drives it.

Local files, as for a local machine: ``workdir/qemu.cmdline`` (the command
run on the host, with ``# host:`` first), ``console.log``, and ``qemu.stderr``
fetched from the host when the machine stops.
"""

from __future__ import annotations

import atexit
import contextlib
import shlex
import shutil
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import InfraError, QemuMissing
from harness.qemu.machine import _MAX_SOCK_DIR, Machine
from harness.qemu.profiles import QemuProfile, build_command, find_firmware, make_vmstate_disk
from harness.remote.process import RemoteProcess
from harness.remote.ssh import (
    HostSpec,
    SshConnection,
    SshError,
    SshOptions,
    UnixForward,
    private_tempdir,
)


def check_remote_qemu(conn: SshConnection, profile: QemuProfile) -> None:
    """QemuMissing (exit 3) naming the host unless the profile's QEMU is installed there."""
    res = conn.run(["sh", "-c", 'command -v "$1"', "nh-check", profile.binary], check=False)
    if res.returncode != 0:
        raise QemuMissing(f"{profile.binary} not found on {conn.spec}: apt-get install {profile.apt_package} there")


def check_hosts(specs: Sequence[HostSpec], options: SshOptions, profile: QemuProfile) -> None:
    """Reach every host (its key known: HostKeyError, exit 3) and find the profile's QEMU
    there; the connections are closed again (each worker opens its own)."""
    for spec in specs:
        with SshConnection(spec, options).connect() as conn:
            check_remote_qemu(conn, profile)


_LIVE: set[RemoteMachine] = set()
_LIVE_LOCK = threading.Lock()


@atexit.register
def _kill_leftovers() -> None:
    with _LIVE_LOCK:
        machines = list(_LIVE)
    for m in machines:
        m.kill()


class RemoteMachine(Machine):
    def __init__(self, conn: SshConnection, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn = conn
        self.remote_dir: str | None = None
        self.process: RemoteProcess | None = None
        self._forwards: list[UnixForward] = []
        self._local_socks: Path | None = None

    # -- lifecycle --------------------------------------------------------
    def start(self) -> None:
        if self.process is not None:
            raise InfraError("machine already started")
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self._start()
        except BaseException:
            self.close(graceful=False)
            raise

    def _start(self) -> None:
        check_remote_qemu(self.conn, self.profile)
        rdir = self.remote_dir = self.conn.make_tempdir()
        vmstate = None
        if self.snapshots and not any(d.format == "qcow2" and not d.readonly for d in self.disks):
            vmstate = make_vmstate_disk(self.workdir / "vmstate.qcow2")
        local_cmd = build_command(
            self.profile, self.kernel, workdir=self.workdir, disks=self.disks, append=self.append,
            memory=self.memory, smp=self.smp, serial_path=Path(rdir) / "serial.sock",
            qmp_path=Path(rdir) / "qmp.sock", vmstate=vmstate, net=self.net, paused=True,
            extra=self.extra_args,
        )
        self.command = self._upload(local_cmd, rdir, vmstate)
        (self.workdir / "qemu.cmdline").write_text(f"# host: {self.conn.spec} in {rdir}\n"
                                                   f"{shlex.join(self.command)}\n")
        with _LIVE_LOCK:
            _LIVE.add(self)
        self.process = RemoteProcess(self.conn, rdir, self.command).start()
        socks = self._local_socks = self._socket_dir()
        self._forwards = [self.conn.forward_unix(f"{rdir}/{name}", socks / name)
                          for name in ("serial.sock", "qmp.sock")]
        self._attach(socks / "qmp.sock", socks / "serial.sock")

    def _socket_dir(self) -> Path:
        """Where the forwarded sockets go: in workdir when the path is short enough for a
        unix socket (then even a SIGKILLed harness leaves nothing in /tmp), else in /tmp."""
        here = self.workdir.resolve() / "ssh-sockets"
        if len(str(here)) > _MAX_SOCK_DIR:
            return private_tempdir()
        here.mkdir(mode=0o700, exist_ok=True)
        return here

    def _upload(self, cmd: list[str], rdir: str, vmstate: Path | None) -> list[str]:
        """Copy the files the command line names to RDIR; the command line with their copies."""
        files = [str(d.path) for d in self.disks] + ([str(self.kernel)] if self.kernel else [])
        if vmstate is not None:
            files.append(str(vmstate))
        if (self.workdir / "plan9.ini").is_file():
            files.append(str(self.workdir / "plan9.ini"))
        if self.profile.uboot is not None:
            files.append(str(find_firmware(self.profile.uboot)))
        mapping: dict[str, str] = {}
        for n, f in enumerate(dict.fromkeys(files)):
            mapping[f] = f"{rdir}/{n}-{Path(f).name}"
            self.conn.put(Path(f), mapping[f])
        out = []
        for arg in cmd:
            for local in sorted(mapping, key=len, reverse=True):
                arg = arg.replace(local, mapping[local])
            out.append(arg)
        return out

    # -- state --------------------------------------------------------------
    def alive(self) -> bool:
        return self.process is not None and self.process.alive()

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.returncode

    def _fetch_stderr(self) -> None:
        if self.remote_dir is None or not self.conn.alive():
            return
        with contextlib.suppress(SshError):
            (self.workdir / "qemu.stderr").write_bytes(self.conn.read_bytes(f"{self.remote_dir}/process.stderr"))

    def _exit_detail(self) -> str:
        if self.process is None:
            return ""
        end = time.monotonic() + 1.0
        while self.alive() and time.monotonic() < end:
            time.sleep(0.05)
        rc = self.returncode
        self._fetch_stderr()
        state = "still running" if rc is None else f"exit status {rc}"
        tail = " | ".join(self.stderr_tail(3))
        return f" (QEMU on {self.conn.spec} {state}{'; stderr: ' + tail if tail else ''})"

    def hang_report(self, outdir: Path, *, memory: bool = False) -> list[Path]:
        """Registers over QMP; a memory dump is written on the host, then copied here."""
        files = super().hang_report(outdir, memory=False)
        if memory and self.qmp is not None and self.remote_dir is not None:
            remote = f"{self.remote_dir}/memory.elf"
            self.qmp.dump_guest_memory(Path(remote))
            core = outdir / "memory.elf"
            core.write_bytes(self.conn.read_bytes(remote))
            files.append(core)
        return files

    # -- stopping -----------------------------------------------------------
    def terminate(self) -> None:
        """From any thread: cut QEMU's lifeline (the host kills it and removes the run
        directory); kill() or close() in the driving thread tidies up our ends."""
        if self.process is not None:
            self.process.terminate()

    def kill(self) -> None:
        """Stop QEMU on the host and remove its directory; release our ends."""
        with _LIVE_LOCK:
            _LIVE.discard(self)
        if self.qmp is not None:
            self.qmp.close()
        if self.console is not None:
            self.console.close()
        self._fetch_stderr()
        if self.process is not None:
            self.process.kill()
        elif self.remote_dir is not None and self.conn.alive():
            with contextlib.suppress(SshError):
                self.conn.remove_tree(self.remote_dir)
        for fwd in self._forwards:
            fwd.close()
        self._forwards = []
        if self._local_socks is not None:
            shutil.rmtree(self._local_socks, ignore_errors=True)
            self._local_socks = None

    def close(self, *, graceful: bool = True) -> None:
        if graceful and self.qmp is not None and self.alive():
            with contextlib.suppress(Exception):
                self.qmp.quit()
                end = time.monotonic() + 5.0
                while self.alive() and time.monotonic() < end:
                    time.sleep(0.05)
        self.kill()
