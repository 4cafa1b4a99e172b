"""From run verdicts to night verdicts: baseline, retries and the previous night."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from harness.errors import ExitCode
from harness.nightly.baseline import Baseline, Known
from harness.nightly.outcome import CellResult, CellState, NightVerdict, Outcome, Trend, failing
from harness.report.result import Status

FAILING_VERDICTS = (NightVerdict.NEW.value, NightVerdict.KNOWN.value)


@dataclass
class BaselineReport:
    stale: list[Known] = field(default_factory=list)  # explained nothing tonight: fixed? remove it
    expired: list[Known] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"stale": [k.to_json() for k in self.stale], "expired": [k.to_json() for k in self.expired]}


def classify(cells: list[CellResult], baseline: Baseline, previous: dict[tuple[str, str], str],
             flaky_fails: bool, today: datetime.date) -> BaselineReport:
    """Set each outcome's verdict, known entry and trend (PREVIOUS: (cell, scenario) -> verdict)."""
    used: set[int] = set()
    for cell in cells:
        if cell.state == CellState.NOT_RUN.value:
            continue  # its outcomes stay not-run
        for o in cell.outcomes:
            o.verdict = _verdict(o, baseline, flaky_fails, used)
            o.trend = trend(o.verdict, previous.get((o.cell, o.scenario)))
    return BaselineReport(
        stale=[k for i, k in enumerate(baseline.entries) if i not in used],
        expired=[k for k in baseline.entries if k.expired(today)],
    )


def _verdict(o: Outcome, baseline: Baseline, flaky_fails: bool, used: set[int]) -> str:
    if o.status == Status.INFRA_ERROR.value:
        return NightVerdict.INFRA.value
    if o.status == Status.PASS.value and not o.flaky:
        return NightVerdict.PASS.value
    if o.flaky and not flaky_fails:
        return NightVerdict.FLAKY.value
    assert failing(o.status) or o.flaky
    first = next((a for a in o.attempts if failing(a.status)), None)
    known = baseline.explain(o.cell, o.scenario, first.summary if first else o.summary)
    if known is not None:
        used.add(baseline.entries.index(known))
        o.known = known.to_json()
        return NightVerdict.KNOWN.value
    return NightVerdict.NEW.value  # a consistent failure, or a flaky one with --flaky-fails


def trend(tonight: str, last: str | None) -> str:
    if tonight == NightVerdict.FLAKY.value:
        return Trend.FLAKY.value
    if tonight in FAILING_VERDICTS:
        return Trend.STILL_FAILING.value if last in FAILING_VERDICTS else Trend.NEW.value
    if tonight == NightVerdict.PASS.value:
        return Trend.FIXED.value if last in FAILING_VERDICTS else Trend.PASSING.value
    return Trend.NONE.value


def exit_code(cells: list[CellResult], flaky_fails: bool) -> int:
    """1 a new divergence or crash, else 3 an infrastructure problem, else 0."""
    verdicts = {o.verdict for c in cells for o in c.outcomes}
    if NightVerdict.NEW.value in verdicts:
        return ExitCode.DIVERGED
    if any(c.state == CellState.INFRA.value for c in cells) or NightVerdict.INFRA.value in verdicts:
        return ExitCode.INFRA
    return ExitCode.OK
