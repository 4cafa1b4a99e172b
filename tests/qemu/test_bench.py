"""`make bench` runs (smoke mode, on the QEMU boot fixtures and the SIMULATED console)
and writes every figure of issue 11 into bench.json.  The figures are printed,
never asserted as times: that the bench runs and says everything is what is tested."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from qemutestutil import missing

from benchmarks.bench import KEYS

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.qemu
def test_bench_smoke_writes_every_figure(tmp_path: Path) -> None:
    for tool in ("qemu-system-x86_64", "x86_64-linux-gnu-as", "x86_64-linux-gnu-ld"):
        if shutil.which(tool) is None:
            missing(f"{tool} not installed")
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--smoke", "--out", str(tmp_path)], cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads((tmp_path / "bench.json").read_text())
    for key in KEYS:
        assert isinstance(out[key], float) and math.isfinite(out[key]) and out[key] > 0, (key, out[key])
        assert key in proc.stdout  # one table, every figure in it
    assert out["smoke"] is True and out["machine"]["cpus"] >= 1
    assert out["boot"]["kernel"].startswith("QEMU boot fixture") and out["pipeline"]["guest"] == "SIMULATED console"
    assert out["model"]["records"] > 0 and out["pipeline"]["agent_s_per_scenario"] > 0
