"""The SSH backend: the QEMU backend with the machine on an SSH host (`--host`).

Everything but where QEMU runs is the QEMU backend's (harness.run.backends.qemu):
the delivery disk is built here, and ``new_machine`` gives a RemoteMachine
(harness.remote.machine) that copies kernel and disks to a per-run directory on
the host by SFTP and drives console and QMP over forwarded unix sockets.
Worker N runs on host N mod len(--host), over a connection of its own, opened at
its first launch and closed with it.  A connection that drops is not reopened:
the scenario running there is an infrastructure error naming the lost
connection (never a guest crash), the worker's restore fails, and the pipeline
moves its remaining scenarios to the other hosts' workers.

paramiko is the optional [ssh] extra: it is imported only when this backend runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from harness.errors import UsageError
from harness.qemu.console import BootTimeouts
from harness.qemu.machine import Machine
from harness.qemu.profiles import Disk
from harness.report.results import ResultsDir
from harness.run.backends import GuestRun, register
from harness.run.backends.qemu import QemuBackend, check_kernel
from harness.run.config import RunConfig

if TYPE_CHECKING:
    from harness.remote.ssh import SshConnection, SshOptions


def _options(cfg: RunConfig) -> SshOptions:
    from harness.remote.ssh import SshOptions

    return SshOptions(known_hosts=cfg.known_hosts, identity=cfg.ssh_identity)


@register("ssh")
class SshBackend(QemuBackend):
    @classmethod
    def check(cls, cfg: RunConfig, names: list[str]) -> None:
        """Bad --host values (exit 2), then every host reached, its key known and its QEMU
        there (exit 3), before a results directory or a VM exists."""
        from harness.remote import require_ssh

        require_ssh()
        from harness.remote.machine import check_hosts
        from harness.remote.ssh import parse_host

        specs = [parse_host(h) for h in cfg.hosts]
        if cfg.kernel is None:
            raise UsageError("--host needs a kernel (--kernel or --image)")
        if cfg.agent is None:
            raise UsageError("--host needs --agent: the agent is built in a local guest, not on the hosts")
        if cfg.fault:
            raise UsageError("--fault only applies to --simulate")
        check_hosts(specs, _options(cfg), check_kernel(cfg.arch, cfg.kernel, cfg.qemu_profile))

    @classmethod
    def setup(cls, cfg: RunConfig, results: ResultsDir, say: Callable[[str], None]) -> None:
        super().setup(cfg, results, say)
        results.meta["hosts"] = list(cfg.hosts)
        say(f"run: QEMU on {', '.join(cfg.hosts)}")

    @classmethod
    def tools(cls, cfg: RunConfig) -> list[str]:
        return []  # QEMU is the hosts' (check_hosts found it there), not this machine's

    def __init__(self, n: int, results: ResultsDir, cfg: RunConfig) -> None:
        from harness.remote.ssh import parse_host

        super().__init__(n, results, cfg)
        self.spec = parse_host(cfg.hosts[n % len(cfg.hosts)])
        self.options = _options(cfg)
        self.conn: SshConnection | None = None
        self.label = f"{self.label}@{self.spec}"

    def new_machine(self, disks: list[Disk]) -> Machine:
        from harness.remote.machine import RemoteMachine
        from harness.remote.ssh import SshConnection, SshError

        if self.conn is None:
            self.conn = SshConnection(self.spec, self.options).connect()
        elif not self.conn.alive():
            raise SshError(f"{self.spec}: connection lost; not reconnecting during the run")
        return RemoteMachine(self.conn, self.qprofile, self.kernel, workdir=self.workdir, disks=disks,
                             snapshots=True, timeouts=BootTimeouts(scale=self.boot_scale))

    def run_scenario(self, scenario: str, timeout: float) -> GuestRun:
        from harness.remote.ssh import SshError

        run = super().run_scenario(scenario, timeout)
        if run.crash is not None and self.conn is not None and not self.conn.alive():
            # the machine "died" because the host went away: infrastructure, never a kernel verdict
            raise SshError(f"{self.spec}: connection lost while {scenario} ran ({run.crash})")
        return run

    def close(self) -> None:
        super().close()
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.close()
