"""Check a trace against the expectations a scenario records.

Expectations carry what real kernels did (shared/observations/probes) so the
model is held to them.  A value is matched exactly, except:

* the patterns of harness/scenario/patterns.py: "any", comparisons
  (">0", "==$fd"), shell-style globs, one_of / not / re / same_as;
* ``ran: false``: the step must leave no record (it must not run);
* ``notes: [P, ...]``: the notes the agent's handler recorded at this step
  (note records carry the step they interrupted), in order, one pattern each;
  ``notes: []``: none;
* out.segments is compared in /proc/N/segment's shape, as the probes print it:
  ``Stack 7ffffefff000 7ffffffff000 1 | Text R 200000 400000 2 | ...``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.scenario.compiler import Scenario
from harness.scenario.patterns import matches
from harness.trace.schema import Record

RAN = "ran"  # expect: {ran: false}: the step must not run
NOTES = "notes"  # expect: {notes: [...]}: the note records of the step
STEP_LIMIT_HUNG = "step-limit"  # out.hung of a run the model cut short (harness/model/agent.py)

@dataclass
class Mismatch:
    scenario: str
    step: int
    line: int
    field: str
    expected: Any
    got: Any

    def __str__(self) -> str:
        return (f"{self.scenario} step {self.step} (line {self.line}): {self.field}: "
                f"expected {_short(self.expected)}, got {_short(self.got)}")


SHOWN = 200  # characters of a value a mismatch line shows (a 16 MiB out value is cut)


def _short(v: Any) -> str:
    text = repr(v)
    if len(text) <= SHOWN:
        return text
    return f"{text[:SHOWN - 40]}...({len(text)} characters)"


def render_segments(segs: Any) -> Any:
    if not isinstance(segs, list):
        return segs
    parts = []
    for seg in segs:
        name, flags, base, top, ref = seg
        flag = f" {flags}" if flags else ""
        parts.append(f"{name}{flag} {base:x} {top:x} {ref}")
    return " | ".join(parts)


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
    lookup = _lookup(scenario, by_step)
    notes: dict[tuple[str, int], list[Any]] = {}
    for r in records:
        if r.kind == "note":
            notes.setdefault((r.proc, r.step), []).append(r.out.get("note"))
    for exp in scenario.expects:
        wanted = exp.for_run(arch, profile)
        recs = by_step.get(exp.step, [])
        ran = wanted.pop(RAN, True)
        if not ran:
            if recs:
                out.append(Mismatch(scenario.name, exp.step, exp.line, RAN, False, True))
            continue
        if not recs:
            out.append(Mismatch(scenario.name, exp.step, exp.line, "record", "present", "step never ran"))
            continue
        rec = recs[0]
        for fname, want in wanted.items():
            if fname == NOTES:
                got_notes = notes.get((rec.proc, exp.step), [])
                if len(got_notes) != len(want) or not all(
                        matches(w, g, "out.note", lookup) for w, g in zip(want, got_notes, strict=False)):
                    out.append(Mismatch(scenario.name, exp.step, exp.line, fname, want, got_notes))
                continue
            got = _field(rec, fname)
            if not matches(want, got, fname, lookup):
                out.append(Mismatch(scenario.name, exp.step, exp.line, fname, want, got))
    return out


def _lookup(scenario: Scenario, by_step: dict[int, list[Record]]) -> Callable[[str, str], Any]:
    def lookup(label: str, fname: str) -> Any:
        recs = by_step.get(scenario.labels.get(label, -1), [])
        return _field(recs[0], fname) if recs else "<never ran>"

    return lookup
