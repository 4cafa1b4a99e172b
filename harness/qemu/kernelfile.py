"""Is this file a kernel the profile can boot?  Checked before anything boots.

QEMU given a text file, an empty file or another arch's kernel fails late and
says something misleading (or boots into silence), after an agent build may
already have been tried.  So the file's format is read first, from its header
only: a Plan 9 a.out (magic, harness.model.aout), an ELF (e_machine, via
pyelftools), a uImage (harness.qemu.uimage), a multiboot header (what QEMU's
``-kernel`` needs on the pc).  A mismatch is bad input (exit 2) naming what
the file is and what was expected.  A simulated kernel (first line
``[simulated-kernel]``, SPEC 6.1) is left alone: it never reaches QEMU.
"""

from __future__ import annotations

import os
import stat
import struct
from pathlib import Path

from harness.errors import UsageError
from harness.model.aout import parse_header
from harness.model.arch import ARCHES, MAGIC_NAMES, arch_for_magic
from harness.qemu import uimage
from harness.qemu.profiles import KernelLoad, QemuProfile

SIMULATED_FIRST_LINE = b"[simulated-kernel]"
HEAD = 64 * 1024  # no header we look at lies further in
MULTIBOOT_MAGIC = 0x1BADB002
MULTIBOOT_SEARCH = 8192  # the multiboot spec: the header lies within the first 8 KiB
# pyelftools' e_machine names, per QEMU profile arch
ELF_MACHINE = {name: a.elf_machines for name, a in ARCHES.items() if a.elf_machines}  # harness.model.arch
UIMAGE_ARCH = {uimage.ARCH_ARM64: "arm64", uimage.ARCH_ARM: "arm", uimage.ARCH_MIPS: "mips"}
EXPECTED = {
    KernelLoad.MULTIBOOT: "a multiboot kernel (9pc64)",
    KernelLoad.CONF_LOADER: "an arm64 uImage or ELF kernel (9qemu.u)",
    KernelLoad.UBOOT: "an arm64 uImage (9qemu.u)",
    KernelLoad.ELF: "a MIPS ELF kernel",
}


def is_simulated_kernel(path: Path) -> bool:
    """First line ``[simulated-kernel]`` (SPEC 6.1); harness.guest.simkernel reads the rest."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO must not block the open
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False  # a device or FIFO may never end
        return os.read(fd, 64).split(b"\n", 1)[0].strip() == SIMULATED_FIRST_LINE
    except OSError:
        return False
    finally:
        os.close(fd)


def _multiboot(head: bytes) -> bool:
    for off in range(0, min(len(head), MULTIBOOT_SEARCH) - 11, 4):
        magic, flags, check = struct.unpack_from("<3I", head, off)
        if magic == MULTIBOOT_MAGIC and (magic + flags + check) & 0xFFFFFFFF == 0:
            return True
    return False


def _elf(path: Path) -> tuple[str, bool]:
    """(e_machine, little endian) of an ELF file; ("damaged", True) if pyelftools cannot read it."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        with open(path, "rb") as f:
            elf = ELFFile(f)
            return str(elf.header["e_machine"]), bool(elf.little_endian)
    except (ELFError, struct.error, ValueError, OSError):
        return ("EM_damaged", True)


def describe(path: Path, head: bytes) -> str:
    """What the file is, in a few words."""
    if not head:
        return "an empty file"
    if head.startswith(b"\x7fELF"):
        machine, little = _elf(path)
        return f"an ELF file for {machine.removeprefix('EM_')} ({'little' if little else 'big'} endian)"
    h = parse_header(head)
    if h is not None and h.magic in MAGIC_NAMES:
        arch = arch_for_magic(h.magic)
        return f"a Plan 9 a.out for {arch.name if arch else 'another machine'} (magic {MAGIC_NAMES[h.magic]}, {h.magic:#x})"
    if len(head) >= uimage.HEADER.size and struct.unpack_from(">I", head)[0] == uimage.MAGIC:
        arch_code = head[29]
        return f"a uImage for {UIMAGE_ARCH.get(arch_code, f'U-Boot arch {arch_code}')}"
    if b"\0" not in head[:4096]:
        try:
            first = head[:4096].decode("utf-8").splitlines()[0][:40] if head.strip() else ""
            return f"a text file (first line {first!r})"
        except UnicodeDecodeError:
            pass
    return f"unrecognised data (starts {head[:8].hex(' ')})"


def _fits(path: Path, head: bytes, profile: QemuProfile) -> bool:
    load = profile.kernel_load
    if load is KernelLoad.MULTIBOOT:
        h = parse_header(head)
        if h is not None and h.magic in MAGIC_NAMES:
            arch = arch_for_magic(h.magic)
            if arch is None or arch.name != "amd64":
                return False
        return _multiboot(head)
    if head.startswith(b"\x7fELF"):
        got = _elf(path)
        if got[0] not in ELF_MACHINE.get(profile.arch, ()):
            return False
        return load is not KernelLoad.UBOOT and (profile.arch != "mips" or not got[1]) and \
            (profile.arch != "mipsle" or got[1])
    if load in (KernelLoad.CONF_LOADER, KernelLoad.UBOOT):
        return len(head) >= uimage.HEADER.size and struct.unpack_from(">I", head)[0] == uimage.MAGIC and \
            UIMAGE_ARCH.get(head[29]) == "arm64"
    return False


def check_kernel_file(path: Path, profile: QemuProfile) -> None:
    """Bad input (exit 2) unless PATH is a regular file holding a kernel PROFILE can load."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such kernel file") from None
    except OSError as e:
        raise UsageError(f"{path}: cannot read the kernel file: {e.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file (a device, FIFO or socket)"
        raise UsageError(f"{path}: is {kind}; a kernel is a regular file")
    if is_simulated_kernel(path):
        return
    try:
        with open(path, "rb") as f:
            head = f.read(HEAD)
    except OSError as e:
        raise UsageError(f"{path}: cannot read the kernel file: {e.strerror}") from None
    if not _fits(path, head, profile):
        raise UsageError(f"{path}: is {describe(path, head)}; QEMU profile {profile.name} expects "
                         f"{EXPECTED[profile.kernel_load]} for {profile.arch}")
