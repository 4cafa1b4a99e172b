"""QEMU profiles: how each architecture's 9front kernel is booted, as data.

A profile fixes the QEMU binary, machine, CPU, firmware, how the kernel and its
boot configuration (plan9.ini text with at least ``console=0``) reach the guest,
which disk and network devices the kernel has drivers for, and, for U-Boot, the
console dialogue.  ``build_command`` turns a profile into an exact argv; the
serial console and QMP are always unix sockets in the work directory so the
console stays free of QEMU's own messages and nothing is lost before we attach
(the VM starts paused with ``-S`` and is continued over QMP once both are
connected).

Facts behind the profiles (measured under QEMU 7.2, transcripts in
shared/observations/boot/):
- amd64: 9pc64 is a multiboot kernel: ``-kernel 9pc64 -append 'console=0 ...'``.
- arm64: the ``qemu`` kernel needs ``-M virt-2.12,gic-version=3 -cpu cortex-a72``
  (plain ``virt`` puts the PCI ECAM window where the kernel does not look).
  Its plan9.ini is read at CONFADDR 0x40010000 (sys/src/9/arm64/mem.h), put
  there by ``-device loader`` or by U-Boot's ``bootm`` (``setenv confaddr``).
- mips: no upstream 9front kernel runs on any QEMU mips machine; the malta
  profiles are complete command lines, exercised with the boot fixtures only.
"""

from __future__ import annotations

import enum
import functools
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from harness.errors import ImageError, QemuMissing, UsageError


class KernelLoad(enum.Enum):
    MULTIBOOT = "multiboot"  # -kernel K -append CONF (pc: QEMU's multiboot loader)
    CONF_LOADER = "conf-loader"  # -kernel K; plan9.ini placed at conf_addr by -device loader
    UBOOT = "uboot"  # -bios u-boot.bin; K placed at kernel_addr; bootm from the console
    ELF = "elf"  # -kernel K -append CONF (malta: argv[1] from QEMU's boot stub)


class DiskBus(enum.Enum):
    IDE = "ide"
    VIRTIO_MODERN = "virtio-modern"  # virtio-blk-pci, disable-legacy=on (device id 0x1042)


@dataclass(frozen=True)
class UBootDialogue:
    """What to say to U-Boot: stop autoboot, then boot the kernel placed in memory."""

    firmware: tuple[str, ...]  # candidate paths of u-boot.bin (Debian u-boot-qemu)
    firmware_package: str
    autoboot: str = r"Hit any key to stop autoboot"
    prompt: str = r"=> $"
    stop_key: str = "\r"
    # Formatted with confaddr, kernel_addr (hex without 0x) and append.  U-Boot's
    # bootm for Plan 9 copies its extra arguments, one per line, to $confaddr.
    commands: tuple[str, ...] = ("setenv confaddr {confaddr:x}; bootm {kernel_addr:x} {append}",)
    # U-Boot's own words when it cannot boot what we gave it.
    errors: str = (
        r"Bad Magic Number|Wrong Image Format|Bad Data CRC|Bad Header Checksum"
        r"|Unsupported Architecture|Unknown command|ERROR: can't get kernel image"
    )

    def command_lines(self, *, confaddr: int, kernel_addr: int, append: str) -> list[str]:
        return [c.format(confaddr=confaddr, kernel_addr=kernel_addr, append=append)
                for c in self.commands]


@dataclass(frozen=True)
class QemuProfile:
    name: str
    arch: str  # harness.model.arch name
    binary: str
    apt_package: str
    machine: str
    cpu: str | None
    memory_mb: int
    kernel_load: KernelLoad
    disk_bus: DiskBus
    # The kernel's name for the disk on each slot, in order.  How they were found
    # is said per profile below; they are the paths the guest side mounts.
    guest_disks: tuple[str, ...]
    nic_args: tuple[str, ...]
    conf_addr: int | None = None
    kernel_addr: int | None = None
    uboot: UBootDialogue | None = None
    can_boot_disk: bool = False  # a release disk image with its own plan9.ini
    has_9front_kernel: bool = True  # False: only boot fixtures run on this machine
    extra_args: tuple[str, ...] = ()
    notes: str = ""


