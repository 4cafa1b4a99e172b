"""The results directory of a run: nothing is lost, even when interrupted.

Layout (one directory per run)::

    RESULTS/RUN-ID/
        command.txt         the harness command line
        qemu-command.txt    the exact QEMU command line(s)
        versions.json       harness, python, qemu versions
        console.log         the whole guest console, appended as it arrives
        ARCH/NAME.model.jsonl, ARCH/NAME.guest.jsonl, ARCH/NAME.diff.txt, ARCH/NAME.diff.html
        ARCH/NAME.ktrace.txt, ARCH/NAME.ktrace.json   with --ktrace: the kernel's own syscall
                            trace (raw) and parsed, with the cross-check (harness.trace.ktrace)
        verdicts.jsonl      the journal: one verdict per line, appended and flushed as each
                            scenario ends (a run killed with SIGKILL still has them), fsync'd
                            every FSYNC_INTERVAL and at the end
        summary.json        the run (harness.report.result.RunResult.to_json): written when
                            the run starts, when it ends and when it is interrupted
        junit.xml           the same run as JUnit (harness.report.junit), written with it

The summary is written a constant number of times per run, the journal one
line per verdict: a run is linear in its scenarios.  Two runs started in the
same second get distinct directories (mkdir is the atomic test), and every
file is written under a temporary name of its own (harness.files).
"""

from __future__ import annotations

import errno
import itertools
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from harness import __version__
from harness.errors import InputError, WriteError
from harness.files import write_atomic, write_error
from harness.report.formats import run_format, run_formats
from harness.report.result import Command, MetaView, RunResult, Verdict

JOURNAL = "verdicts.jsonl"
SUMMARY = "summary.json"
# The journal is flushed after every verdict and fsync'd at most this often (and at
# the end): a host crash loses at most this much; an fsync per verdict cost ~4 ms.
FSYNC_INTERVAL = 0.5

# a full or failing disk is the host's fault (exit 3); any other reason a results
# directory cannot be made is the path the user gave (exit 2)
_HOST_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO}


def _qemu_version(binary: str) -> str:
    path = shutil.which(binary)
    if not path:
        return "absent"
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.splitlines()[0] if out else "unknown"


def _mkdir_unique(base: Path, name: str) -> Path:
    """BASE/NAME, or NAME-2, NAME-3...: the first that this process creates itself."""
    for n in itertools.count(1):
        root = base / (name if n == 1 else f"{name}-{n}")
        try:
            root.mkdir()
            return root
        except FileExistsError:
            continue
    raise AssertionError("unreachable")


@run_format(SUMMARY)
def summary_json(run: RunResult) -> str:
    return json.dumps(run.to_json(), indent=2) + "\n"


