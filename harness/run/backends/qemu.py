"""The QEMU backend: a real 9front kernel under a local QEMU.

Boot: the arch's QEMU profile with the user's kernel, a FAT delivery disk
(agent + compiled programs) on the first disk slot, and a small qcow2 disk that
holds VM snapshots.  A release ISO or an installed disk (RunConfig.media; the
BootMedium prepared in setup, harness.qemu.media) brings its own profile,
kernel or loader and disks; the delivery disk then takes the slot after them.
At the rc prompt the disk is mounted with dossrv, the VM is snapshotted, and
every scenario is one framed console command running the agent; its records
come back framed over the console.  A crash costs a
snapshot restore, not a boot; when the restore fails the machine is rebooted.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

from harness.errors import HarnessError, InfraError, UsageError
from harness.guest.delivery import DeliveryDisk, build_disk
from harness.guest.delivery import mount_commands as delivery_mount_commands
from harness.model.arch import QEMU_ARCHES
from harness.model.fs import AGENT_PATH, SCRATCH_DIR
from harness.qemu.console import BootTimeouts
from harness.qemu.kernelfile import check_kernel_file
from harness.qemu.machine import Machine
from harness.qemu.profiles import Disk, QemuProfile, check_qemu, qemu_img
from harness.qemu.profiles import get_profile as get_qemu_profile
from harness.report.results import ResultsDir
from harness.report.symbolise import symboliser
from harness.run.backends import Backend, GuestRun, register
from harness.run.backends.console import classify_boot_failure, run_on_console
from harness.run.config import RunConfig

MOUNTPOINT = "/n/nh"
# Where the agent runs and scenarios write files: the model's scratch directory
# (harness.model.fs.SCRATCH_DIR, /tmp/nh), so paths in error strings agree.  It
# lives on the delivery disk (dossrv mounts it read-write; the standard bootfs
# has no ramfs) bound over /tmp; the agent is bound at the model's AGENT_PATH.
# FAT has no permission bits: the model is told (RunConfig.scratch_server
# "dossrv"), so an exec there is refused only for what dossrv refuses.
SCRATCH = SCRATCH_DIR
AGENT = AGENT_PATH


def mount_commands(profile: QemuProfile, device: str | None = None) -> list[str]:
    """DEVICE: the delivery disk's guest name when a boot medium's disks come first."""
    return [
        *delivery_mount_commands(device or profile.guest_disks[0], "nhdisk", MOUNTPOINT),
        f"mkdir -p {MOUNTPOINT}/tmp/nh",
        f"bind -c {MOUNTPOINT}/tmp /tmp",
        f">{AGENT}; bind {MOUNTPOINT}/nhagent {AGENT}",
    ]


def check_kernel(arch: str, kernel: Path, qemu_profile: str | None = None) -> QemuProfile:
    """Bad input (exit 2) before anything boots: the profile, and the kernel file's format and arch."""
    if arch not in QEMU_ARCHES:
        raise UsageError(f"--arch {arch}: QEMU runs {', '.join(QEMU_ARCHES)}")
    qprofile = get_qemu_profile(qemu_profile or arch)
    if qprofile.arch != arch:
        raise UsageError(f"QEMU profile {qprofile.name} is for {qprofile.arch}, not {arch}")
    if not qprofile.has_9front_kernel:
        raise UsageError(f"{qprofile.name}: no 9front kernel runs on this QEMU machine (see README, 'Status per arch')")
    check_kernel_file(kernel, qprofile)
    return qprofile


