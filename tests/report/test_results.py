"""The results directory: concurrent writers, the verdict journal, the summary at the end and
at interruption, a disk that fills up.  Real processes where the behaviour is the process's."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.errors import WriteError
from harness.report.result import Command, Status, Verdict
from harness.report.results import JOURNAL, SUMMARY, ResultsDir, read_results
from harness.trace.schema import read_trace

REPO = Path(__file__).resolve().parents[2]
HARNESS = [sys.executable, "-m", "harness"]


def _v(name: str, status: Status = Status.PASS) -> Verdict:
    return Verdict(name, "amd64", "9front-2022.05", status, summary="" if status is Status.PASS else "x")


def _summary(rd: ResultsDir) -> dict:
    return json.loads((rd.root / SUMMARY).read_text())


def test_a_new_results_directory_already_has_a_valid_summary(tmp_path: Path) -> None:
    rd = ResultsDir.create(tmp_path, "t")
    s = _summary(rd)
    assert (s["finished"], s["interrupted"], s["counts"], s["verdicts"]) == (False, False, {}, [])
    assert (rd.root / "command.txt").read_text().strip()
    assert (rd.root / JOURNAL).exists()


def test_runs_started_together_get_directories_of_their_own(tmp_path: Path) -> None:
    roots: list[Path] = []
    barrier = threading.Barrier(12)

    def make() -> None:
        barrier.wait()
        roots.append(ResultsDir.create(tmp_path, "same").root)

    threads = [threading.Thread(target=make) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(roots)) == 12
    assert all(json.loads((r / SUMMARY).read_text())["verdicts"] == [] for r in roots)


def test_verdicts_go_to_the_journal_and_the_summary_is_written_at_the_end(tmp_path: Path) -> None:
    rd = ResultsDir.create(tmp_path, "t")
    rd.run.scenarios = 3
    for name, st in (("a", Status.PASS), ("b", Status.DIVERGED), ("c", Status.PASS)):
        rd.add(_v(name, st))
    lines = (rd.root / JOURNAL).read_text().splitlines()
    assert [json.loads(line)["scenario"] for line in lines] == ["a", "b", "c"]
    assert _summary(rd)["verdicts"] == []  # not rewritten per verdict: linear
    assert rd.finish() == 1
    s = _summary(rd)
    assert s["finished"] is True and s["exit_code"] == 1 and s["counts"] == {"pass": 2, "diverged": 1}
    assert [v["scenario"] for v in s["verdicts"]] == ["a", "b", "c"]
    assert set(s) >= {"started", "elapsed_seconds", "finished", "exit_code", "counts", "meta", "verdicts"}
    assert rd.finish(interrupted=True, exit_code=130) == 1  # the final summary is written once


def test_an_interrupted_summary_carries_the_signals_exit_code(tmp_path: Path) -> None:
    rd = ResultsDir.create(tmp_path, "t")
    rd.meta = {"arch": "amd64", "profile": "p", "kernel": None, "simulated": True, "scenarios": 5, "agent": None}
    rd.add(_v("a"))
    assert rd.finish(interrupted=True, exit_code=143) == 143
    s = _summary(rd)
    assert (s["finished"], s["interrupted"], s["exit_code"], s["lost"]) == (False, True, 143, 4)
    assert s["meta"]["agent"] is None and s["meta"]["scenarios"] == 5  # the meta keys as before
    assert read_results(rd.root).exit_code == 143


def test_a_run_that_lost_scenarios_never_exits_0(tmp_path: Path) -> None:
    rd = ResultsDir.create(tmp_path, "t")
    rd.run.scenarios = 3
    rd.add(_v("a"))
    rd.add(_v("b"))
    assert rd.finish() == 3
    assert _summary(rd)["lost"] == 1


def test_a_killed_run_is_read_back_from_its_journal(tmp_path: Path) -> None:
    rd = ResultsDir.create(tmp_path, "t")
    rd.add(_v("a"))
    rd.add(_v("b", Status.GUEST_CRASH))
    with (rd.root / JOURNAL).open("a") as f:
        f.write('{"scenario": "c", "arch"')  # the line being written when SIGKILL came
    run = read_results(rd.root)
    assert run.command is Command.RUN and not run.finished
    assert [(v.scenario, v.status) for v in run.verdicts] == [("a", Status.PASS), ("b", Status.GUEST_CRASH)]


def _model(out: Path, preexec_fn: Callable[[], None] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([*HARNESS, "model", "testcases/rfork", "testcases/exits", "-o", str(out), "-q"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=preexec_fn)


def test_three_model_runs_into_one_directory_all_succeed(tmp_path: Path) -> None:
    out = tmp_path / "same"
    procs = [_model(out) for _ in range(3)]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [r[1] for r in results]
    traces = sorted(out.rglob("*.model.jsonl"))
    assert len(traces) > 20
    for t in traces:
        read_trace(t)  # every trace whole and valid
    assert [p.name for p in out.rglob("*") if p.is_file() and not p.name.endswith(".model.jsonl")] == []


def _limit_file_size(size: int) -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))


def test_a_file_size_limit_while_writing_traces_is_one_infra_line(tmp_path: Path) -> None:
    proc = _model(tmp_path / "out", preexec_fn=lambda: _limit_file_size(2048))
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 3, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("harness: cannot write ") and "File too large" in lines[0]
    assert [p for p in (tmp_path / "out").rglob("*.tmp")] == []  # no debris


@pytest.fixture(params=["64k", "300k"])  # full before the first scenario; full in mid-run
def tiny_tmpfs(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (the ulimit -f test covers the same path)")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={request.param}", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_full_disk_under_a_simulated_run_is_an_infra_error(tiny_tmpfs: Path) -> None:
    proc = subprocess.run([*HARNESS, "run", "--simulate", "--arch", "amd64", "--results", str(tiny_tmpfs),
                           "testcases/rfork", "testcases/exits"], cwd=REPO, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 3, proc.stdout[-2000:] + proc.stderr
    assert "Traceback" not in proc.stderr
    assert "No space left on device" in proc.stderr + proc.stdout


def test_write_failures_are_kept_and_reported_by_finish(tmp_path: Path) -> None:
    rd = ResultsDir.create(tmp_path, "t")
    assert rd._journal is not None
    rd._journal.close()
    rd._journal = open(os.devnull, "w")  # noqa: SIM115
    os.close(rd._journal.fileno())  # the next write fails with EBADF, as a vanished disk would
    rd.add(_v("a"))
    assert rd.verdicts[0].scenario == "a"  # kept in memory; the run goes on
    with pytest.raises(WriteError):
        rd.finish()


def test_sigint_during_a_simulated_run_leaves_an_interrupted_summary(tmp_path: Path) -> None:
    proc = subprocess.Popen([*HARNESS, "run", "--simulate", "--arch", "amd64", "--results", str(tmp_path),
                             "--timeout", "60", "--fault", "hang:cow", "testcases/rfork"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        journal = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # wait for a verdict or two, then interrupt the hang
            found = list(tmp_path.glob(f"*/{JOURNAL}"))
            if found and found[0].read_text().count("\n") >= 1:
                journal = found[0]
                break
            time.sleep(0.2)
        assert journal is not None, "no verdict came"
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    s = json.loads((journal.parent / SUMMARY).read_text())
    assert (s["interrupted"], s["finished"], s["exit_code"]) == (True, False, 130)
    assert len(s["verdicts"]) >= 1 and s["lost"] == s["meta"]["scenarios"] - len(s["verdicts"]) > 0
    assert "interrupted" in err


def test_meta_writes_through_and_an_error_stopped_run_keeps_its_code(tmp_path: Path) -> None:
    rd = ResultsDir.create(tmp_path, "t")
    rd.meta = {"arch": "amd64", "profile": "p", "kernel": "/k", "simulated": False}
    rd.meta["scenarios"] = 4  # as the pipeline sets it
    rd.meta["agent"] = "/a.out"
    assert rd.expected() == 4 and rd.run.scenarios == 4 and rd.meta["agent"] == "/a.out"
    rd.write_summary(finished=False, exit_code=2)  # bad input found after the directory was made
    s = _summary(rd)
    assert (s["finished"], s["interrupted"], s["ended"], s["exit_code"]) == (False, False, True, 2)
    assert s["meta"]["scenarios"] == 4 and s["meta"]["agent"] == "/a.out" and s["run_id"] == rd.root.name
    assert read_results(rd.root).exit_code == 2


def test_sigint_during_harness_model_leaves_an_interrupted_summary(tmp_path: Path) -> None:
    summary = tmp_path / "model.json"
    proc = subprocess.Popen([*HARNESS, "model", "testcases", "--arch", "all", "-o", str(tmp_path / "t"), "-q",
                             "--summary", str(summary)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(list((tmp_path / "t").rglob("*.model.jsonl"))) < 5:
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    s = json.loads(summary.read_text())
    assert (s["command"], s["interrupted"], s["finished"], s["exit_code"]) == ("model", True, False, 130)
    assert len(s["verdicts"]) >= 5


def test_a_results_directory_that_cannot_be_made_is_bad_input(tmp_path: Path) -> None:
    proc = subprocess.run([*HARNESS, "run", "--simulate", "--arch", "amd64", "--results", "/proc/nh-results",
                           "testcases/exits/short.yaml"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == "harness: results directory /proc/nh-results: cannot create it: No such file or directory"
