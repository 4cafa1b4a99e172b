"""The closed vocabularies of boot media: what a run boots, and how an installed disk
boots.  A leaf module: the manifests (harness.images), the CLI and harness.qemu.media
all name them without importing one another."""

from __future__ import annotations

import enum


class MediumKind(enum.Enum):
    KERNEL = "kernel"
    ISO = "iso"
    DISK = "disk"


class DiskBoot(enum.Enum):
    LOADER = "loader"  # the image's own boot loader reads the (overlay's) plan9.ini
    KERNEL = "kernel"  # -kernel the bootfile from the image's FAT, its plan9.ini as -append
