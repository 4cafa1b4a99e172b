"""Live progress: plain lines off a terminal, rich's bar and per-VM lines on a real pty."""

from __future__ import annotations

import io
import re
import sys
import threading
from pathlib import Path

import pexpect

from harness.report.progress import Progress
from harness.report.result import Status, Verdict
from harness.report.text import verdict_lines

REPO = Path(__file__).resolve().parents[2]


def _v(name: str, status: Status = Status.PASS) -> Verdict:
    return Verdict(name, "amd64", "9front-2022.05", status)


def test_off_a_terminal_it_writes_the_verdict_lines_and_heartbeats() -> None:
    out = io.StringIO()
    p = Progress(verdict_lines, stream=out, heartbeat=0)
    assert not p.live  # a StringIO is not a terminal
    with p:
        p.start(3, workers=2)
        p.scenario_started("a", 0)
        p.scenario_done("a", _v("a"), 0)
        p.skip()
        p.scenario_done("b", _v("b", Status.DIVERGED), 1)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("pass        amd64  a")
    assert lines[1] == "progress: 1/3 scenarios done, 2 left; vm0: done a, vm1: starting"
    assert lines[2].startswith("diverged    amd64  b")
    assert lines[3] == "progress: 2/2 scenarios done, 0 left; vm0: done a, vm1: done b"
    assert "\x1b[" not in out.getvalue()


def test_quiet_shows_only_what_is_not_a_pass_and_no_heartbeat() -> None:
    out = io.StringIO()
    with Progress(verdict_lines, stream=out, heartbeat=0, quiet=True) as p:
        p.start(2)
        p.scenario_done("a", _v("a"))
        p.scenario_done("b", _v("b", Status.INFRA_ERROR))
    assert out.getvalue().splitlines() == ["infra-error amd64  b"]


def test_worker_threads_count_every_verdict() -> None:
    out = io.StringIO()
    p = Progress(verdict_lines, stream=out, heartbeat=3600)
    p.start(400, workers=4)

    def work(n: int) -> None:
        for i in range(100):
            p.scenario_done(f"s{n}-{i}", _v(f"s{n}-{i}"), n)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    p.finish()
    assert p.done == 400 and len(out.getvalue().splitlines()) == 400


def _on_a_pty(args: list[str], cwd: Path) -> tuple[str, int]:
    child = pexpect.spawn(sys.executable, ["-m", "harness", *args], cwd=str(cwd), encoding="utf-8",
                          timeout=300, dimensions=(40, 120), env={"TERM": "xterm", "PATH": "/usr/bin:/bin"})
    child.expect(pexpect.EOF)
    child.close()
    return child.before, child.exitstatus


def test_on_a_terminal_rich_draws_the_bar(tmp_path: Path) -> None:
    text, rc = _on_a_pty(["model", "testcases/rfork", "--arch", "amd64", "-o", str(tmp_path)], REPO)
    assert rc == 0, text
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    n = len(list((tmp_path / "amd64").glob("*.model.jsonl")))
    assert n > 10
    assert re.search(rf"scenarios .*{n}/{n}", plain), plain[-2000:]  # the bar, complete
    assert "\x1b[" in text  # drawn in place, with colour
    assert f"model: {n} scenario runs, {n} agree" in plain


def test_on_a_terminal_each_vm_has_a_line(tmp_path: Path) -> None:
    text, rc = _on_a_pty(["run", "--simulate", "--arch", "amd64", "--jobs", "2", "--results", str(tmp_path),
                          "testcases/exits"], REPO)
    assert rc == 0, text
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    assert "vm0: " in plain and "vm1: " in plain
    assert re.search(r"scenarios .*7/7", plain)
    assert "run: 7 scenarios: 7 pass" in plain


def test_a_progress_is_also_a_verdict_callback() -> None:
    out = io.StringIO()
    with Progress(verdict_lines, stream=out) as p:
        p.start(1)
        p(_v("a"))
    assert p.done == 1 and out.getvalue().startswith("pass        amd64  a")
