"""A session on a real 9front kernel under QEMU.

Boot: the arch's QEMU profile with the user's kernel, a FAT delivery disk
(agent + compiled programs) on the first disk slot, and a small qcow2 disk that
holds VM snapshots.  At the rc prompt the disk is mounted with dossrv, the VM
is snapshotted, and every scenario is one framed console command running the
agent; its records come back framed over the console.  A crash costs a
snapshot restore, not a boot; when the restore fails the machine is rebooted.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from harness.errors import HarnessError, InfraError, UsageError
from harness.guest.delivery import DeliveryDisk, build_disk
from harness.guest.delivery import mount_commands as delivery_mount_commands
from harness.model.fs import AGENT_PATH, SCRATCH_DIR
from harness.qemu.console import BootTimeouts, GuestPanic
from harness.qemu.machine import Machine
from harness.qemu.profiles import Disk, QemuProfile, qemu_img
from harness.qemu.profiles import get_profile as get_qemu_profile
from harness.run.consolesession import AGENT_COMMAND, run_on_console
from harness.run.results import ResultsDir
from harness.run.session import GuestRun, GuestSession

MOUNTPOINT = "/n/nh"
# Where the agent runs and scenarios write files: the model's scratch directory
# (harness.model.fs.SCRATCH_DIR, /tmp/nh), so paths in error strings agree.  It
# lives on the delivery disk (dossrv mounts it read-write; the standard bootfs
# has no ramfs) bound over /tmp; the agent is bound at the model's AGENT_PATH.
# FAT has no permission bits: the model is told (RunConfig.scratch_server
# "dossrv"), so an exec there is refused only for what dossrv refuses.
SCRATCH = SCRATCH_DIR
AGENT = AGENT_PATH


def mount_commands(profile: QemuProfile) -> list[str]:
    return [
        *delivery_mount_commands(profile.guest_disks[0], "nhdisk", MOUNTPOINT),
        f"mkdir -p {MOUNTPOINT}/tmp/nh",
        f"bind -c {MOUNTPOINT}/tmp /tmp",
        f">{AGENT}; bind {MOUNTPOINT}/nhagent {AGENT}",
    ]


class QemuSession:
    def __init__(self, n: int, results: ResultsDir, qprofile: QemuProfile, kernel: Path,
                 agent: Path, boot_scale: float = 1.0, ktrace: bool = False) -> None:
        assert qprofile.has_9front_kernel  # checked by check_kernel
        self.label = f"{qprofile.arch}#{n}"
        self.qprofile = qprofile
        self.kernel = kernel
        self.agent = agent
        self.workdir = results.path(f"vm{n}", ".keep").parent
        self.console_log = results.console_log(n)
        self.results = results
        self.boot_scale = boot_scale
        self.disk: DeliveryDisk | None = None
        self.disk_image = Path()
        self.disk_format = "raw"
        self.machine: Machine | None = None
        self.qemu_command: list[str] = []
        self.ktrace = ktrace  # the agent also sends the kernel's syscall trace (-t)

    def deliver(self, programs: dict[str, str]) -> None:
        self.disk = build_disk(self.workdir / "deliver.img", programs, self.agent)
        # savevm needs every writable disk to be qcow2; a restore then also takes
        # the scratch files the scenarios wrote back to the snapshot's state.
        qcow = self.workdir / "deliver.qcow2"
        proc = subprocess.run([qemu_img(), "convert", "-f", "raw", "-O", "qcow2", str(self.disk.path), str(qcow)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise InfraError(f"qemu-img convert: {proc.stderr.strip()}")
        self.disk_format = "qcow2"
        self.disk_image = qcow

    def boot(self) -> None:
        assert self.disk is not None
        self.machine = self.new_machine([Disk(self.disk_image, self.disk_format)])
        try:
            self.machine.start()
            self.qemu_command = self.machine.command
            # the console log lives in the VM's directory; link it where the README says
            link = self.console_log
            if not link.exists():
                link.symlink_to((self.workdir / "console.log").relative_to(link.parent))
            self.results.path("qemu-command.txt").write_text(" ".join(self.machine.command) + "\n")
            self.machine.boot()
            for cmd in mount_commands(self.qprofile):
                res = self.machine.run(cmd, timeout=60)
                if not res.ok:
                    raise InfraError(f"guest set-up failed: {cmd!r}: status {res.status!r}: {res.output.strip()[:200]}")
            self.machine.snapshot("ready")
        except GuestPanic as e:
            raise InfraError(f"kernel panicked while booting (no scenario ran): {e}") from e

    def new_machine(self, disks: list[Disk]) -> Machine:
        """The machine boot() starts: a local QEMU here (harness.remote.session: on an SSH host)."""
        return Machine(self.qprofile, self.kernel, workdir=self.workdir, disks=disks, snapshots=True,
                       timeouts=BootTimeouts(scale=self.boot_scale))

    def run_program(self, scenario: str, timeout: float) -> GuestRun:
        assert self.machine is not None and self.machine.console is not None and self.disk is not None
        agent = f"{AGENT} -t" if self.ktrace else AGENT  # -t: also the kernel's syscall trace (ktrace records)
        cmd = AGENT_COMMAND.format(agent=agent, scratch=SCRATCH,
                                   program=self.disk.guest_program_path(MOUNTPOINT, scenario))
        run = run_on_console(self.machine.console, cmd, timeout)
        if run.crash and run.crash.startswith("hang"):
            self.machine.hang_report(self.workdir / f"hang-{scenario}")
        return run

    def recover(self) -> None:
        assert self.machine is not None
        try:
            self.machine.restore("ready")
            return
        except HarnessError:
            pass
        self.machine.close(graceful=False)
        self.boot()

    def close(self) -> None:
        if self.machine is not None:
            self.machine.close()
            self.machine = None


def check_kernel(arch: str, kernel: Path, qemu_profile: str | None = None) -> QemuProfile:
    """Bad input (exit 2) before anything boots."""
    if not kernel.is_file():
        raise UsageError(f"{kernel}: no such kernel file")
    qprofile = get_qemu_profile(qemu_profile or arch)
    if not qprofile.has_9front_kernel:
        raise UsageError(f"{qprofile.name}: no 9front kernel runs on this QEMU machine (see README, 'Status per arch')")
    return qprofile


def qemu_session_factory(arch: str, kernel: Path, agent: Path, qemu_profile: str | None = None,
                         boot_scale: float = 1.0, ktrace: bool = False) -> Callable[[int, ResultsDir], GuestSession]:
    qprofile = check_kernel(arch, kernel, qemu_profile)

    def make(n: int, results: ResultsDir) -> GuestSession:
        return QemuSession(n, results, qprofile, kernel, agent, boot_scale, ktrace)

    return make
