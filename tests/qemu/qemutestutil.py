"""Helpers shared by the QEMU-layer tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.qemu.profiles import QemuProfile, check_qemu


def missing(msg: str) -> None:
    """Skip locally, fail in CI (where `make sysdeps` installs QEMU and binutils)."""
    if os.environ.get("CI"):
        pytest.fail(msg + " (CI is set: `make sysdeps` should have installed it)")
    pytest.skip(msg)


def need_qemu(profile: QemuProfile) -> None:
    try:
        check_qemu(profile)
    except HarnessError as e:
        missing(str(e))


def qemu_processes_in(workdir: Path) -> list[int]:
    """Pids of live processes whose command line mentions ``workdir`` (our QEMUs)."""
    needle = str(workdir).encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in cmdline and b"qemu-system" in cmdline and state != "Z":
            pids.append(int(entry.name))
    return pids
