"""A night: every cell of the matrix, in parallel within --jobs, and what it leaves.

Layout of the night directory (--out)::

    night.json              the night's id, start time and the inputs' sha256 (for --resume)
    cells/CELL/run/...      the cell's ordinary `harness run` results directory
    cells/CELL/retry-K/...  the results directories of its retries
    cells/CELL/run.log      what `harness run` printed
    cells/CELL/cell.json    the cell's verdicts, written when the cell is finished
    junit/CELL.xml          JUnit XML, one testcase per scenario
    report.html             one self-contained HTML report
    summary.json, summary.txt

Outputs are rewritten after every finished cell (atomically), so a night that
is killed still leaves a valid report of what ran; --resume reruns only the
cells without cell.json.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import UsageError
from harness.nightly import history
from harness.nightly.baseline import Baseline
from harness.nightly.cellrun import Runner, run_cell
from harness.nightly.classify import classify
from harness.nightly.matrix import Cell, Matrix
from harness.nightly.options import NightOptions
from harness.nightly.outcome import CellResult, CellState, NightVerdict, Outcome
from harness.report.result import Status


@dataclass
class Night:
    matrix: Matrix
    opts: NightOptions
    say: Callable[[str], None]
    night_id: str = ""
    started: str = ""
    results: dict[str, CellResult] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    runner: Runner = field(default_factory=Runner)

    # -- state -------------------------------------------------------------
    def open(self) -> None:
        out = self.opts.out
        state = out / "night.json"
        inputs = _inputs_digest(self.matrix, self.opts.baseline)
        if state.is_file():
            prior = json.loads(state.read_text())
            if not self.opts.resume:
                raise UsageError(f"{out} already holds night {prior['night']}: --resume to continue it, "
                                 "or give another --out")
            if prior.get("inputs") != inputs:
                raise UsageError(f"{out}: the matrix or baseline changed since night {prior['night']} started; "
                                 "resume with the same files or start a new night")
            self.night_id, self.started = prior["night"], prior["started"]
            self._load_finished()
            return
        if self.opts.resume:
            raise UsageError(f"--resume: {out} holds no night to resume (no night.json)")
        out.mkdir(parents=True, exist_ok=True)
        now = time.time()
        self.night_id = _unused_id(time.strftime("%Y%m%d-%H%M%S", time.localtime(now)), self.opts.history)
        self.started = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now))
        _write_atomic(state, json.dumps({"night": self.night_id, "started": self.started,
                                         "matrix": str(self.matrix.path), "inputs": inputs}, indent=1) + "\n")

    def _load_finished(self) -> None:
        for cell in self.matrix.cells:
            cj = self.opts.out / "cells" / cell.name / "cell.json"
            if cj.is_file():
                self.results[cell.name] = CellResult.from_json(json.loads(cj.read_text()))
                self.say(f"nightly: {cell.name}: finished in the interrupted night, not rerun")
            elif (self.opts.out / "cells" / cell.name).exists():
                _set_aside(self.opts.out / "cells" / cell.name)

    # -- running -----------------------------------------------------------
    def run(self) -> int:
        todo = [c for c in self.matrix.cells if c.name not in self.results]
        self.write_outputs(finished=not todo)
        tokens = _Tokens(self.opts.jobs)
        threads = [threading.Thread(target=self._cell, args=(c, tokens, turn), daemon=True)
                   for turn, c in enumerate(todo)]
        for t in threads:
            t.start()
        try:
            for t in threads:
                while t.is_alive():
                    t.join(0.2)
        except KeyboardInterrupt:
            self.say("nightly: interrupted: stopping the cells that are running")
            self.runner.stop_all()
            for t in threads:
                t.join(30)
            self.write_outputs(finished=False)
            raise
        summary = self.write_outputs(finished=True)
        if self.opts.history is not None:
            from harness.report import nightly_html

            kept = history.keep(self.opts.history, self.opts.out, self.night_id)
            # the kept report's links point into the night directory (while it exists)
            _write_atomic(kept / "report.html", nightly_html.render(summary, base=self.opts.out.as_uri() + "/"))
            self.say(f"nightly: night {self.night_id} kept in {kept}")
        return int(summary["exit_code"])

    def _cell(self, cell: Cell, tokens: _Tokens, turn: int) -> None:
        n = min(cell.jobs, self.opts.jobs)
        if not tokens.acquire(n, turn, self.runner.stopping):
            return
        try:
            if self.runner.stopping.is_set():
                return
            if n < cell.jobs:  # the night's --jobs caps every cell's
                cell = dataclasses.replace(cell, jobs=n)
            self.say(f"nightly: {cell.describe()}: started")
            try:
                res = run_cell(cell, self.opts.out, self.opts.retries, self.runner, self.say)
            except Exception as e:  # an unexpected error is this cell's infrastructure failure, never a pass
                why = f"nightly: {type(e).__name__}: {e}"
                res = CellResult(cell.name, CellState.INFRA.value, message=why, outcomes=[
                    Outcome(cell.name, sc.name, list(sc.covers), Status.INFRA_ERROR.value, summary=why)
                    for sc in cell.scenarios])
            if res.state == CellState.NOT_RUN.value:
                return  # interrupted: not finished, rerun on --resume
            _write_atomic(self.opts.out / "cells" / cell.name / "cell.json",
                          json.dumps(res.to_json(), indent=1) + "\n")
            with self.lock:
                self.results[cell.name] = res
            self.say(_cell_line(res))
            self.write_outputs(finished=False)
        finally:
            tokens.release(n)

    # -- outputs -----------------------------------------------------------
    def write_outputs(self, finished: bool) -> dict[str, Any]:
        from harness.nightly.summary import build_summary, summary_text
        from harness.report import junit, nightly_html

        with self.lock:
            cells = [self.results.get(c.name) or _not_run(c) for c in self.matrix.cells]
            prev_id, prev = history.previous_night(self.opts.history, self.night_id)
            report = classify(cells, self.opts.baseline, prev, self.opts.flaky_fails, datetime.date.today())
            summary = build_summary(self, cells, report, prev_id, finished)
            for cell, res in zip(self.matrix.cells, cells, strict=True):
                if res.state != CellState.NOT_RUN.value:
                    junit.write_junit(self.opts.out / "junit" / f"{cell.name}.xml", summary_cell(summary, cell.name),
                                      [o for o in summary["outcomes"] if o["cell"] == cell.name])
            _write_atomic(self.opts.out / "summary.json", json.dumps(summary, indent=1) + "\n")
            _write_atomic(self.opts.out / "summary.txt", summary_text(summary))
            _write_atomic(self.opts.out / "report.html", nightly_html.render(summary))
        return summary


def summary_cell(summary: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in summary["cells"] if c["name"] == name)


def _unused_id(night: str, hist: Path | None) -> str:
    """Two nights started in the same second stay two nights in the history (ids still sort)."""
    n, candidate = 1, night
    while hist is not None and (hist / candidate).exists():
        n += 1
        candidate = f"{night}-{n}"
    return candidate


def _not_run(cell: Cell) -> CellResult:
    """A cell the night has not finished: its scenarios are in the report, as not run."""
    return CellResult(cell.name, CellState.NOT_RUN.value, outcomes=[
        Outcome(cell.name, sc.name, list(sc.covers), NightVerdict.NOT_RUN.value) for sc in cell.scenarios])


class _Tokens:
    """--jobs shared by the cells: a cell with jobs = N takes N of them; cells start in matrix order."""

    def __init__(self, total: int) -> None:
        self.free = total
        self.turn = 0
        self.cond = threading.Condition()

    def acquire(self, n: int, turn: int, stop: threading.Event) -> bool:
        with self.cond:
            while self.turn != turn or self.free < n:
                if stop.is_set():
                    return False
                self.cond.wait(0.2)
            self.free -= n
            self.turn += 1
            self.cond.notify_all()
            return True

    def release(self, n: int) -> None:
        with self.cond:
            self.free += n
            self.cond.notify_all()


def _cell_line(res: CellResult) -> str:
    counts: dict[str, int] = {}
    for o in res.outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    parts = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    extra = f" — {res.message}" if res.message else ""
    return f"nightly: {res.name}: {res.state} ({parts or 'no verdicts'}) in {res.seconds:.1f}s{extra}"


def _inputs_digest(matrix: Matrix, baseline: Baseline) -> str:
    h = hashlib.sha256(matrix.path.read_bytes())
    if baseline.path is not None:
        h.update(baseline.path.read_bytes())
    return h.hexdigest()


def _set_aside(cdir: Path) -> None:
    """An unfinished cell's partial results are kept, renamed, and the cell runs again."""
    n = 1
    while (dest := cdir.with_name(f"{cdir.name}.interrupted-{n}")).exists():
        n += 1
    shutil.move(str(cdir), dest)


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
