"""The fault-injection suite (issue 9): one test per fault, through real `harness`
processes, on the SIMULATED console and on real QEMU boot fixtures.

Every test checks the same things (``Outcome.check``): the verdict class of
each scenario and the exit code, that the scenarios the fault did not hit still
ran, that the results directory is complete and its JSON valid, that no QEMU
or other child process is left running, and that it ended within its time.

Leftovers are found by pid, never by name: this process makes itself a child
subreaper (prctl PR_SET_CHILD_SUBREAPER), so anything the harness leaves
behind is re-parented here, where /proc shows it; the pids the harness wrote
(vmN/qemu.pid, simN/simulator.pid) are checked too.

FAULTS_TABLE=path.md writes the measured outcome of every row (docs/FAULTS.md
is that table).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "testcases"
THREE = ("rfork/child-exits-await.yaml", "rfork/cow.yaml", "exits/short.yaml")
THREE_NAMES = ("child-exits-await", "cow", "short")
PR_SET_CHILD_SUBREAPER = 36
ROWS: list[dict[str, object]] = []


def corpus(*names: str) -> list[str]:
    return [str(CORPUS / n) for n in names]


def become_subreaper() -> bool:
    libc = ctypes.CDLL(None, use_errno=True)
    return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)


def write_table() -> None:
    path = os.environ.get("FAULTS_TABLE")
    if path and ROWS:
        lines = ["| row | verdicts | exit | seconds |", "|---|---|---|---|"]
        lines += [f"| {r['row']} | {r['verdicts']} | {r['rc']} | {r['seconds']} |" for r in ROWS]
        Path(path).write_text("\n".join(lines) + "\n")


def _stat(pid: int) -> tuple[int, str] | None:
    """(ppid, state) of a live process, None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), fields[0]


