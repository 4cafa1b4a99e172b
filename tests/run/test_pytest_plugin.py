"""The pytest plugin collects scenarios as items and fails on broken expectations."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

GOOD = """covers: [rfork]
steps:
  - rfork: [RFFDG, RFCFDG]
    expect: {ret: -1, err: bad arg in system call}
"""
BAD = """covers: [rfork]
steps:
  - rfork: [RFFDG, RFCFDG]
    expect: {ret: 0}
"""


def _pytest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)


def test_scenarios_become_items_per_arch(tmp_path: Path) -> None:
    cases = tmp_path / "testcases" / "rfork"
    cases.mkdir(parents=True)
    (cases / "good.yaml").write_text(GOOD)
    (cases / "bad.yaml").write_text(BAD)
    proc = _pytest(tmp_path, "testcases", "--arch", "amd64,arm64")
    assert "2 failed, 2 passed" in proc.stdout, proc.stdout + proc.stderr
    assert "bad.yaml::amd64" in proc.stdout
    assert "ret: expected 0, got -1" in proc.stdout


def test_only_yaml_under_testcases_is_collected(tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.yaml").write_text(GOOD)
    proc = _pytest(tmp_path, "other", "--arch", "amd64")
    assert "no tests ran" in proc.stdout
