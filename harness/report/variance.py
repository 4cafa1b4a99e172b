"""What really varies: the model's nondet masks against N guest runs of one kernel.

``harness run --repeat N`` runs every scenario N times on the same booted
guests, each run from the same snapshot.  Per record (proc, seq) and field
(``ret``, ``err``, ``out.KEY``, or a masked slice ``out.KEY[A:B]``) of the
guest traces, normalised by the pattern rules only (pc, times, pids, ...: what
never depends on the model), each field is one of:

``masked-never-varied``
    the model masks it (its ``nondet``) and it took one value in all N runs:
    a candidate for a smaller mask (N runs prove nothing; the kernel source decides).
``compared-varied``
    the model compares it and it differed between runs: a model bug, the
    field is nondeterministic (or the record is there in some runs only).
``masked-varied``
    masked, and rightly: it varied.

Every run starts from the same snapshot, so whatever follows the pids (their
digits: where a 63-byte cut falls) is the same in every run: N runs cannot
show it varying, though it does between boots.

Only runs that completed (no crash, no transport failure) are compared; the
others are listed as excluded.  Output: repeat.json and repeat.txt in the
results directory (``write``), and a few summary lines (``summary_lines``).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.files import write_atomic
from harness.trace.normalise import MARKER, NRecord, normalise
from harness.trace.schema import Record, Trace, read_trace

ABSENT = "<absent>"  # a field or record one run has and another has not
RECORD = "record"  # the path that stands for a whole record's presence
MAX_VALUES = 4  # distinct values kept per field in the report
_SLICE_RE = re.compile(r"^(?P<path>[^\[]+)\[(?P<a>[0-9]+):(?P<b>[0-9]+)\]$")


class Category(enum.StrEnum):
    MASKED_NEVER_VARIED = "masked-never-varied"
    COMPARED_VARIED = "compared-varied"
    MASKED_VARIED = "masked-varied"


@dataclass(frozen=True)
class FieldVariance:
    scenario: str
    proc: str
    seq: int
    step: int
    op: str
    path: str
    category: Category
    values: list[str]  # distinct values seen (JSON), at most MAX_VALUES

    def line(self) -> str:
        vals = " | ".join(v[:60] for v in self.values)
        return f"{self.scenario}: {self.proc}#{self.seq} step {self.step} {self.op} {self.path}: {vals}"


@dataclass
class ScenarioVariance:
    scenario: str
    runs: int  # completed runs compared
    excluded: list[str] = field(default_factory=list)  # "run K: why"
    fields: list[FieldVariance] = field(default_factory=list)

    def of(self, cat: Category) -> list[FieldVariance]:
        return [f for f in self.fields if f.category is cat]


@dataclass
class VarianceReport:
    repeat: int
    scenarios: list[ScenarioVariance]

    def of(self, cat: Category) -> list[FieldVariance]:
        return [f for s in self.scenarios if s.runs >= 2 for f in s.of(cat)]

    def counts(self) -> dict[str, int]:
        return {c.value: len(self.of(c)) for c in Category}

    def to_json(self) -> dict[str, Any]:
        return {"repeat": self.repeat, "counts": self.counts(),
                "scenarios": [{"scenario": s.scenario, "runs": s.runs, "excluded": s.excluded,
                               "fields": [asdict(f) for f in s.fields]} for s in self.scenarios]}


def _dump(v: Any) -> str:
    return v if v is ABSENT else json.dumps(v, sort_keys=True)


def _masks(records: Iterable[Record]) -> dict[tuple[str, int], set[str]]:
    out: dict[tuple[str, int], set[str]] = {}
    for r in records:
        out.setdefault((r.proc, r.seq), set()).update(n for n in r.nondet if not n.startswith(MARKER))
    return out


def _value(rec: Record | None, path: str) -> Any:
    if rec is None:
        return ABSENT
    m = _SLICE_RE.match(path)
    base = m["path"] if m else path
    head, _, key = base.partition(".")
    v: Any = getattr(rec, head) if not key else rec.out.get(key, ABSENT)
    if m and isinstance(v, str):
        return v[int(m["a"]):int(m["b"])]
    return v


def _blank_slices(v: Any, slices: list[tuple[int, int]]) -> Any:
    """The compared part of a field the model masks in slices only."""
    if not isinstance(v, str):
        return v
    for a, b in slices:
        v = v[:a] + "?" * max(0, min(b, len(v)) - a) + v[b:]
    return v


def analyse(scenario: str, model: Trace, guests: list[Trace], excluded: list[str] | None = None) -> ScenarioVariance:
    """Each field of GUESTS (completed runs of SCENARIO) against MODEL's masks."""
    sv = ScenarioVariance(scenario, len(guests), list(excluded or []))
    if len(guests) < 2:
        return sv
    masks = _masks(model.records)
    runs: list[dict[tuple[str, int], NRecord]] = []
    for g in guests:
        for key, nd in _masks(g.records).items():  # the diff masks either side's nondet
            masks.setdefault(key, set()).update(nd)
        bare = [dataclasses.replace(r, nondet=[]) for r in g.records]  # the pattern rules alone
        runs.append({(n.original.proc, n.original.seq): n for n in normalise(bare, g.header).items})
    keys = sorted({k for run in runs for k in run}, key=lambda k: (k[0] != "main", k[0], k[1]))
    for key in keys:
        recs = [run[key].record if key in run else None for run in runs]
        # a field a pattern rule masks (nsec's value, ...) is masked whatever the model says
        ruled = {p for run in runs if key in run for p in run[key].masked}
        sv.fields.extend(_record_fields(scenario, key, recs, masks.get(key, set()), ruled))
    return sv


