"""Guest sessions whose QEMU runs on SSH hosts (`harness run --host user@host[:port]`).

A ``RemoteQemuSession`` is the QEMU session of harness.run.qemusession with one
change: the machine it boots is a ``RemoteMachine`` on one of the hosts.  The
delivery disk is built here and copied with the kernel.  Workers are spread
over the hosts round robin (worker N on host N mod len(hosts)); all workers on
a host share its one SSH connection.  A host that drops mid-run fails its
running scenarios as infrastructure errors and its workers give up; the
pipeline moves the remaining scenarios to the workers of the other hosts.

Backend registry (h/run): this module is what the ``ssh`` backend registers:
``open_hosts`` once per run, ``remote_session_factory`` as the session factory.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from pathlib import Path

from harness.qemu.console import BootTimeouts
from harness.qemu.machine import Machine
from harness.qemu.profiles import Disk, QemuProfile
from harness.remote.machine import RemoteMachine, check_remote_qemu
from harness.remote.ssh import SshConnection, SshError, SshOptions, parse_host
from harness.run.qemusession import QemuSession, check_kernel
from harness.run.results import ResultsDir
from harness.run.session import GuestRun, GuestSession


class RemoteQemuSession(QemuSession):
    def __init__(self, conn: SshConnection, n: int, results: ResultsDir, qprofile: QemuProfile, kernel: Path,
                 agent: Path, boot_scale: float = 1.0, ktrace: bool = False) -> None:
        super().__init__(n, results, qprofile, kernel, agent, boot_scale, ktrace)
        self.conn = conn
        self.label = f"{self.label}@{conn.spec}"

    def new_machine(self, disks: list[Disk]) -> Machine:
        return RemoteMachine(self.conn, self.qprofile, self.kernel, workdir=self.workdir, disks=disks,
                             snapshots=True, timeouts=BootTimeouts(scale=self.boot_scale))

    def run_program(self, scenario: str, timeout: float) -> GuestRun:
        run = super().run_program(scenario, timeout)
        if run.crash is not None and not self.conn.alive():
            # the machine "died" because the host went away: infrastructure, never a kernel verdict
            raise SshError(f"{self.conn.spec}: connection lost while {scenario} ran ({run.crash})")
        return run


def open_hosts(hosts: Sequence[str], options: SshOptions, qprofile: QemuProfile) -> list[SshConnection]:
    """Parse every --host first (exit 2), then connect to each and check its QEMU (exit 3)."""
    specs = [parse_host(h) for h in hosts]
    conns: list[SshConnection] = []
    try:
        for spec in specs:
            conn = SshConnection(spec, options).connect()
            conns.append(conn)
            check_remote_qemu(conn, qprofile)
    except BaseException:
        close_hosts(conns)
        raise
    return conns


def close_hosts(conns: Sequence[SshConnection]) -> None:
    for c in conns:
        with contextlib.suppress(Exception):
            c.close()


def remote_session_factory(conns: Sequence[SshConnection], arch: str, kernel: Path, agent: Path,
                           qemu_profile: str | None = None, boot_scale: float = 1.0,
                           ktrace: bool = False) -> Callable[[int, ResultsDir], GuestSession]:
    qprofile = check_kernel(arch, kernel, qemu_profile)

    def make(n: int, results: ResultsDir) -> GuestSession:
        return RemoteQemuSession(conns[n % len(conns)], n, results, qprofile, kernel, agent, boot_scale, ktrace)

    return make