@dataclass(frozen=True)
class Disk:
    """A disk image given to the guest.  ``qcow2`` images can hold snapshots."""

    path: Path
    format: str = "raw"
    readonly: bool = False

    def __post_init__(self) -> None:
        if self.format not in ("raw", "qcow2"):
            raise UsageError(f"disk format must be raw or qcow2, not {self.format!r}")


UBOOT_ARM64 = UBootDialogue(
    firmware=("/usr/lib/u-boot/qemu_arm64/u-boot.bin",),
    firmware_package="u-boot-qemu",
)

# pc64: sdide names the primary controller's drives C0/C1 and the secondary's
# D0/D1 (sys/src/9/pc/sdide.c, idno 'C'/'D'); QEMU's if=ide index 0..3 maps to
# primary master/slave, secondary master/slave.
_PC_IDE = ("sdC0", "sdC1", "sdD0", "sdD1")
# arm64 qemu kernel: its only block driver is sdvirtio10 (sys/src/9/arm64/qemu at
# 027f579f4), which takes virtio-blk-pci devices with the modern id 0x1042 only
# (sys/src/9/port/sdvirtio10.c: pcimatch(0x1AF4, 0x1040+typ), rid != 0) and names
# them 'F', 'G', ... one unit each; hence disable-legacy=on below.
_ARM64_VIRTIO = ("sdF0", "sdG0", "sdH0", "sdI0")
# malta: PIIX4 IDE like the pc.  There is no 9front malta kernel, so these names
# are what a pc-style sdide would use: nominal, never checked against a kernel.
_MALTA_IDE = ("sdC0", "sdC1", "sdD0", "sdD1")

_ARM64 = QemuProfile(
    name="arm64", arch="arm64", binary="qemu-system-aarch64",
    apt_package="qemu-system-arm", machine="virt-2.12,gic-version=3",
    cpu="cortex-a72", memory_mb=1024, kernel_load=KernelLoad.CONF_LOADER,
    disk_bus=DiskBus.VIRTIO_MODERN, guest_disks=_ARM64_VIRTIO,
    nic_args=("-netdev", "user,id=net0",
              "-device", "virtio-net-pci,netdev=net0,disable-legacy=on"),
    conf_addr=0x40010000,
    notes="9qemu.u loaded directly; plan9.ini at CONFADDR by -device loader",
)
_MIPS = QemuProfile(
    name="mips", arch="mips", binary="qemu-system-mips",
    apt_package="qemu-system-mips", machine="malta", cpu="24Kf", memory_mb=256,
    kernel_load=KernelLoad.ELF, disk_bus=DiskBus.IDE, guest_disks=_MALTA_IDE,
    nic_args=("-nic", "user,model=pcnet"), has_9front_kernel=False,
    notes="no upstream 9front kernel runs on a QEMU mips machine",
)

PROFILES: dict[str, QemuProfile] = {
    p.name: p
    for p in (
        QemuProfile(
            name="amd64", arch="amd64", binary="qemu-system-x86_64",
            apt_package="qemu-system-x86", machine="pc", cpu="qemu64", memory_mb=512,
            kernel_load=KernelLoad.MULTIBOOT, disk_bus=DiskBus.IDE, guest_disks=_PC_IDE,
            # e1000 is etherigbe's i82543 ("#l0: i82543" in the boot transcript).
            nic_args=("-nic", "user,model=e1000"),
            can_boot_disk=True,
            notes="9pc64 by multiboot; QEMU's 'multiboot knows VBE. we don't' is harmless",
        ),
        _ARM64,
        replace(_ARM64, name="arm64-uboot", kernel_load=KernelLoad.UBOOT, kernel_addr=0x44000000,
                uboot=UBOOT_ARM64, notes="Debian's qemu_arm64 U-Boot as -bios; bootm of 9qemu.u placed in RAM"),
        _MIPS,
        replace(_MIPS, name="mipsle", arch="mipsle", binary="qemu-system-mipsel"),
    )
}


