"""Live progress of a long run: scenarios done and left, and what each VM is doing.

On a terminal, ``rich`` draws a bar for the run and one line per VM (worker)
under the verdict lines, which scroll above it.  Anywhere else (CI logs, a
pipe) it writes plain lines: each verdict line as it comes, and at most every
HEARTBEAT seconds a ``progress:`` line (not with QUIET, which shows only the
verdicts that are not a pass), so a long run in a CI log shows where it is.  The pipeline calls::

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
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, TextIO

from rich.console import Console, RenderableType
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    ProgressColumn,
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
            elif not self.quiet and time.monotonic() - self._last_beat >= self.heartbeat:
                self.echo(self.status_line())

    def __call__(self, verdict: Verdict) -> None:
        """A Progress is also the pipeline's older callback, ``progress(verdict)``."""
        self.scenario_done(verdict.scenario, verdict)

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
                self.doing = {}  # the VM lines go; the bar stays, complete
                self._rich.refresh()
                self._rich.stop()
                self._rich = None

    def status_line(self) -> str:
        """progress: D/T scenarios done, L left; vm0: running X, vm1: ..."""
        self._last_beat = time.monotonic()
        vms = ", ".join(f"vm{n}: {what}" for n, what in sorted(self.doing.items())) if len(self.doing) > 1 else ""
        return (f"progress: {self.done}/{self.total} {self.what} done, {max(0, self.total - self.done)} left"
                + (f"; {vms}" if vms else ""))

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.finish()

    # -- rich ----------------------------------------------------------------
    def _start_rich(self, workers: int) -> None:
        console = Console(file=self.stream, force_terminal=True, highlight=False)
        self._rich = _Live(self, TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                           TimeElapsedColumn(), TimeRemainingColumn(), console=console, refresh_per_second=4)
        self._task = self._rich.add_task(self.what, total=self.total)
        self._rich.start()


class _Live(RichProgress):
    """rich's progress bar with one line per VM under it (when there is more than one)."""

    def __init__(self, owner: Progress, *columns: ProgressColumn, **kw: Any) -> None:
        self.owner = owner  # before rich's __init__: it renders once
        super().__init__(*columns, **kw)

    def get_renderables(self) -> Iterable[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        if len(self.owner.doing) > 1:
            for n, what in sorted(self.owner.doing.items()):
                yield Text(f"  vm{n}: {what}", overflow="ellipsis", no_wrap=True)
