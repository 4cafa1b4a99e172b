"""Report formats register themselves: a new format is one new module in harness/report.

Two kinds, each a function from a result to the text of one file:

- a diff format renders one scenario's ``DiffResult`` into ``ARCH/NAME.SUFFIX``
  of the results directory (text, HTML); its ``key`` names the file in the
  verdict's ``files``;
- a run format renders the whole ``RunResult`` into ``FILENAME`` at the top of
  the results directory (summary.json), written at the start, the end and on
  interruption of a run.

A module registers with the ``@diff_format`` / ``@run_format`` decorators.
``diff_formats()`` and ``run_formats()`` import every module of this package
once (``pkgutil``), as syzkaller's backends register on import, so nothing else
lists them.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from harness.report.result import RunResult
    from harness.trace.diff import DiffResult

DiffRender = Callable[["DiffResult"], str]
RunRender = Callable[["RunResult"], str]
D = TypeVar("D", bound=DiffRender)
R = TypeVar("R", bound=RunRender)


@dataclass(frozen=True)
class DiffFormat:
    key: str  # Verdict.files key ("diff", "diff_html")
    suffix: str  # the file is BASE + suffix
    render: DiffRender


@dataclass(frozen=True)
class RunFormat:
    filename: str
    render: RunRender


_DIFF: dict[str, DiffFormat] = {}
_RUN: dict[str, RunFormat] = {}
_loaded = False


def diff_format(key: str, suffix: str) -> Callable[[D], D]:
    def register(fn: D) -> D:
        _DIFF[key] = DiffFormat(key, suffix, fn)
        return fn

    return register


def run_format(filename: str) -> Callable[[R], R]:
    def register(fn: R) -> R:
        _RUN[filename] = RunFormat(filename, fn)
        return fn

    return register


def _load() -> None:
    global _loaded
    if _loaded:
        return
    import harness.report as package

    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{info.name}")
    _loaded = True


def diff_formats() -> list[DiffFormat]:
    _load()
    return sorted(_DIFF.values(), key=lambda f: f.key)


def run_formats() -> list[RunFormat]:
    _load()
    return sorted(_RUN.values(), key=lambda f: f.filename)
