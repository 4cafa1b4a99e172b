"""pytest --nh-shard: each shard collects its part of the scenario items, together all."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

GOOD = """covers: [rfork]
steps:
  - rfork: [RFFDG, RFCFDG]
    expect: {ret: -1, err: bad arg in system call}
"""


def _collect(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--collect-only",
                           "testcases", "--nh-arch", "amd64,arm64", *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)


def _items(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in proc.stdout.splitlines() if "::" in line]


def test_shards_partition_the_items(tmp_path: Path) -> None:
    cases = tmp_path / "testcases" / "rfork"
    cases.mkdir(parents=True)
    for i in range(5):
        (cases / f"s{i}.yaml").write_text(GOOD)
    everything = _items(_collect(tmp_path))
    assert len(everything) == 10
    parts = [_items(_collect(tmp_path, "--nh-shard", f"{i}/3")) for i in range(3)]
    flat = [x for p in parts for x in p]
    assert sorted(flat) == sorted(everything) and len(set(flat)) == len(flat)
    assert sorted(len(p) for p in parts) == [3, 3, 4]
    bad = _collect(tmp_path, "--nh-shard", "3/3")
    assert bad.returncode == 4 and "0..2" in bad.stderr
