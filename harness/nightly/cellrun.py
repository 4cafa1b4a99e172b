"""One cell of a night: `harness run` on its kernel, then retries of what failed.

Each run is a `harness run` child process, not a library call: a cell is a
pool of QEMU machines with its own signal handling, console logs and results
directory, and as a process of its own it can be given a wall-clock limit and
stopped (its whole process group) without stopping the night; the model runs
of cells in parallel are not serialised by one interpreter; and an interrupted
night leaves each cell's ordinary, self-consistent results directory.  The
child is told to die with the night (PR_SET_PDEATHSIG), so a killed night
leaves no run behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.nightly.matrix import Cell, CellScenario
from harness.nightly.outcome import Attempt, CellResult, CellState, Outcome, failing
from harness.report.result import Status

STOP_GRACE = 20.0  # seconds the guard has to stop a cell (it needs at most CHILD_GRACE + 2 SWEEP_GRACE)
PROGRESS_EVERY = 15.0  # seconds between looks at a running cell's summary.json


@dataclass
class RunOutput:
    rc: int | None  # None: stopped (timeout or interrupt)
    run_dir: Path | None
    verdicts: dict[str, dict[str, Any]]
    finished: bool
    stopped: str = ""  # why it was stopped


class Runner:
    """Starts `harness run` children and can stop them all (interrupt)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.procs: set[subprocess.Popen[bytes]] = set()
        self.stopping = threading.Event()

    def run(self, args: list[str], dest: Path, log: Path, timeout: float | None,
            progress: Callable[[int], None] | None = None) -> RunOutput:
        """One `harness run` into DEST; PROGRESS(verdicts so far) now and then while it runs."""
        dest.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "harness.nightly.guard",
                sys.executable, "-m", "harness", "run", "--results", str(dest), *args]
        with open(log, "ab") as out:
            out.write(("$ " + " ".join(argv) + "\n").encode())
            out.flush()
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        with self.lock:
            self.procs.add(proc)
        stopped = ""
        deadline = time.monotonic() + timeout if timeout else None
        told, next_look = 0, time.monotonic() + PROGRESS_EVERY
        try:
            while proc.poll() is None:
                if progress is not None and time.monotonic() > next_look:
                    next_look = time.monotonic() + PROGRESS_EVERY
                    done = _verdicts_so_far(dest)
                    if done != told:
                        told = done
                        progress(done)
                if self.stopping.is_set():
                    stopped = "interrupted"
                elif deadline is not None and time.monotonic() > deadline:
                    stopped = f"cell_timeout: still running after {timeout:.0f}s, stopped"
                if stopped:
                    _stop(proc)
                    break
                time.sleep(0.1)
        finally:
            with self.lock:
                self.procs.discard(proc)
        run_dir = _newest_dir(dest)
        summary = _read_json(run_dir / "summary.json") if run_dir else None
        verdicts = {v["scenario"]: v for v in (summary or {}).get("verdicts", [])}
        return RunOutput(None if stopped else proc.returncode, run_dir, verdicts,
                         bool(summary and summary.get("finished")), stopped)

    def stop_all(self) -> None:
        self.stopping.set()
        with self.lock:
            procs = list(self.procs)
        for p in procs:
            _stop(p)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the guard (it stops the run and sweeps up); its process group is killed
    only if it has not finished within STOP_GRACE."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(STOP_GRACE)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _verdicts_so_far(dest: Path) -> int:
    run_dir = _newest_dir(dest)
    summary = _read_json(run_dir / "summary.json") if run_dir else None
    return len((summary or {}).get("verdicts", []))


def _newest_dir(base: Path) -> Path | None:
    dirs = [d for d in base.iterdir() if d.is_dir()] if base.is_dir() else []
    return max(dirs, key=lambda d: d.stat().st_mtime) if dirs else None


def _read_json(p: Path) -> dict[str, Any] | None:
    try:
        d = json.loads(p.read_text())
    except (OSError, ValueError):
        return None
    return d if isinstance(d, dict) else None


