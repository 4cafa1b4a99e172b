"""Which boot medium a run's options name (--kernel, --iso, --disk, --image), checked
as bad input (exit 2) before anything boots (harness.run.runner.resolve).  Kept free
of heavy imports; harness.qemu.media does the work."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import UsageError
from harness.qemu.mediakind import DiskBoot, MediumKind

if TYPE_CHECKING:
    from harness.qemu.media import BootMedium


@dataclass
class MediumChoice:
    kind: MediumKind
    path: Path | None = None  # the ISO or disk image
    disk_boot: DiskBoot = DiskBoot.LOADER
    bootargs: str | None = None

    @classmethod
    def from_options(cls, image: str | None, kernel: str | None, iso: str | None, disk: str | None,
                     disk_boot: str, bootargs: str | None, simulate: bool,
                     image_kind: str | None = None) -> MediumChoice:
        """IMAGE_KIND: the manifest's kind of --image (its path is set once it is fetched)."""
        given = [name for name, v in (("--kernel", kernel), ("--iso", iso), ("--disk", disk),
                                      ("--image", image)) if v]
        if len(given) > 1:
            raise UsageError(f"give one of --kernel, --iso, --disk, --image (not {' and '.join(given)})")
        if (iso or disk) and simulate:
            raise UsageError("--iso and --disk boot real media: not with --simulate")
        kind = MediumKind.ISO if iso else MediumKind.DISK if disk else MediumKind.KERNEL
        if image:
            kind = MediumKind(image_kind or MediumKind.KERNEL.value)
        if bootargs and kind is MediumKind.KERNEL:
            raise UsageError("--bootargs answers a release's boot prompt: give it with --iso or --disk")
        if disk_boot != DiskBoot.LOADER.value and kind is not MediumKind.DISK:
            raise UsageError("--disk-boot only applies to --disk")
        source = iso or disk
        return cls(kind, Path(source) if source else None, DiskBoot(disk_boot), bootargs)

    @property
    def boots_medium(self) -> bool:
        return self.kind is not MediumKind.KERNEL

    def check(self, arch: str | None, qemu_profile: str | None = None) -> None:
        if qemu_profile:
            raise UsageError(f"--qemu-profile does not apply to --{self.kind.value}: the medium decides how it boots")
        if not arch:
            raise UsageError(f"--arch is required with --{self.kind.value}")
        if self.kind is MediumKind.ISO and arch != "amd64":
            raise UsageError(f"--iso boots 9front's amd64 release ISO; there is none for {arch} (use --disk)")
        if self.kind is MediumKind.DISK and arch not in ("amd64", "arm64"):
            raise UsageError(f"--disk boots amd64 or arm64 images, not {arch}")

    def prepare(self, arch: str, workdir: Path, iso_cache: Path,
                say: Callable[[str], None] | None = None) -> BootMedium:
        from harness.qemu import media

        assert self.path is not None
        if self.kind is MediumKind.ISO:
            return media.iso_medium(arch, self.path, workdir, iso_cache, bootargs=self.bootargs, say=say)
        return media.disk_medium(arch, self.path, workdir, how=self.disk_boot, bootargs=self.bootargs)
