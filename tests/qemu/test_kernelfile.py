"""Kernel files are checked from their headers before anything boots (harness/qemu/kernelfile.py)."""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.qemu import uimage
from harness.qemu.kernelfile import check_kernel_file, is_simulated_kernel
from harness.qemu.profiles import get_profile

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "model"))
from aoututil import header  # noqa: E402

MB = struct.pack("<3I", 0x1BADB002, 0x00010007, (-(0x1BADB002 + 0x00010007)) & 0xFFFFFFFF)


def _elf(machine: int, little: bool = True, bits: int = 64) -> bytes:
    """A minimal ELF header (no sections) for e_machine MACHINE."""
    e = "<" if little else ">"
    ident = b"\x7fELF" + bytes([2 if bits == 64 else 1, 1 if little else 2, 1]) + bytes(9)
    if bits == 64:
        return ident + struct.pack(e + "HHIQQQIHHHHHH", 2, machine, 1, 0, 0, 0, 0, 64, 0, 0, 0, 0, 0)
    return ident + struct.pack(e + "HHIIIIIHHHHHH", 2, machine, 1, 0, 0, 0, 0, 52, 0, 0, 0, 0, 0)


FILES = {
    "9pc64-like a.out": header("S", text=0x1000, utzero=0x200000) + bytes(8) + MB + bytes(0x1000),
    "amd64 a.out without multiboot": header("S", text=0x100, utzero=0x200000) + bytes(0x100),
    "arm64 a.out": header("R", text=0x100, utzero=0x10000) + bytes(0x100),
    "arm64 uImage": uimage.make_uimage(b"\0" * 64, load=0x40100000, entry=0x40100000, name="k",
                                       os=uimage.OS_PLAN9, arch=uimage.ARCH_ARM64),
    "arm uImage": uimage.make_uimage(b"\0" * 64, load=0x8000, entry=0x8000, name="k",
                                     os=uimage.OS_PLAN9, arch=uimage.ARCH_ARM),
    "aarch64 ELF": _elf(183),
    "x86_64 ELF": _elf(62),
    "mips BE ELF": _elf(8, little=False, bits=32),
    "text": b"#!/bin/rc\necho not a kernel\n",
    "empty": b"",
    "simulated": b"[simulated-kernel]\narch = \"amd64\"\n",
}

# profile -> the files it accepts (every other one is refused)
ACCEPTS = {
    "amd64": {"9pc64-like a.out", "simulated"},
    "arm64": {"arm64 uImage", "aarch64 ELF", "simulated"},
    "arm64-uboot": {"arm64 uImage", "simulated"},
    "mips": {"mips BE ELF", "simulated"},
}


@pytest.mark.parametrize("profile", list(ACCEPTS))
@pytest.mark.parametrize("name", list(FILES))
def test_what_each_profile_accepts(tmp_path: Path, profile: str, name: str) -> None:
    path = tmp_path / "kernel"
    path.write_bytes(FILES[name])
    if name in ACCEPTS[profile]:
        check_kernel_file(path, get_profile(profile))
        return
    with pytest.raises(UsageError) as info:
        check_kernel_file(path, get_profile(profile))
    msg = str(info.value)
    assert msg.startswith(f"{path}: is ") and f"QEMU profile {profile} expects" in msg


@pytest.mark.parametrize(("name", "words"), [
    ("arm64 a.out", "a Plan 9 a.out for arm64 (magic R"), ("text", "a text file"), ("empty", "an empty file"),
    ("x86_64 ELF", "an ELF file for X86_64"), ("arm uImage", "a uImage for arm"),
])
def test_the_message_says_what_the_file_is(tmp_path: Path, name: str, words: str) -> None:
    path = tmp_path / "kernel"
    path.write_bytes(FILES[name])
    with pytest.raises(UsageError, match=words.replace("(", r"\(")):
        check_kernel_file(path, get_profile("amd64" if name != "x86_64 ELF" else "arm64"))


def test_non_regular_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a regular file"):
        check_kernel_file(Path("/dev/zero"), get_profile("amd64"))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(UsageError, match="not a regular file"):  # and it does not hang on open
        check_kernel_file(fifo, get_profile("amd64"))
    assert not is_simulated_kernel(fifo)
    with pytest.raises(UsageError, match="is a directory"):
        check_kernel_file(tmp_path, get_profile("amd64"))
    with pytest.raises(UsageError, match="no such kernel file"):
        check_kernel_file(tmp_path / "absent", get_profile("amd64"))
