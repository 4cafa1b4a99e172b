"""Check a trace against the expectations a scenario records.

Expectations carry what real kernels did (shared/observations/probes) so the
model is held to them.  A value is matched exactly, except:

* ret: the strings ">0", ">=0", "<0", "!=0", "!=-1" and "any";
* strings with * ? or [ are shell-style patterns (fnmatch);
* out.segments is compared in /proc/N/segment's shape, as the probes print it:
  ``Stack 7ffffefff000 7ffffffff000 1 | Text R 200000 400000 2 | ...``.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

from harness.scenario.compiler import Scenario
from harness.trace.schema import Record

STEP_LIMIT_HUNG = "step-limit"  # out.hung of a run the model cut short (harness/model/agent.py)

_RET_OPS = {
    ">0": lambda v: v > 0,
    ">=0": lambda v: v >= 0,
    "<0": lambda v: v < 0,
    "!=0": lambda v: v != 0,
    "!=-1": lambda v: v != -1,
}


@dataclass
class Mismatch:
    scenario: str
    step: int
    line: int
    field: str
    expected: Any
    got: Any

    def __str__(self) -> str:
        return f"{self.scenario} step {self.step} (line {self.line}): {self.field}: expected {self.expected!r}, got {self.got!r}"


def render_segments(segs: Any) -> Any:
    if not isinstance(segs, list):
        return segs
    parts = []
    for seg in segs:
        name, flags, base, top, ref = seg
        flag = f" {flags}" if flags else ""
        parts.append(f"{name}{flag} {base:x} {top:x} {ref}")
    return " | ".join(parts)


def _matches(expected: Any, got: Any, is_ret: bool) -> bool:
    if isinstance(expected, str):
        if is_ret and expected in _RET_OPS:
            return isinstance(got, int) and _RET_OPS[expected](got)
        if expected == "any":
            return True
        if isinstance(got, str) and any(c in expected for c in "*?["):
            return fnmatch.fnmatchcase(got, expected)
    return bool(expected == got)


def _field(rec: Record, name: str) -> Any:
    if name == "ret":
        return rec.ret
    if name == "err":
        return rec.err
    key = name[4:]
    val = rec.out.get(key, "<absent>")
    return render_segments(val) if key == "segments" else val


def check(scenario: Scenario, records: list[Record], arch: str, profile: str) -> list[Mismatch]:
    by_step: dict[int, list[Record]] = {}
    for r in records:
        # A step's own record; note records carry the step they interrupted.
        if r.kind not in ("start", "note"):
            by_step.setdefault(r.step, []).append(r)
    out: list[Mismatch] = []
    for r in records:
        # The model gave up (machine.py STEP_LIMIT): what it recorded is not a
        # verdict, so the scenario cannot pass, whatever it expects.
        if r.out.get("hung") == STEP_LIMIT_HUNG:
            line = scenario.source_lines.get(r.step, 0)
            out.append(Mismatch(scenario.name, r.step, line, "run", "an end", "the model's step limit"))
            break
    for exp in scenario.expects:
        wanted = exp.for_run(arch, profile)
        recs = by_step.get(exp.step, [])
        if not recs:
            out.append(Mismatch(scenario.name, exp.step, exp.line, "record", "present", "step never ran"))
            continue
        rec = recs[0]
        for fname, want in wanted.items():
            got = _field(rec, fname)
            if not _matches(want, got, fname == "ret"):
                out.append(Mismatch(scenario.name, exp.step, exp.line, fname, want, got))
    return out
