"""Helpers for the nightly tests: SIMULATED kernels, matrices and baselines in a tmp dir."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "testcases"
XSD = Path(__file__).resolve().parent / "data" / "junit.xsd"
SEED = "9front-2022.05"

# small subsets: each scenario boots nothing, but every run is a `harness run` child
THREE = ("rfork/cow.yaml", "exits/short.yaml", "errstr/after-failure-seed.yaml")


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


def nightly(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`harness nightly ARGS` as a user runs it (its own process, its own signal handling)."""
    return subprocess.run([sys.executable, "-m", "harness", "nightly", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=REPO)


def summary(out: Path) -> dict[str, Any]:
    return json.loads((out / "summary.json").read_text())


def outcome(s: dict[str, Any], cell: str, scenario: str) -> dict[str, Any]:
    return next(o for o in s["outcomes"] if o["cell"] == cell and o["scenario"] == scenario)
