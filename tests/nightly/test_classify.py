"""Baseline matching, flaky and trends, on outcomes made by hand (no runs)."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from harness.nightly.baseline import Baseline, load_baseline
from harness.nightly.classify import classify, trend
from harness.nightly.outcome import Attempt, CellResult, Outcome

TODAY = datetime.date(2026, 12, 1)


def _outcome(cell: str, scenario: str, *attempts: tuple[str, str]) -> Outcome:
    status, summary = attempts[0]
    return Outcome(cell, scenario, ["rfork"], status, summary, attempts=[Attempt(s, m) for s, m in attempts])


def _baseline(tmp_path: Path, text: str) -> Baseline:
    p = tmp_path / "b.toml"
    p.write_text(text)
    return load_baseline(p)


def test_globs_signature_text_and_regex(tmp_path: Path) -> None:
    b = _baseline(tmp_path, """
[[known]]
scenario = "rfork-*"
cell = "current-*"
reason = "text"
signature = "err: model"

[[known]]
scenario = "exec-?"
cell = "*"
reason = "regex"
signature = 're:^step \\d+, process main'
until = 2026-11-30
""")
    outs = [_outcome("current-amd64", "rfork-x", ("diverged", "step 3, err: model 'a', guest 'b'")),
            _outcome("seed-amd64", "rfork-x", ("diverged", "step 3, err: model 'a', guest 'b'")),  # cell glob misses
            _outcome("current-amd64", "rfork-y", ("diverged", "step 3, ret: model 1, guest 2")),  # other divergence
            _outcome("seed-amd64", "exec-1", ("guest-crash", "step 12, process main, record 4")),
            _outcome("seed-amd64", "exec-22", ("guest-crash", "step 12, process main"))]
    report = classify([CellResult("x", "done", outcomes=outs)], b, {}, False, TODAY)
    assert [o.verdict for o in outs] == ["known", "new", "new", "known", "new"]
    assert outs[0].known is not None and outs[0].known["reason"] == "text"
    assert outs[3].known is not None and outs[3].known["reason"] == "regex"
    assert report.stale == [] and [k.reason for k in report.expired] == ["regex"]


def test_flaky_and_flaky_fails(tmp_path: Path) -> None:
    def outs() -> list[Outcome]:
        return [_outcome("c", "a", ("diverged", "x"), ("pass", "")),
                _outcome("c", "b", ("diverged", "x"), ("diverged", "y")),  # a different divergence: flaky
                _outcome("c", "d", ("diverged", "x"), ("diverged", "x"))]
    o = outs()
    classify([CellResult("c", "done", outcomes=o)], load_baseline(None), {}, False, TODAY)
    assert [x.verdict for x in o] == ["flaky", "flaky", "new"]
    o = outs()
    classify([CellResult("c", "done", outcomes=o)], load_baseline(None), {}, True, TODAY)
    assert [x.verdict for x in o] == ["new", "new", "new"]


@pytest.mark.parametrize(("tonight", "last", "want"), [
    ("new", None, "new"), ("known", None, "new"), ("new", "pass", "new"), ("new", "known", "still-failing"),
    ("known", "new", "still-failing"), ("pass", "new", "fixed"), ("pass", "flaky", "passing"),
    ("pass", None, "passing"), ("flaky", "new", "flaky"), ("infra", "new", "none"), ("not-run", "pass", "none"),
])
def test_trend(tonight: str, last: str | None, want: str) -> None:
    assert trend(tonight, last) == want


def test_previous_night_gives_the_trend(tmp_path: Path) -> None:
    o = [_outcome("c", "a", ("pass", "")), _outcome("c", "b", ("diverged", "x"))]
    classify([CellResult("c", "done", outcomes=o)], load_baseline(None), {("c", "a"): "new", ("c", "b"): "new"},
             False, TODAY)
    assert [x.trend for x in o] == ["fixed", "still-failing"]
