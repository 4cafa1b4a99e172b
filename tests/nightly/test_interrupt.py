"""An interrupted night leaves a valid report; --resume finishes it without rerunning finished cells.

The night is a real `harness nightly` process killed with SIGKILL (no handler
runs) or stopped with SIGTERM while its second cell's SIMULATED kernel hangs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lxml import etree
from lxml import html as lhtml
from nightlyutil import REPO, XSD, cell, env, nightly, simkernel, summary, write

pytestmark = pytest.mark.slow


def _matrix(d: Path) -> Path:
    fast = simkernel(d / "fast.kernel")
    hangs = simkernel(d / "hangs.kernel", faults=("hang:short",))
    return write(d / "matrix.toml", cell("a-fast", fast, ("exits/short.yaml",)),
                 cell("b-hangs", hangs, ("exits/short.yaml", "rfork/cow.yaml"), timeout=3))


def _start(d: Path, matrix: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "harness", "nightly", "--matrix", str(matrix), "--out",
                             str(d / "night"), "--jobs", "1", "--retries", "0"], cwd=REPO, text=True, env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for(path: Path, proc: subprocess.Popen[str], limit: float = 120) -> None:
    deadline = time.monotonic() + limit
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.1)


def _live_processes_mentioning(needle: str) -> list[str]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in cmd and state != "Z":
            out.append(cmd)
    return out


def _no_process_left(needle: str) -> None:
    deadline = time.monotonic() + 20
    while (left := _live_processes_mentioning(needle)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left == []


def _interrupted_night_is_valid(night: Path) -> None:
    s = summary(night)
    assert s["finished"] is False and s["exit_code"] is None
    by_cell = {c["name"]: c for c in s["cells"]}
    assert by_cell["a-fast"]["state"] == "done" and by_cell["b-hangs"]["state"] == "not-run"
    assert {o["verdict"] for o in s["outcomes"] if o["cell"] == "a-fast"} == {"pass"}
    assert "INTERRUPTED" in (night / "summary.txt").read_text()
    page = lhtml.parse(str(night / "report.html")).getroot()
    assert "INTERRUPTED" in page.text_content()
    assert [r.get("data-scenario") for r in page.xpath("//table[@id='grid']/tbody/tr")] == ["cow", "short"]
    assert len(page.xpath("//td[@data-cell='b-hangs' and @data-verdict='not-run']")) == 2
    assert s["counts"] == {"not-run": 2, "pass": 1}
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    assert schema.validate(etree.parse(str(night / "junit" / "a-fast.xml")))
    assert not (night / "junit" / "b-hangs.xml").exists()


def test_resume_after_sigkill_finishes_the_night_without_rerunning_finished_cells(tmp_path: Path) -> None:
    matrix = _matrix(tmp_path)
    night = tmp_path / "night"
    proc = _start(tmp_path, matrix)
    _wait_for(night / "cells" / "b-hangs" / "run.log", proc)  # a-fast finished, b-hangs hanging
    time.sleep(1.0)
    proc.kill()
    proc.communicate()
    _no_process_left(str(tmp_path))  # the cell's `harness run` died with the night
    _interrupted_night_is_valid(night)
    a_cell = night / "cells" / "a-fast" / "cell.json"
    a_before = a_cell.read_text(), a_cell.stat().st_mtime_ns

    again = nightly("--matrix", matrix, "--out", night, "--jobs", "1", "--retries", "0")
    again_resumed = nightly("--matrix", matrix, "--out", night, "--resume", "--jobs", "1", "--retries", "0")
    assert again.returncode == 2 and "--resume to continue it" in again.stderr
    assert again_resumed.returncode == 1, again_resumed.stderr  # the hang is a kernel verdict
    assert "a-fast: finished in the interrupted night, not rerun" in again_resumed.stderr
    assert (a_cell.read_text(), a_cell.stat().st_mtime_ns) == a_before
    assert len(list((night / "cells" / "a-fast" / "run").iterdir())) == 1
    assert (night / "cells" / "b-hangs.interrupted-1" / "run.log").is_file()  # the partial cell, kept
    s = summary(night)
    assert s["finished"] is True and s["exit_code"] == 1
    b = {o["scenario"]: o for o in s["outcomes"] if o["cell"] == "b-hangs"}
    assert b["short"]["status"] == "guest-crash" and "hang" in b["short"]["summary"]
    assert b["cow"]["verdict"] == "pass"  # the machine was recovered and the cell went on
    assert json.loads((night / "night.json").read_text())["night"] == s["night"]


def test_sigterm_stops_the_cells_and_leaves_a_partial_report(tmp_path: Path) -> None:
    matrix = _matrix(tmp_path)
    night = tmp_path / "night"
    proc = _start(tmp_path, matrix)
    _wait_for(night / "cells" / "b-hangs" / "run.log", proc)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "--resume" in err
    _no_process_left(str(tmp_path))
    _interrupted_night_is_valid(night)
