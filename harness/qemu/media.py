"""What a guest boots from: a kernel file, a release ISO, or an installed disk image.

A ``BootMedium`` says everything a ``Machine`` needs beyond the harness's own
delivery disk: the profile, the ``-kernel`` file (none when the disk's own boot
loader runs), the boot configuration, the disks that come *before* the
delivery disk (an installed system's plan9.ini names its root as the first
disk, sdC0 / sdF0), extra QEMU arguments (the CD drive), the answers to the
boot dialogue, and the file whose bytes key the in-guest agent build cache
(the ISO or the user's disk image: its compilers come from there).

Kinds, in order of how little a newcomer needs:

- ``ISO``: a 9front release ISO; kernel taken out with pycdlib, the ISO as CD
  (harness.qemu.iso).
- ``DISK``: an installed image, booted by its own loader (9boot on amd64,
  U-Boot + boot.scr on arm64) from a qcow2 overlay whose plan9.ini has
  console=0 (harness.qemu.diskimage); ``DiskBoot.KERNEL`` instead boots the
  kernel plan9.ini names with ``-kernel`` and that plan9.ini as its
  configuration (for images whose loader cannot run under QEMU).
- ``KERNEL``: the user's own kernel with its bootfs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from harness.errors import UsageError
from harness.qemu import diskimage, iso
from harness.qemu.console import BootDialogue, BootTimeouts
from harness.qemu.machine import Machine
from harness.qemu.mediakind import DiskBoot, MediumKind
from harness.qemu.profiles import (
    UBOOT_ARM64,
    Disk,
    QemuProfile,
    find_firmware,
    get_profile,
    make_overlay,
)

# arm64 installed images boot through U-Boot's distro boot: it finds boot.scr
# on the first (active) partition and runs it (sys/src/boot/qemu/boot.txt).
ARM64_DISK = replace(
    get_profile("arm64-uboot"), name="arm64-disk", can_boot_disk=True,
    uboot=replace(UBOOT_ARM64, commands=("boot",)),
    notes="an installed arm64 image: U-Boot as -bios runs the image's boot.scr",
)


@dataclass(frozen=True)
class BootMedium:
    kind: MediumKind
    profile: QemuProfile
    kernel: Path | None
    identity: Path  # hashed for the agent cache key
    append: str = "console=0"
    disks: tuple[Disk, ...] = ()  # in the first slots, before the delivery disk
    extra_args: tuple[str, ...] = ()
    dialogue: BootDialogue = field(default_factory=BootDialogue)
    describe: str = ""

    @property
    def delivery_device(self) -> str:
        """The guest's name for the harness's delivery disk (the slot after ours)."""
        return self.profile.guest_disks[len(self.disks)]

    def guest_disks(self, workdir: Path) -> list[Disk]:
        """Per-VM copy-on-write children of our disks: parallel VMs never share writes."""
        out = []
        for n, d in enumerate(self.disks):
            out.append(make_overlay(d, workdir / f"medium{n}.qcow2") if not d.readonly else d)
        return out

    def machine(self, workdir: Path, delivery: list[Disk], *, boot_scale: float = 1.0,
                snapshots: bool = False) -> Machine:
        workdir.mkdir(parents=True, exist_ok=True)
        return Machine(self.profile, self.kernel, workdir=workdir,
                       disks=[*self.guest_disks(workdir), *delivery], append=self.append,
                       snapshots=snapshots, timeouts=BootTimeouts(scale=boot_scale),
                       dialogue=self.dialogue, extra_args=self.extra_args)


def iso_medium(arch: str, path: Path, workdir: Path, cache: Path, *, bootargs: str | None = None,
               conf: str = "", say: Callable[[str], None] | None = None) -> BootMedium:
    if arch != "amd64":
        raise UsageError(f"--iso boots 9front's amd64 release ISO; there is no {arch} one (use --disk)")
    boot = iso.open_release_iso(path, workdir, cache, say)
    profile = get_profile("amd64")
    cd = ("-drive", f"if=ide,index={iso.CD_SLOT},media=cdrom,readonly=on,format=raw,file={boot.iso}")
    answer = bootargs or boot.bootargs
    return BootMedium(
        MediumKind.ISO, profile, boot.kernel, boot.iso, append=iso.kernel_conf(boot.plan9ini, extra=conf),
        extra_args=cd, dialogue=BootDialogue(bootargs_answer=answer),
        describe=f"ISO {path} ({boot.volume or 'no volume name'}): kernel {boot.kernel_path}, root {answer}",
    )


def disk_medium(arch: str, path: Path, workdir: Path, *, how: DiskBoot = DiskBoot.LOADER,
                bootargs: str | None = None, conf: str = "") -> BootMedium:
    if arch not in ("amd64", "arm64"):
        raise UsageError(f"--disk boots amd64 or arm64 images, not {arch}")
    prep = diskimage.prepare(path, workdir, extra=conf)
    # The prepared overlay is the read-only base of each VM's own overlay.
    base = Disk(prep.overlay.path, "qcow2")
    dialogue = BootDialogue(bootargs_answer=bootargs or "")
    what = f"disk {path} ({prep.base.format}; plan9.ini on {prep.fat.name} given console=0 in {prep.overlay.path})"
    if how is DiskBoot.KERNEL:
        kernel = diskimage.kernel_from_fat(prep, workdir)
        profile = get_profile(arch)
        return BootMedium(MediumKind.DISK, profile, kernel, path, append=iso.kernel_conf(prep.conf),
                          disks=(base,), dialogue=dialogue, describe=what + f", kernel {kernel.name} by -kernel")
    if arch == "amd64":
        diskimage.check_bios_bootable(prep)
        return BootMedium(MediumKind.DISK, get_profile("amd64"), None, path, disks=(base,),
                          dialogue=dialogue, describe=what + ", booted by its own 9boot")
    assert ARM64_DISK.uboot is not None
    bios = ("-bios", str(find_firmware(ARM64_DISK.uboot)))
    return BootMedium(MediumKind.DISK, ARM64_DISK, None, path, disks=(base,), extra_args=bios,
                      dialogue=dialogue, describe=what + ", booted by U-Boot and its boot.scr")
