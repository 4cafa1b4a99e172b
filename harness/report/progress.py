"""Live progress of a long run: scenarios done and left, and what each VM is doing.

On a terminal, ``rich`` draws a bar for the run and one line per VM (worker)
under the verdict lines, which scroll above it.  Anywhere else (CI logs, a
pipe) it writes plain lines: each verdict line as it comes, and at most every
HEARTBEAT seconds a ``progress:`` line, so a long quiet run still shows it is
alive.  The pipeline calls::

    progress.start(total, workers)
    progress.worker(n, "booting")             # optional: what VM n does
    progress.scenario_started(name, n)        # optional
    progress.scenario_done(name, verdict, n)
    progress.skip()                           # optional: a planned run does not apply
    progress.finish()                         # or use it as a context manager

All methods are safe to call from the pipeline's worker threads.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgress
from rich.text import Text

from harness.report.result import Status, Verdict

# a verdict's lines, in colour or not
Render = Callable[[Verdict, bool], list[str]]


def is_terminal(stream: TextIO) -> bool:
    return stream.isatty() and os.environ.get("TERM", "") != "dumb"


class Progress:
    def __init__(self, render: Render, *, quiet: bool = False, stream: TextIO | None = None,
                 live: bool | None = None, heartbeat: float = 30.0, what: str = "scenarios") -> None:
        self.render = render
        self.quiet = quiet  # only the verdicts that are not a pass
        self.stream = stream or sys.stdout
        self.live = is_terminal(self.stream) if live is None else live
        self.heartbeat = heartbeat
        self.what = what
        self.total = 0
        self.done = 0
        self.doing: dict[int, str] = {}  # worker -> what it does
        self._lock = threading.RLock()
        self._last_beat = time.monotonic()
        self._rich: RichProgress | None = None
        self._task: TaskID | None = None
        self._vm_tasks: dict[int, TaskID] = {}

    # -- the API the pipeline calls ------------------------------------------
    def start(self, total: int, workers: int = 1) -> None:
        with self._lock:
            self.total, self.done = total, 0
            self.doing = {n: "starting" for n in range(workers)}
            self._last_beat = time.monotonic()
            if self.live:
                self._start_rich(workers)

    def worker(self, worker: int, state: str) -> None:
        with self._lock:
            self.doing[worker] = state
            self._update_vm(worker)

    def scenario_started(self, name: str, worker: int = 0) -> None:
        self.worker(worker, f"running {name}")

    def scenario_done(self, name: str, verdict: Verdict, worker: int = 0) -> None:
        with self._lock:
            self.done += 1
            self.doing[worker] = f"done {name}"
            if not (self.quiet and verdict.status is Status.PASS):
                for line in self.render(verdict, self.live):
                    self.echo(line)
            if self._rich is not None and self._task is not None:
                self._rich.update(self._task, completed=self.done)
                self._update_vm(worker)
            elif time.monotonic() - self._last_beat >= self.heartbeat:
                self.echo(self.status_line())

    def skip(self, count: int = 1) -> None:
        """COUNT planned scenario runs do not apply after all (arch, profile)."""
        with self._lock:
            self.total = max(self.done, self.total - count)
            if self._rich is not None and self._task is not None:
                self._rich.update(self._task, total=self.total)

    def echo(self, line: str) -> None:
        """A line for the user; above the live display when there is one."""
        with self._lock:
            if self._rich is not None:
                self._rich.console.print(Text.from_ansi(line), soft_wrap=True)
            else:
                self.stream.write(line + "\n")
                self.stream.flush()

    def finish(self) -> None:
        with self._lock:
            if self._rich is not None:
                for task in self._vm_tasks.values():
                    self._rich.remove_task(task)
                self._rich.stop()
                self._rich = None

    def status_line(self) -> str:
        """progress: D/T scenarios done, L left; vm0: running X, vm1: ..."""
        self._last_beat = time.monotonic()
        vms = ", ".join(f"vm{n}: {what}" for n, what in sorted(self.doing.items()))
        return (f"progress: {self.done}/{self.total} {self.what} done, {max(0, self.total - self.done)} left"
                + (f"; {vms}" if vms else ""))

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.finish()

    # -- rich ----------------------------------------------------------------
    def _start_rich(self, workers: int) -> None:
        console = Console(file=self.stream, force_terminal=True, highlight=False)
        self._rich = RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TimeElapsedColumn(), TimeRemainingColumn(), console=console,
                                  refresh_per_second=4)
        self._task = self._rich.add_task(self.what, total=self.total)
        if workers > 1:
            self._vm_tasks = {n: self._rich.add_task(f"  vm{n}: starting", total=None, start=False)
                              for n in range(workers)}
        self._rich.start()

    def _update_vm(self, worker: int) -> None:
        if self._rich is not None and worker in self._vm_tasks:
            self._rich.update(self._vm_tasks[worker], description=f"  vm{worker}: {self.doing[worker]}")