def get_profile(name: str) -> QemuProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise UsageError(f"unknown QEMU profile {name!r} (known: {', '.join(PROFILES)})") from None


def conf_text(append: str) -> str:
    """plan9.ini text for a space-separated ``key=value`` string (or text with newlines).

    The arm64 kernel splits CONFADDR text at newlines (bootargs.c: getfields
    with "\\n"), so each word becomes one line.
    """
    lines = append.splitlines() if "\n" in append else append.split()
    return "".join(line.strip() + "\n" for line in lines if line.strip())


def find_firmware(dialogue: UBootDialogue) -> Path:
    for cand in dialogue.firmware:
        if Path(cand).is_file():
            return Path(cand)
    # Fall back to asking dpkg where the package put it (layouts move between releases).
    try:
        out = subprocess.run(["dpkg", "-L", dialogue.firmware_package], capture_output=True,
                             text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    for line in out.splitlines():
        if line.endswith("qemu_arm64/u-boot.bin") and Path(line).is_file():
            return Path(line)
    raise QemuMissing(
        f"U-Boot for qemu_arm64 not found: apt-get install {dialogue.firmware_package}"
    )


def _drive_args(profile: QemuProfile, slot: int, disk: Disk) -> list[str]:
    base = f"file={disk.path},format={disk.format}"
    if disk.readonly:
        base += ",readonly=on"
    if profile.disk_bus is DiskBus.IDE:
        return ["-drive", f"if=ide,index={slot},media=disk,{base}"]
    return ["-drive", f"if=none,id=disk{slot},{base}",
            "-device", f"virtio-blk-pci,drive=disk{slot},disable-legacy=on"]


def build_command(
    profile: QemuProfile,
    kernel: Path | None,
    *,
    workdir: Path,
    disks: Sequence[Disk] = (),
    append: str = "console=0",
    memory: int | None = None,
    smp: int = 1,
    serial_path: Path | None = None,
    qmp_path: Path | None = None,
    vmstate: Path | None = None,
    net: bool = True,
    paused: bool = True,
    extra: Sequence[str] = (),
) -> list[str]:
    """The exact QEMU argv for ``profile``.

    Writes ``workdir/plan9.ini`` for profiles that place it in guest memory.
    ``kernel=None`` boots the first disk (only where ``profile.can_boot_disk``).
    ``vmstate``: a qcow2 file attached to no device, to hold savevm snapshots
    when no guest disk is qcow2.  ``paused`` adds ``-S``: the caller attaches to
    the console and continues the VM over QMP.
    """
    if len(disks) > len(profile.guest_disks):
        raise UsageError(f"{profile.name}: at most {len(profile.guest_disks)} disks")
    serial_path = serial_path or workdir / "serial.sock"
    qmp_path = qmp_path or workdir / "qmp.sock"
    cmd = [profile.binary, "-machine", profile.machine]
    if profile.cpu:
        cmd += ["-cpu", profile.cpu]
    cmd += ["-m", str(memory or profile.memory_mb), "-smp", str(smp)]
    cmd += ["-nographic", "-no-reboot", "-monitor", "none",
            "-chardev", f"socket,id=ser0,path={serial_path},server=on,wait=off",
            "-serial", "chardev:ser0",
            "-qmp", f"unix:{qmp_path},server=on,wait=off"]
    if paused:
        cmd.append("-S")
    cmd += _kernel_args(profile, kernel, workdir=workdir, append=append, have_disks=bool(disks))
    for slot, disk in enumerate(disks):
        cmd += _drive_args(profile, slot, disk)
    if vmstate is not None:
        cmd += ["-drive", f"if=none,id=vmstate,format=qcow2,file={vmstate}"]
    cmd += list(profile.nic_args) if net else ["-nic", "none"]
    cmd += [*profile.extra_args, *extra]
    return cmd


def _kernel_args(profile: QemuProfile, kernel: Path | None, *, workdir: Path, append: str,
                 have_disks: bool) -> list[str]:
    if kernel is None:
        if not (profile.can_boot_disk and have_disks):
            raise UsageError(f"{profile.name}: a kernel is needed (no disk boot here)")
        return ["-boot", "c"]
    if not kernel.is_file():
        raise ImageError(f"kernel {kernel} not found")
    load = profile.kernel_load
    if load in (KernelLoad.MULTIBOOT, KernelLoad.ELF):
        return ["-kernel", str(kernel), "-append", append]
    if load is KernelLoad.CONF_LOADER:
        assert profile.conf_addr is not None
        ini = workdir / "plan9.ini"
        # The trailing NUL ends the text for the kernel whatever RAM held before.
        ini.write_bytes(conf_text(append).encode() + b"\0")
        return ["-kernel", str(kernel),
                "-device", f"loader,file={ini},addr={profile.conf_addr:#x},force-raw=on"]
    assert profile.uboot is not None and profile.kernel_addr is not None
    if any(c in append for c in ";\n"):
        raise UsageError("boot configuration for U-Boot cannot contain ';' or newlines")
    return ["-bios", str(find_firmware(profile.uboot)),
            "-device", f"loader,file={kernel},addr={profile.kernel_addr:#x},force-raw=on"]


@functools.cache
def _help(binary: str, what: str) -> str:
    try:
        proc = subprocess.run([binary, what, "help"], capture_output=True, text=True,
                              timeout=60)
    except (OSError, subprocess.SubprocessError) as e:
        raise QemuMissing(f"{binary} does not run ({e})") from None
    return proc.stdout


def check_qemu(profile: QemuProfile) -> str:
    """Raise QemuMissing (with the apt-get line) unless the profile can run here; return the binary path."""
    fix = f"apt-get install {profile.apt_package}"
    path = shutil.which(profile.binary)
    if path is None:
        raise QemuMissing(f"{profile.binary} not found: {fix}")
    machine = profile.machine.split(",")[0]
    machines = {line.split()[0] for line in _help(path, "-machine").splitlines()[1:]
                if line.strip()}
    if machine not in machines:
        raise QemuMissing(f"{profile.binary} has no machine {machine!r}: {fix} (newer QEMU)")
    if profile.cpu and not re.search(rf"(?<![\w.-]){re.escape(profile.cpu)}(?![\w.-])",
                                     _help(path, "-cpu")):
        raise QemuMissing(f"{profile.binary} has no cpu {profile.cpu!r}: {fix} (newer QEMU)")
    if profile.uboot is not None:
        find_firmware(profile.uboot)
    return path


def qemu_img() -> str:
    path = shutil.which("qemu-img")
    if path is None:
        raise QemuMissing("qemu-img not found: apt-get install qemu-utils")
    return path


def make_overlay(base: Disk, overlay: Path) -> Disk:
    """A qcow2 overlay backed by ``base``: the guest writes (and snapshots) go there."""
    proc = subprocess.run([qemu_img(), "create", "-q", "-f", "qcow2", "-b",
                           str(base.path.resolve()), "-F", base.format, str(overlay)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise ImageError(f"qemu-img create overlay of {base.path}: {proc.stderr.strip()}")
    return Disk(overlay, "qcow2")


def make_vmstate_disk(path: Path, size_mb: int = 1) -> Path:
    """An empty qcow2 to hold savevm state when the guest has no qcow2 disk."""
    proc = subprocess.run([qemu_img(), "create", "-q", "-f", "qcow2", str(path),
                           f"{size_mb}M"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise ImageError(f"qemu-img create {path}: {proc.stderr.strip()}")
    return path
