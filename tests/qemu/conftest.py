"""Fixtures for the QEMU-layer tests.

Boot *fixtures* (tiny bare-metal images, see harness/qemu/fixtures/README.md)
are assembled once per session with the cross binutils; a missing tool or QEMU
skips locally and fails in CI (where `make sysdeps` installs them).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pexpect
import pytest
from qemutestutil import missing

from harness.errors import HarnessError
from harness.qemu.console import Console, ConsoleLog
from harness.qemu.fixture import build_fixture
from harness.qemu.profiles import PROFILES

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
SCRIPTED_GUEST = HERE / "scripted_guest.py"


@pytest.fixture(scope="session")
def fixture_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fixtures")


@pytest.fixture(scope="session")
def fixture_image(fixture_dir: Path) -> Callable[..., Path]:
    """build(profile_name, silent=False) -> the fixture image for that profile (cached)."""
    cache: dict[tuple[str, bool], Path] = {}

    def build(name: str, silent: bool = False) -> Path:
        if (name, silent) not in cache:
            try:
                cache[name, silent] = build_fixture(name, fixture_dir, silent=silent)
            except HarnessError as e:
                missing(str(e))
        return cache[name, silent]

    return build


@pytest.fixture
def scripted(tmp_path: Path) -> Iterator[Callable[..., tuple[Console, Path]]]:
    """spawn(transcript, *flags) -> (Console on a scripted guest under a pty, record file)."""
    spawned: list[Console] = []

    def spawn(transcript: str, *flags: str) -> tuple[Console, Path]:
        record = tmp_path / "typed.txt"
        child = pexpect.spawn(sys.executable,
                              [str(SCRIPTED_GUEST), str(DATA / transcript), "--record",
                               str(record), *flags],
                              encoding="utf-8", echo=False, timeout=30)
        console = Console(child, ConsoleLog(tmp_path / "console.log"))
        console.panic_grace = 1.0
        spawned.append(console)
        return console, record

    yield spawn
    for console in spawned:
        console.child.close(force=True)
        console.log.close()


ALL_PROFILES = sorted(PROFILES)