def run_cell(cell: Cell, night_dir: Path, retries: int, runner: Runner,
             say: Callable[[str], None]) -> CellResult:
    cdir = night_dir / "cells" / cell.name
    log = cdir / "run.log"
    started = time.monotonic()
    began = time.strftime("%Y-%m-%dT%H:%M:%S")
    first = runner.run(cell.run_args() + [str(s.path) for s in cell.scenarios], cdir / "run", log,
                       cell.cell_timeout, lambda k: say(f"nightly: {cell.name}: {k}/{len(cell.scenarios)} scenarios"))
    rel = (lambda p: str(p.relative_to(night_dir)))  # noqa: E731
    res = CellResult(cell.name, CellState.DONE.value, exit_code=first.rc, log=rel(log),
                     run_dir=rel(first.run_dir) if first.run_dir else "", started=began)
    if runner.stopping.is_set():
        res.state = CellState.NOT_RUN.value
        return res
    why = _could_not_run(first)
    if why:
        res.state, res.message = CellState.INFRA.value, why
    res.outcomes = [_outcome(cell, sc, first, night_dir, why) for sc in cell.scenarios]
    if not why:
        _retry(cell, res.outcomes, retries, runner, night_dir, say)
    res.seconds = round(time.monotonic() - started, 3)
    return res


def _could_not_run(out: RunOutput) -> str:
    """Why a cell gave no kernel verdict at all (infrastructure), or ''."""
    if out.stopped:
        return out.stopped
    if out.rc == 2:
        return "harness run refused its input (exit 2): see run.log"
    if out.rc not in (0, 1, 3):
        return f"harness run failed (exit {out.rc}): see run.log"
    if out.run_dir is None or not out.finished:
        return f"harness run (exit {out.rc}) left no finished summary.json: see run.log"
    if not out.verdicts:
        return f"harness run (exit {out.rc}) gave no verdict at all: see run.log"
    if all(v.get("status") == Status.INFRA_ERROR.value for v in out.verdicts.values()):
        return "no scenario got a kernel verdict: " + next(iter(out.verdicts.values())).get("summary", "")
    return ""


def _outcome(cell: Cell, sc: CellScenario, out: RunOutput, night_dir: Path, why: str) -> Outcome:
    v = out.verdicts.get(sc.name)
    if v is None:
        return Outcome(cell.name, sc.name, list(sc.covers), Status.INFRA_ERROR.value,
                       summary=why or "no verdict: harness run stopped before this scenario")
    o = Outcome(cell.name, sc.name, list(sc.covers), str(v.get("status")), summary=str(v.get("summary", "")),
                detail=str(v.get("detail", "")), seconds=float(v.get("seconds", 0.0)))
    assert out.run_dir is not None
    o.files = {k: str((out.run_dir / f).relative_to(night_dir)) for k, f in v.get("files", {}).items()}
    o.attempts.append(Attempt(o.status, o.summary, str(out.run_dir.relative_to(night_dir))))
    return o


def _retry(cell: Cell, outcomes: list[Outcome], retries: int, runner: Runner, night_dir: Path,
           say: Callable[[str], None]) -> None:
    """Rerun failing scenarios up to RETRIES times; stop retrying one once its outcomes differ."""
    paths = {s.name: s.path for s in cell.scenarios}
    for k in range(1, retries + 1):
        todo = [o for o in outcomes if failing(o.status) and not o.flaky]
        if not todo or runner.stopping.is_set():
            return
        say(f"nightly: {cell.name}: retry {k}/{retries} of {len(todo)} failing scenario(s)")
        out = runner.run(cell.run_args() + [str(paths[o.scenario]) for o in todo],
                         night_dir / "cells" / cell.name / f"retry-{k}",
                         night_dir / "cells" / cell.name / "run.log", cell.cell_timeout)
        if out.stopped or out.run_dir is None:
            return
        for o in todo:
            v = out.verdicts.get(o.scenario)
            if v is not None and v.get("status") != Status.INFRA_ERROR.value:
                o.attempts.append(Attempt(str(v["status"]), str(v.get("summary", "")),
                                          str(out.run_dir.relative_to(night_dir))))
