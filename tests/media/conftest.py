"""Fixtures for the boot-media tests: boot fixtures (not kernels) built once, and the
release-style ISO and disks the tests assemble around them (mediautil)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from mediautil import missing

from harness.errors import HarnessError
from harness.qemu.fixture import build_fixture


@pytest.fixture(autouse=True)
def _tools() -> None:
    for tool in ("mformat", "mcopy", "qemu-img", "qemu-io"):
        if shutil.which(tool) is None:
            missing(f"{tool} not found: apt-get install mtools qemu-utils")


@pytest.fixture(scope="session")
def fixture_kernel(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    cache: dict[str, Path] = {}
    outdir = tmp_path_factory.mktemp("fixtures")

    def build(name: str) -> Path:
        if name not in cache:
            try:
                cache[name] = build_fixture(name, outdir)
            except HarnessError as e:
                missing(str(e))
        return cache[name]

    return build
