"""`harness aout`: output and exit codes (0 loaded, 3 rejected, 2 unusable input)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aoututil import header

from harness.cli import main
from harness.errors import ExitCode


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    rc = main(["aout", *args])
    out, err = capsys.readouterr()
    return rc, out, err


def test_loaded_hand_built(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "r.out"
    f.write_bytes(header("R", text=0x1234, data=0x10, bss=0x20, utzero=0x10000) + bytes(0x1244))
    rc, out, _ = _run(capsys, str(f))
    assert rc == ExitCode.OK
    assert "arch:    arm64" in out and "magic:   R" in out and "header:  40 bytes" in out
    assert "0x10000" in out and "0x20000" in out  # text 10000-20000, as arm64 lays it out
    rc, out, _ = _run(capsys, str(f), "--json")
    rep = json.loads(out)
    assert rc == 0 and rep["result"] == "loaded" and rep["entry"] == 0x10000 + 40
    assert [s["name"] for s in rep["segments"]] == ["Stack", "Text", "Data", "Bss"]
    text = rep["segments"][1]
    assert (text["base"], text["top"], text["file_offset"], text["file_length"]) == (0x10000, 0x20000, 0, 40 + 0x1234)


def test_rejected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "low"
    f.write_bytes(header("S", entry=0x200000 + 39, utzero=0x200000))
    rc, out, _ = _run(capsys, str(f))
    assert rc == ExitCode.REJECTED == 3 and "exec header invalid" in out
    # The right magic for another kernel.
    good = tmp_path / "good"
    good.write_bytes(header("S", utzero=0x200000))
    rc, out, _ = _run(capsys, str(good), "--arch", "arm64", "--json")
    assert rc == 3 and json.loads(out)["error"] == "exec header invalid"
    # No arch knows the magic.
    junk = tmp_path / "junk"
    junk.write_bytes(b"hello world, not a binary at all\n")
    rc, out, _ = _run(capsys, str(junk))
    assert rc == 3 and "no known arch" in out


def test_scripts_follow_the_profile(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "s41"
    f.write_bytes(b"#!/bin/pargv " + b"L" * 27 + b"\n")  # 41 bytes: too long for the seed
    rc, out, _ = _run(capsys, str(f), "--profile", "9front-2022.05")
    assert rc == 3 and "exec header invalid" in out
    rc, out, _ = _run(capsys, str(f), "--profile", "9front-current", "--json")
    rep = json.loads(out)
    assert rc == 0 and rep["result"] == "script" and rep["interpreter"] == "/bin/pargv"
    assert rep["argv"] == ["s41", "L" * 27, str(f)]


def test_unusable_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = _run(capsys, str(tmp_path / "missing"))
    assert rc == ExitCode.BAD_INPUT and "missing" in err
    f = tmp_path / "x"
    f.write_bytes(b"")
    rc, _, err = _run(capsys, str(f), "--arch", "vax")
    assert rc == 2 and "unknown arch 'vax'" in err
    rc, _, err = _run(capsys, str(f), "--profile", "nope")
    assert rc == 2 and "unknown profile" in err


@pytest.mark.go
def test_go_binary_via_subprocess(go_binaries: dict[str, Any]) -> None:
    path = go_binaries["amd64"].path
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    p = subprocess.run([sys.executable, "-m", "harness", "aout", str(path)], capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    assert "magic:   S" in p.stdout and "(_rt0_amd64_plan9)" in p.stdout
    assert "Text" in p.stdout and "0x200000" in p.stdout and "0x400000" in p.stdout
