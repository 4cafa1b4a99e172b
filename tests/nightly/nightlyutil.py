"""Helpers for the nightly tests: SIMULATED kernels, matrices and baselines in a tmp dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "testcases"
XSD = Path(__file__).resolve().parent / "data" / "junit.xsd"
SEED = "9front-2022.05"

# small subsets: each scenario boots nothing, but every run is a `harness run` child
THREE = ("rfork/cow.yaml", "exits/short.yaml", "errstr/after-failure-seed.yaml")


def missing(msg: str) -> None:
    """Skip locally, fail in CI (where `make sysdeps` installs QEMU, binutils, chromium)."""
    import pytest

    if os.environ.get("CI"):
        pytest.fail(msg + " (CI is set: `make sysdeps` should have installed it)")
    pytest.skip(msg)


def simkernel(path: Path, switches: tuple[str, ...] = (), faults: tuple[str, ...] = (), arch: str = "amd64",
              profile: str = SEED) -> Path:
    path.write_text("[simulated-kernel]\n"
                    f'arch = "{arch}"\nprofile = "{profile}"\n'
                    f"switches = {json.dumps(list(switches))}\nfaults = {json.dumps(list(faults))}\n")
    return path


def cell(name: str, kernel: Path, scenarios: tuple[str, ...] = THREE, key: str = "simulated-kernel",
         **extra: Any) -> str:
    lines = ["[[cell]]", f'name = "{name}"', 'arch = "amd64"', f'profile = "{SEED}"', f'{key} = "{kernel}"',
             "scenarios = " + json.dumps([s if s.startswith("syscall:") else str(CORPUS / s) for s in scenarios])]
    lines += [f"{k} = {json.dumps(v)}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


def write(path: Path, *parts: str) -> Path:
    path.write_text("\n".join(parts))
    return path


# A SIMULATED kernel's "flaky:SCENARIO" misbehaves (panics) on the runs a fixed pattern
# of its run index picks (harness.guest.simkernel.flaky_misbehaves), the index counted
# per kernel in the cache: a fresh cache per night makes the first run index 0.  For
# this scenario run 0 panics and runs 1..5 do not: the first attempt fails, the retry passes.
FLAKY = "pipe"
FLAKY_FILE = "fd/pipe.yaml"


def env() -> dict[str, str]:
    return {**os.environ, "NINE_HARNESS_CACHE": tempfile.mkdtemp(prefix="nh-cache-")}


def nightly(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`harness nightly ARGS` as a user runs it (its own process, its own signal handling)."""
    return subprocess.run([sys.executable, "-m", "harness", "nightly", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=REPO, env=env())


def summary(out: Path) -> dict[str, Any]:
    return json.loads((out / "summary.json").read_text())


def outcome(s: dict[str, Any], cell: str, scenario: str) -> dict[str, Any]:
    return next(o for o in s["outcomes"] if o["cell"] == cell and o["scenario"] == scenario)