@register("qemu")
class QemuBackend(Backend):
    @classmethod
    def check(cls, cfg: RunConfig, names: list[str]) -> None:
        if cfg.fault:
            raise UsageError("--fault only applies to --simulate")
        if cfg.media is not None:  # checked in harness.run.runner; its profile is known once prepared
            if cfg.arch not in QEMU_ARCHES:
                raise UsageError(f"--arch {cfg.arch}: QEMU runs {', '.join(QEMU_ARCHES)}")
            check_qemu(get_qemu_profile(cfg.arch))  # exit 3 when QEMU is missing
            return
        if cfg.kernel is None:
            raise UsageError("the QEMU backend needs a kernel (--kernel, --iso, --disk or --image)")
        check_qemu(check_kernel(cfg.arch, cfg.kernel, cfg.qemu_profile))  # exit 3 when QEMU is missing

    @classmethod
    def setup(cls, cfg: RunConfig, results: ResultsDir, say: Callable[[str], None]) -> None:
        from harness.guest.build import resolve_agent

        if cfg.media is not None:
            _prepare_medium(cfg, results, say)
        assert cfg.kernel is not None
        if cfg.agent is None:
            cfg.agent = resolve_agent(cfg.arch, cfg.kernel, cfg.qemu_profile,
                                      results.path("agent-build", ".keep").parent, cfg.boot_scale, say=say,
                                      medium=cfg.medium)
        # a disk booted by its own loader: the kernel is inside the image, not symbolised
        if cfg.medium is None or cfg.medium.kernel is not None:
            cfg.symbolise = symboliser(cfg.kernel)
        cfg.scratch_server = "dossrv"  # the scratch dir lives on the FAT delivery disk

    @classmethod
    def tools(cls, cfg: RunConfig) -> list[str]:
        profile = cfg.medium.profile if cfg.medium is not None else get_qemu_profile(cfg.qemu_profile or cfg.arch)
        return [profile.binary]

    def __init__(self, n: int, results: ResultsDir, cfg: RunConfig) -> None:
        assert cfg.kernel is not None and cfg.agent is not None
        self.medium = cfg.medium  # a release ISO or an installed disk (harness.qemu.media)
        self.qprofile = self.medium.profile if self.medium else get_qemu_profile(cfg.qemu_profile or cfg.arch)
        self.label = f"{self.qprofile.arch}#{n}"
        self.kernel = cfg.kernel
        self.agent = cfg.agent
        self.workdir = results.path(f"vm{n}", ".keep").parent
        self.console_log = results.console_log(n)
        self.results = results
        self.boot_scale = cfg.boot_scale
        self.disk: DeliveryDisk | None = None
        self.disk_image = Path()
        self.disk_format = "raw"
        self.machine: Machine | None = None
        self.command: list[str] = []
        self.ktrace = cfg.ktrace  # the agent also sends the kernel's syscall trace (-t)

    def prepare(self, programs: dict[str, str]) -> None:
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

    def launch(self) -> None:
        assert self.disk is not None
        self.machine = self.new_machine([Disk(self.disk_image, self.disk_format)])
        try:
            self.machine.start()
            self.command = self.machine.command
            # the console log lives in the VM's directory; link it where the README says
            link = self.console_log
            if not link.exists() and not link.is_symlink():
                link.symlink_to((self.workdir / "console.log").relative_to(link.parent))
            self.results.path("qemu-command.txt").write_text(" ".join(self.machine.command) + "\n")
            self.machine.boot()
        except HarnessError as e:
            console = self.machine.console
            state = console.boot_state if console is not None else None
            raise classify_boot_failure(e, state, self.machine.returncode == 0) from e
        device = self.medium.delivery_device if self.medium is not None else None
        for cmd in mount_commands(self.qprofile, device):
            res = self.machine.run(cmd, timeout=60)
            if not res.ok:
                raise InfraError(f"guest set-up failed: {cmd!r}: status {res.status!r}: {res.output.strip()[:200]}")
        self.machine.snapshot("ready")

    def new_machine(self, disks: list[Disk]) -> Machine:
        """The machine launch() starts: a local QEMU here (the ssh backend: one on an SSH host),
        booting the kernel, or the release ISO or disk image (harness.qemu.media)."""
        if self.medium is not None:
            return self.medium.machine(self.workdir, disks, boot_scale=self.boot_scale, snapshots=True)
        return Machine(self.qprofile, self.kernel, workdir=self.workdir, disks=disks, snapshots=True,
                       timeouts=BootTimeouts(scale=self.boot_scale))

    def run_scenario(self, scenario: str, timeout: float) -> GuestRun:
        assert self.machine is not None and self.machine.console is not None and self.disk is not None
        agent = f"{AGENT} -t" if self.ktrace else AGENT  # -t: also the kernel's syscall trace (ktrace records)
        run = run_on_console(self.machine.console, agent, SCRATCH,
                             self.disk.guest_program_path(MOUNTPOINT, scenario), timeout)
        rc = self.machine.returncode
        if run.crash and run.crash.startswith("machine died") and rc is not None and rc != 0:
            # Killed from outside (a signal) or QEMU's own error: not the kernel.  A
            # kernel that resets the machine makes -no-reboot QEMU exit 0: its crash.
            how = f"killed by {signal.Signals(-rc).name}" if rc < 0 else f"exited with status {rc}"
            raise InfraError(f"QEMU {how} during the scenario (not a kernel verdict)")
        if run.crash and run.crash.startswith("hang"):
            self.machine.hang_report(self.workdir / f"hang-{scenario}")
        return run

    def restore(self) -> None:
        assert self.machine is not None
        try:
            self.machine.restore("ready")
            return
        except HarnessError:
            pass
        self.machine.close(graceful=False)
        self.launch()

    def close(self) -> None:
        if self.machine is not None:
            self.machine.close()
            self.machine = None

    def kill(self) -> None:
        machine = self.machine
        if machine is not None:
            machine.terminate()  # the worker's own close() releases QMP and the console


def _prepare_medium(cfg: RunConfig, results: ResultsDir, say: Callable[[str], None]) -> None:
    """The ISO's kernel taken out, the disk's overlay made (in the results directory);
    cfg.kernel becomes what boots, or the image when its own loader boots it."""
    from harness.guest.build import cache_root

    assert cfg.media is not None
    medium = cfg.media.prepare(cfg.arch, results.path("medium", ".keep").parent, cache_root() / "isos", say=say)
    say(f"boot: {medium.describe}")
    check_qemu(medium.profile)  # e.g. arm64's U-Boot firmware: exit 3 before any boot
    if medium.kernel is not None:
        check_kernel_file(medium.kernel, medium.profile)
    cfg.medium = medium
    cfg.kernel = medium.kernel if medium.kernel is not None else medium.identity
    results.meta["kernel"] = str(cfg.kernel)
    results.meta["medium"] = medium.describe