@dataclass
class ResultsDir:
    root: Path
    run: RunResult = field(default_factory=lambda: RunResult(Command.RUN))
    _journal: IO[str] | None = field(default=None, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _closed: bool = field(default=False, repr=False)
    _synced: float = field(default=0.0, repr=False)  # monotonic time of the journal's last fsync
    # the first write that failed (disk full): the run goes on, finish() reports it
    write_failure: WriteError | None = None

    @classmethod
    def create(cls, base: str | Path, label: str, command: Command = Command.RUN) -> ResultsDir:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = Path(base).resolve()  # QEMU runs in a sub-directory: paths must not be relative
        try:
            base.mkdir(parents=True, exist_ok=True)
            root = _mkdir_unique(base, f"{stamp}-{label}")
        except OSError as e:
            if e.errno in _HOST_ERRNOS:
                raise write_error(base, e) from None
            raise InputError(f"results directory {base}: cannot create it: {e.strerror or e}") from None
        rd = cls(root, RunResult(command, run_id=root.name))
        write_atomic(root / "command.txt", " ".join(sys.argv) + "\n")
        try:
            rd._journal = (root / JOURNAL).open("a", encoding="utf-8")
        except OSError as e:
            raise write_error(root / JOURNAL, e) from None
        rd.write_summary()
        return rd

    # -- compatibility of the fields the pipeline sets ------------------------
    @property
    def verdicts(self) -> list[Verdict]:
        return self.run.verdicts

    @property
    def started(self) -> float:
        return self.run.started

    @property
    def meta(self) -> MetaView:
        """summary.json's meta, read and written through to the run's fields."""
        return self.run.meta

    @meta.setter
    def meta(self, value: Mapping[str, Any]) -> None:
        self.run.set_meta(value)

    @property
    def run_id(self) -> str:
        return self.run.run_id

    @run_id.setter
    def run_id(self, value: str) -> None:
        self.run.run_id = value

    @property
    def shard(self) -> dict[str, Any] | None:
        return self.run.shard

    @shard.setter
    def shard(self, value: dict[str, Any] | None) -> None:
        self.run.shard = value

    def expected(self) -> int | None:
        """The scenario runs planned (meta "scenarios"), when known."""
        return self.run.scenarios

    # -- files ----------------------------------------------------------------
    def path(self, *parts: str) -> Path:
        p = self.root.joinpath(*parts)
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise write_error(p.parent, e) from None
        return p

    def write_text(self, relpath: str, text: str) -> Path:
        """ROOT/RELPATH holds TEXT (atomically; WriteError when the disk refuses)."""
        p = self.path(relpath)
        write_atomic(p, text)
        return p

    def console_log(self, worker: int) -> Path:
        """Where worker N's whole console goes: console.log for the first, console-N.log after."""
        return self.path("console.log") if worker == 0 else self.path(f"console-{worker}.log")

    def write_versions(self, qemu_binaries: list[str]) -> None:
        versions = {
            "harness": __version__,
            "python": platform.python_version(),
            "platform": platform.platform(),
            **{b: _qemu_version(b) for b in qemu_binaries},
        }
        self.write_text("versions.json", json.dumps(versions, indent=2) + "\n")

    # -- verdicts ----------------------------------------------------------------
    def add(self, verdict: Verdict) -> None:
        """Keep VERDICT and append it to the journal (one line, fsync'd).  Never raises:
        a failed write is kept in write_failure and reported by finish()."""
        with self._lock:
            self.run.verdicts.append(verdict)
            if self._journal is None or self.write_failure is not None:
                return
            try:
                self._journal.write(json.dumps(verdict.to_json()) + "\n")
                self._journal.flush()  # in the kernel: survives the harness being killed
                now = time.monotonic()
                if now - self._synced >= FSYNC_INTERVAL:  # on the disk: survives the host, to a bound
                    os.fsync(self._journal.fileno())
                    self._synced = now
            except OSError as e:
                self.write_failure = write_error(self.root / JOURNAL, e)

    def write_summary(self, finished: bool = False, *, interrupted: bool = False,
                      exit_code: int | None = None) -> None:
        """Write every run format (summary.json) as the run stands.  With FINISHED,
        INTERRUPTED or an EXIT_CODE (a run stopped by an error) it is the final one:
        finish()."""
        if finished or interrupted or exit_code is not None:
            self.finish(interrupted, exit_code, completed=finished)
            return
        with self._lock:
            for fmt in run_formats():
                write_atomic(self.root / fmt.filename, fmt.render(self.run))

    def finish(self, interrupted: bool = False, exit_code: int | None = None,
               completed: bool | None = None) -> int:
        """End the run: the final summary, once (later calls change nothing).  INTERRUPTED
        with the signal's EXIT_CODE (130 SIGINT, 143 SIGTERM, 129 SIGHUP); an EXIT_CODE
        alone: a run an error stopped.  Returns the run's exit code; raises WriteError
        when the results could not all be written."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self.run.finish(interrupted, exit_code, completed)
                self._close_journal()
                try:
                    self.write_summary()
                except WriteError as e:
                    self.write_failure = self.write_failure or e
            if self.write_failure is not None:
                raise self.write_failure
            return self.run.exit_code

    def _close_journal(self) -> None:
        if self._journal is not None:
            try:
                self._journal.flush()
                os.fsync(self._journal.fileno())
                self._journal.close()
            except OSError as e:
                self.write_failure = self.write_failure or write_error(self.root / JOURNAL, e)
            self._journal = None


def read_results(root: Path) -> RunResult:
    """The run in results directory ROOT.  A run that never wrote its final summary
    (killed) has its verdicts from the journal; a torn last line is dropped."""
    try:
        run = RunResult.from_json(json.loads((root / SUMMARY).read_text(encoding="utf-8")))
    except (OSError, ValueError) as e:
        raise InputError(f"{root / SUMMARY}: not a readable summary: {e}") from None
    if run.ended:
        return run
    journal = root / JOURNAL
    verdicts = []
    if journal.exists():
        for line in journal.read_text(encoding="utf-8").splitlines():
            try:
                verdicts.append(Verdict.from_json(json.loads(line)))
            except (ValueError, TypeError, KeyError):
                break  # the line being written when the process died
    if len(verdicts) > len(run.verdicts):
        run.verdicts = verdicts
    return run


__all__ = ["JOURNAL", "SUMMARY", "ResultsDir", "read_results"]