def _record_fields(scenario: str, key: tuple[str, int], recs: list[Record | None],
                   masked: set[str], ruled: set[str]) -> list[FieldVariance]:
    first = next(r for r in recs if r is not None)

    def fv(path: str, cat: Category, values: list[str]) -> FieldVariance:
        return FieldVariance(scenario, key[0], key[1], first.step, first.op, path, cat, values[:MAX_VALUES])

    if any(r is None or r.op != first.op for r in recs):
        seen = list(dict.fromkeys(ABSENT if r is None else r.op for r in recs))
        return [fv(RECORD, Category.COMPARED_VARIED, seen)]
    present = [r for r in recs if r is not None]
    paths = list(dict.fromkeys(["ret", "err"] + [f"out.{k}" for r in present for k in r.out]))
    if "out" in masked:
        masked = (masked - {"out"}) | {p for p in paths if p.startswith("out.")}
    slices: dict[str, list[tuple[int, int]]] = {}
    for m in masked:
        sm = _SLICE_RE.match(m)
        if sm:
            slices.setdefault(sm["path"], []).append((int(sm["a"]), int(sm["b"])))
    out = []
    for path in paths + sorted(m for m in masked if _SLICE_RE.match(m)):
        if path in ruled:
            continue
        values = [_value(r, path) for r in present]
        if path in slices:
            values = [_blank_slices(v, slices[path]) for v in values]
        distinct = list(dict.fromkeys(_dump(v) for v in values))
        is_masked = path in masked
        if is_masked and len(distinct) == 1 and values[0] is ABSENT and not _SLICE_RE.match(path):
            continue  # a mask of a field no run has: nothing to say
        if is_masked:
            out.append(fv(path, Category.MASKED_VARIED if len(distinct) > 1 else Category.MASKED_NEVER_VARIED,
                          distinct))
        elif len(distinct) > 1:
            out.append(fv(path, Category.COMPARED_VARIED, distinct))
    return out


def _usable(t: Trace) -> str | None:
    """Why a guest trace is not a completed run (None: it is)."""
    meta = t.header.meta if t.header else {}
    if meta.get("crash"):
        return f"crashed: {str(meta['crash'])[:80]}"
    if meta.get("status") is None:
        return "the agent command never completed"
    if not t.records:
        return "no records"
    return None


def from_results(root: Path, arch: str, scenarios: list[str], repeat: int) -> VarianceReport:
    """The report over a results directory's traces: ARCH/NAME.{model,guest}.jsonl and
    ARCH/NAME.repK.guest.jsonl (K = 1 .. REPEAT-1, harness.run.pipeline.judge)."""
    out = []
    for name in scenarios:
        model_path = root / arch / f"{name}.model.jsonl"
        guests, excluded = [], []
        for k in range(repeat):
            p = root / arch / (f"{name}.guest.jsonl" if k == 0 else f"{name}.rep{k}.guest.jsonl")
            if not p.is_file():
                excluded.append(f"run {k + 1}: no guest trace")
                continue
            t = read_trace(p)
            why = _usable(t)
            if why:
                excluded.append(f"run {k + 1}: {why}")
            else:
                guests.append(t)
        if not model_path.is_file():
            out.append(ScenarioVariance(name, 0, excluded + ["no model trace"]))
            continue
        out.append(analyse(name, read_trace(model_path), guests, excluded))
    return VarianceReport(repeat, out)


def render_text(rep: VarianceReport) -> str:
    c = rep.counts()
    lines = [f"Nondeterminism over {rep.repeat} runs of each scenario (guest traces after normalisation; "
             "SIMULATED kernels say so in summary.json)",
             f"  masked but never varied: {c[Category.MASKED_NEVER_VARIED]} field(s)"
             f"  compared but varied: {c[Category.COMPARED_VARIED]}  masked and varied: {c[Category.MASKED_VARIED]}"]
    short = [s for s in rep.scenarios if s.runs < 2]
    if short:
        lines.append(f"  not analysed (fewer than 2 completed runs): {len(short)}")
        lines += [f"    {s.scenario}: {'; '.join(s.excluded) or 'no runs'}" for s in short]
    for cat, title in ((Category.COMPARED_VARIED, "compared but varied (a model bug: the field is nondeterministic)"),
                       (Category.MASKED_NEVER_VARIED, "masked but never varied (shrink the mask if the kernel "
                                                      "source says it cannot vary)"),
                       (Category.MASKED_VARIED, "masked and varied")):
        fields = rep.of(cat)
        lines.append(f"\n{title}: {len(fields)}")
        lines += [f"  {f.line()}" for f in fields]
    partial = [s for s in rep.scenarios if s.runs >= 2 and s.excluded]
    if partial:
        lines.append("\nruns left out of the comparison:")
        lines += [f"  {s.scenario}: {'; '.join(s.excluded)}" for s in partial]
    return "\n".join(lines) + "\n"


def summary_lines(rep: VarianceReport) -> list[str]:
    c = rep.counts()
    return [f"repeat: {rep.repeat} runs each; masked but never varied {c[Category.MASKED_NEVER_VARIED]}, "
            f"compared but varied {c[Category.COMPARED_VARIED]}, masked and varied {c[Category.MASKED_VARIED]}"] + [
        f"  varied, not masked: {f.line()}" for f in rep.of(Category.COMPARED_VARIED)[:10]]


def write(root: Path, rep: VarianceReport) -> None:
    write_atomic(root / "repeat.json", json.dumps(rep.to_json(), indent=1) + "\n")
    write_atomic(root / "repeat.txt", render_text(rep))
