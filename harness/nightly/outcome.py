"""What a night says about each scenario in each cell, and about each cell.

The run verdict (harness.report.result.Status) is what the kernel did; the night
verdict is what that means tonight, given the baseline and the retries; the
trend is how it compares with the previous night in the history.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.report.result import Status


class NightVerdict(enum.StrEnum):
    PASS = "pass"
    NEW = "new"  # a divergence or kernel crash the baseline does not explain: fails the night
    KNOWN = "known"  # explained by a baseline entry
    FLAKY = "flaky"  # retries disagreed
    INFRA = "infra"  # the harness could not get a kernel verdict
    NOT_RUN = "not-run"  # the night was interrupted before this cell finished


def failing(status: str) -> bool:
    """A kernel verdict against the kernel (diverged, guest-crash, boot-crash, ...): not a pass,
    and not the harness's own failure."""
    return status not in (Status.PASS.value, Status.INFRA_ERROR.value, NightVerdict.NOT_RUN.value)


class Trend(enum.StrEnum):
    NEW = "new"  # failing tonight, not last night (or no previous night)
    STILL_FAILING = "still-failing"
    FIXED = "fixed"  # failing last night, passing tonight
    FLAKY = "flaky"
    PASSING = "passing"
    NONE = "none"  # no kernel verdict tonight


class CellState(enum.StrEnum):
    DONE = "done"
    INFRA = "infra"  # the cell could not run at all
    NOT_RUN = "not-run"


@dataclass
class Attempt:
    status: str  # a Status value
    summary: str
    run_dir: str = ""  # relative to the night directory

    def key(self) -> tuple[str, str]:
        return self.status, self.summary


@dataclass
class Outcome:
    cell: str
    scenario: str
    covers: list[str]
    status: str  # of the first attempt
    summary: str = ""  # the first divergence, the crash or the infra failure, one line
    detail: str = ""  # the rendered diff or console tail
    attempts: list[Attempt] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # relative to the night directory
    seconds: float = 0.0
    verdict: str = NightVerdict.NOT_RUN.value
    trend: str = Trend.NONE.value
    known: dict[str, Any] | None = None

    @property
    def flaky(self) -> bool:
        return len({a.key() for a in self.attempts}) > 1

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Outcome:
        d = dict(d)
        d["attempts"] = [Attempt(**a) for a in d.get("attempts", [])]
        return cls(**d)


@dataclass
class CellResult:
    name: str
    state: str  # a CellState value
    message: str = ""  # why a cell could not run
    exit_code: int | None = None  # of its first `harness run`
    run_dir: str = ""  # relative to the night directory
    log: str = ""  # the `harness run` output, relative to the night directory
    seconds: float = 0.0
    started: str = ""  # ISO time the cell started
    outcomes: list[Outcome] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> CellResult:
        d = dict(d)
        d["outcomes"] = [Outcome.from_json(o) for o in d.get("outcomes", [])]
        return cls(**d)