def orphans() -> list[int]:
    """Processes re-parented to us (we are their subreaper) and still running; zombies are reaped."""
    me, out = os.getpid(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        st = _stat(int(entry.name))
        if st is None or st[0] != me:
            continue
        if st[1] == "Z":
            with contextlib.suppress(ChildProcessError):
                os.waitpid(int(entry.name), os.WNOHANG)
            continue
        out.append(int(entry.name))
    return out


def alive(pid: int) -> bool:
    st = _stat(pid)
    return st is not None and st[1] != "Z"


@dataclass
class Outcome:
    row: str
    rc: int
    out: str
    err: str
    seconds: float
    base: Path
    roots: list[Path] = field(default_factory=list)
    before: set[int] = field(default_factory=set)  # our children before the harness started

    @property
    def root(self) -> Path:
        assert len(self.roots) == 1, f"expected one results directory under {self.base}: {self.roots}"
        return self.roots[0]

    def summary(self, root: Path | None = None) -> dict[str, object]:
        data = json.loads(((root or self.root) / "summary.json").read_text())
        assert isinstance(data, dict)
        return data

    def statuses(self, root: Path | None = None) -> dict[str, str]:
        verdicts = self.summary(root)["verdicts"]
        assert isinstance(verdicts, list)
        return {v["scenario"]: v["status"] for v in verdicts}

    def check(self, rc: int, statuses: dict[str, str] | None, *, interrupted: bool = False,
              limit: float = 120.0) -> None:
        """The common assertions of every row (see the module docstring)."""
        assert self.rc == rc, f"exit {self.rc}, expected {rc}\nstdout:\n{self.out}\nstderr:\n{self.err}"
        assert self.seconds < limit, f"took {self.seconds:.1f}s (limit {limit}s)"
        for root in self.roots:
            check_directory(root, interrupted)
            summary = self.summary(root)
            assert summary["exit_code"] == rc and summary["interrupted"] is interrupted
            if statuses is not None:
                assert self.statuses(root) == statuses
                assert summary["finished"] is True
                meta = summary["meta"]
                assert isinstance(meta, dict) and meta["scenarios"] == len(statuses)
        assert_nothing_left(self.roots, self.before)
        record_row(self)


def check_directory(root: Path, interrupted: bool) -> None:
    """Complete and valid: command.txt, summary.json, every .json and .jsonl parses."""
    assert (root / "command.txt").is_file() and (root / "summary.json").is_file()
    if not interrupted:
        json.loads((root / "versions.json").read_text())
    for path in root.rglob("*.json"):
        json.loads(path.read_text())
    for path in root.rglob("*.jsonl"):
        for line in path.read_text().splitlines():
            json.loads(line)
    assert not list(root.rglob("*.tmp")), "temporary files left"


def recorded_pids(roots: list[Path]) -> list[int]:
    pids: list[int] = []
    for root in roots:
        for name in ("qemu.pid", "simulator.pid"):
            for f in root.rglob(name):
                pids += [int(x) for x in f.read_text().split()]
    return pids


def assert_nothing_left(roots: list[Path], before: set[int] | None = None) -> None:
    deadline = time.monotonic() + 5.0  # a killed process may take a moment to be gone
    while True:
        left = sorted({p for p in recorded_pids(roots) if alive(p)} | (set(orphans()) - (before or set())))
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    for pid in left:  # clean up (by pid) so one failure does not spill into the next test
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert not left, f"processes left running: {left}"


def record_row(o: Outcome) -> None:
    counts: dict[str, int] = {}
    for root in o.roots:
        for st in o.statuses(root).values():
            counts[st] = counts.get(st, 0) + 1
    verdicts = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"
    ROWS.append({"row": o.row, "verdicts": verdicts, "rc": o.rc, "seconds": f"{o.seconds:.1f}"})


Trigger = Callable[[str, Path], bool]


def run_harness(row: str, args: list[str], base: Path, *, timeout: float = 120.0,
                when: Trigger | None = None, sig: int = signal.SIGTERM,
                env: dict[str, str] | None = None, action: Callable[[Path], None] | None = None,
                file_limit: int | None = None) -> Outcome:
    """Run `harness ARGS --results BASE` as a real process.  With WHEN: once
    WHEN(stdout so far, BASE) holds, send SIG to the harness (or call ACTION(BASE))."""
    base.mkdir(parents=True, exist_ok=True)
    out_f, err_f = base.parent / f"{base.name}.stdout", base.parent / f"{base.name}.stderr"
    cmd = [sys.executable, "-m", "harness", *args, "--results", str(base)] if args and args[0] == "run" else \
        [sys.executable, "-m", "harness", *args]
    def limit() -> None:  # ulimit -f: the disk "fills" at FILE_LIMIT bytes per file
        if file_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, file_limit))

    before = set(orphans())
    t0 = time.monotonic()
    with open(out_f, "w") as out, open(err_f, "w") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=REPO, env={**os.environ, **(env or {})},
                                preexec_fn=limit)
        try:
            if when is not None:
                while proc.poll() is None and not when(out_f.read_text(), base):
                    if time.monotonic() - t0 > timeout / 2:
                        raise subprocess.TimeoutExpired(cmd, timeout / 2)  # the moment never came
                    time.sleep(0.05)
                if proc.poll() is None:
                    if action is not None:
                        action(base)
                    else:
                        proc.send_signal(sig)
            proc.wait(timeout=max(1.0, timeout - (time.monotonic() - t0)))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            pytest.fail(f"{row}: harness did not end (or reach its trigger) within {timeout}s")
    seconds = time.monotonic() - t0
    roots = sorted(p for p in base.iterdir() if p.is_dir() and p.name != "model")
    return Outcome(row, proc.returncode, out_f.read_text(), err_f.read_text(), seconds, base, roots, before)


def console_has(text: str) -> Trigger:
    """True once some console log under the results holds TEXT."""
    def check(_out: str, base: Path) -> bool:
        for log in base.rglob("console.log"):
            with contextlib.suppress(OSError):
                if text in log.read_text(errors="replace"):
                    return True
        return False
    return check


def stdout_has(text: str) -> Trigger:
    return lambda out, _base: text in out
