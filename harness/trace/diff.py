"""The diff of two traces: the first divergence with context, then all of them.

How records are paired: processes run concurrently in the guest, so only the
order *within* a process means anything.  Each process's records (by ``seq``)
are aligned with the other side's on the key (step, kind, op, args) - both
sides execute the same program, so in the normal case this is exactly
pairing by (proc, seq); when one side has a record the other lacks, the
alignment reports it as missing/extra instead of shifting every later pair.

Both traces are then normalised (``harness.trace.normalise``) with the union
of the paired records' ``nondet``, and paired records are compared field by
field: step, kind, op, args, ret, err and each ``out`` key.  Masked fields
are never compared.  Divergences are ordered by scenario step, then process
(main, then sN by N), then record number: the first one is the earliest step
of the scenario where the two sides disagree.
"""

from __future__ import annotations

import difflib
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import click

from harness.trace.normalise import RULES, NormalisedTrace, NRecord, normalise, proc_order
from harness.trace.schema import Header, Record, Trace

FIELD = "field"
MISSING = "missing"  # in A, not in B
EXTRA = "extra"  # in B, not in A

COMPARED = ("step", "kind", "op", "args", "ret", "err")


@dataclass
class Pair:
    a: NRecord | None
    b: NRecord | None

    @property
    def any(self) -> NRecord:
        rec = self.a or self.b
        assert rec is not None
        return rec


@dataclass
class Divergence:
    kind: str  # FIELD, MISSING or EXTRA
    proc: str
    step: int
    op: str
    seq_a: int | None
    seq_b: int | None
    index: int  # position of the pair in DiffResult.aligned[proc]
    field: str | None = None
    a: Any = None  # normalised values (FIELD)
    b: Any = None
    raw_a: Any = None  # values before normalisation (FIELD)
    raw_b: Any = None

    def sort_key(self) -> tuple[Any, ...]:
        seq = self.seq_a if self.seq_a is not None else self.seq_b
        return (self.step, proc_order(self.proc), seq, _field_rank(self.field))

    @property
    def where(self) -> str:
        seq = self.seq_a if self.seq_a is not None else self.seq_b
        return f"step {self.step}, process {self.proc}, record {seq}, {self.op}"


@dataclass
class DiffResult:
    a_label: str
    b_label: str
    a_header: Header | None
    b_header: Header | None
    aligned: dict[str, list[Pair]]
    divergences: list[Divergence]
    notes: list[str] = field(default_factory=list)  # header differences: informative only
    masked: dict[str, dict[str, int]] = field(default_factory=dict)  # rule -> path -> count
    rewritten: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def identical(self) -> bool:
        return not self.divergences

    @property
    def first(self) -> Divergence | None:
        return self.divergences[0] if self.divergences else None

    def counts(self) -> dict[str, int]:
        out = {FIELD: 0, MISSING: 0, EXTRA: 0}
        for d in self.divergences:
            out[d.kind] += 1
        return out

    def context(self, n: int) -> list[Pair]:
        """Up to N pairs of the first divergence's process before it."""
        d = self.first
        if d is None:
            return []
        return self.aligned[d.proc][max(0, d.index - n) : d.index]


def _field_rank(name: str | None) -> tuple[int, str]:
    if name is None:
        return (-1, "")
    if name in COMPARED:
        return (COMPARED.index(name), "")
    return (len(COMPARED), name)


def _key(r: Record) -> tuple[Any, ...]:
    return (r.step, r.kind, r.op, tuple(r.args))


def _by_proc(records: Iterable[Record]) -> dict[str, list[Record]]:
    out: dict[str, list[Record]] = {}
    for r in records:
        out.setdefault(r.proc, []).append(r)
    for recs in out.values():
        recs.sort(key=lambda r: r.seq)
    return out


def align(a: list[Record], b: list[Record]) -> list[tuple[Record | None, Record | None]]:
    """Align one process's records of both sides (see the module docstring)."""
    sm = difflib.SequenceMatcher(None, [_key(r) for r in a], [_key(r) for r in b], autojunk=False)
    out: list[tuple[Record | None, Record | None]] = []
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            out += list(zip(a[i1:i2], b[j1:j2], strict=True))
            continue
        n = min(i2 - i1, j2 - j1)  # replace: pair position by position, like (proc, seq)
        out += list(zip(a[i1 : i1 + n], b[j1 : j1 + n], strict=True))
        out += [(r, None) for r in a[i1 + n : i2]]
        out += [(None, r) for r in b[j1 + n : j2]]
    return out


def diff(a: Trace, b: Trace, a_label: str = "A", b_label: str = "B") -> DiffResult:
    a_procs, b_procs = _by_proc(a.records), _by_proc(b.records)
    procs = sorted(set(a_procs) | set(b_procs), key=proc_order)
    raw_pairs = {p: align(a_procs.get(p, []), b_procs.get(p, [])) for p in procs}
    # nondet is the union over the pair: whatever one side cannot know is masked on both.
    a_extra: dict[tuple[str, int], list[str]] = {}
    b_extra: dict[tuple[str, int], list[str]] = {}
    for pairs in raw_pairs.values():
        for ra, rb in pairs:
            if ra is not None and rb is not None:
                a_extra[(ra.proc, ra.seq)] = rb.nondet
                b_extra[(rb.proc, rb.seq)] = ra.nondet
    na = normalise(a.records, a.header, a_extra)
    nb = normalise(b.records, b.header, b_extra)
    a_map = _index(na)
    b_map = _index(nb)
    result = DiffResult(a_label, b_label, a.header, b.header, {}, [])
    for p in procs:
        aligned = [Pair(a_map[(ra.proc, ra.seq)] if ra else None, b_map[(rb.proc, rb.seq)] if rb else None)
                   for ra, rb in raw_pairs[p]]
        result.aligned[p] = aligned
        for i, pair in enumerate(aligned):
            result.divergences += _compare(p, i, pair)
    result.divergences.sort(key=Divergence.sort_key)
    result.notes = _header_notes(a.header, b.header, a_label, b_label)
    _count_rules(result, na, nb)
    return result


def diff_traces(a: Trace, b: Trace) -> DiffResult:
    """diff() labelled by the traces' sources (model, guest)."""
    la, lb = a.header.source, b.header.source
    if la == lb:
        la, lb = f"A ({la})", f"B ({lb})"
    return diff(a, b, la, lb)


def _index(nt: NormalisedTrace) -> dict[tuple[str, int], NRecord]:
    return {(n.original.proc, n.original.seq): n for n in nt.items}


def _masked_paths(pair: Pair) -> set[str]:
    out: set[str] = set()
    for n in (pair.a, pair.b):
        if n is not None:
            out |= set(n.masked)
    return out


def _is_masked(path: str, masked: set[str]) -> bool:
    return any(path == m or path.startswith(m + ".") for m in masked)


def _value(rec: Record, path: str) -> Any:
    if path.startswith("out."):
        return rec.out.get(path[4:], _ABSENT)
    return getattr(rec, path)


class _Absent:
    def __repr__(self) -> str:
        return "<absent>"


_ABSENT = _Absent()


def _compare(proc: str, index: int, pair: Pair) -> list[Divergence]:
    if pair.a is None or pair.b is None:
        rec = pair.any.record
        kind = MISSING if pair.b is None else EXTRA
        seq_a = pair.a.original.seq if pair.a is not None else None
        seq_b = pair.b.original.seq if pair.b is not None else None
        return [Divergence(kind, proc, rec.step, rec.op, seq_a, seq_b, index)]
    ra, rb = pair.a.record, pair.b.record
    masked = _masked_paths(pair)
    paths = list(COMPARED) + [f"out.{k}" for k in sorted(set(ra.out) | set(rb.out))]
    out = []
    for path in paths:
        if _is_masked(path, masked):
            continue
        va, vb = _value(ra, path), _value(rb, path)
        if va != vb:
            out.append(Divergence(FIELD, proc, ra.step, ra.op, ra.seq, rb.seq, index, path, va, vb,
                                  _value(pair.a.original, path), _value(pair.b.original, path)))
    return out


def _header_notes(a: Header, b: Header, la: str, lb: str) -> list[str]:
    notes = []
    for name in ("scenario", "arch", "profile"):
        va, vb = getattr(a, name), getattr(b, name)
        if va != vb:
            notes.append(f"{name} differs: {la} {va!r}, {lb} {vb!r}")
    return notes


def _count_rules(result: DiffResult, *traces: NormalisedTrace) -> None:
    for nt in traces:
        for n in nt.items:
            for path, rule in n.masked.items():
                d = result.masked.setdefault(rule, {})
                d[path] = d.get(path, 0) + 1
            for path, rules in n.rewritten.items():
                for rule in rules:
                    d = result.rewritten.setdefault(rule, {})
                    d[path] = d.get(path, 0) + 1


# -- text rendering -----------------------------------------------------------


def fmt_value(v: Any, limit: int = 300) -> str:
    if v is _ABSENT:
        return "<absent>"
    text = v if isinstance(v, str) and v.startswith("<") and v.endswith(">") else json.dumps(v, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def fmt_record(r: Record, limit: int = 160) -> str:
    parts = [f"{r.proc}#{r.seq}", f"step {r.step}", r.kind, r.op, *r.args]
    res = []
    if r.ret is not None:
        res.append(f"ret={fmt_value(r.ret, 60)}")
    if r.err is not None:
        res.append(f"err={fmt_value(r.err, 60)}")
    res += [f"{k}={fmt_value(v, 60)}" for k, v in sorted(r.out.items())]
    text = " ".join(parts) + (" -> " + " ".join(res) if res else "")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def first_line(result: DiffResult) -> str:
    """One line: the first divergence, or 'identical'."""
    d = result.first
    if d is None:
        return "identical"
    if d.kind == MISSING:
        return f"{d.where}: record missing in {result.b_label}"
    if d.kind == EXTRA:
        return f"{d.where}: extra record in {result.b_label}"
    return f"{d.where}: {d.field}: {result.a_label} {fmt_value(d.a, 80)}, {result.b_label} {fmt_value(d.b, 80)}"


def describe_header(h: Header | None) -> str:
    if h is None:
        return ""
    return f"{h.source} {h.scenario} ({h.arch}, {h.profile})"


def render_text(result: DiffResult, color: bool | None = False, summary: bool = True, context: int = 3) -> str:
    """The diff for a terminal; COLOR None means: when stdout is a tty."""
    if color is None:
        color = sys.stdout.isatty()
    use = bool(color)

    def st(text: str, **kw: Any) -> str:
        return click.style(text, **kw) if use else text

    la, lb = result.a_label, result.b_label
    lines = [st(f"--- {la}: {describe_header(result.a_header)}", fg="red"),
             st(f"+++ {lb}: {describe_header(result.b_header)}", fg="green")]
    lines += [st(f"note: {n}", fg="yellow") for n in result.notes]
    nrec = sum(len(p) for p in result.aligned.values())
    if result.identical:
        lines.append(st(f"identical: {nrec} records in {len(result.aligned)} processes", fg="green", bold=True))
    else:
        c = result.counts()
        lines.append(st(f"DIVERGED: {plural(len(result.divergences), 'difference')} ({c[FIELD]} in fields, "
                        f"{c[MISSING]} records missing in {lb}, {c[EXTRA]} extra in {lb})", fg="red", bold=True))
        lines += _first_block(result, st, context)
        if summary:
            lines += _all_block(result, st)
    if summary:
        lines += _rules_block(result, st)
    return "\n".join(lines) + "\n"


def _first_block(result: DiffResult, st: Any, context: int) -> list[str]:
    d = result.first
    assert d is not None
    la, lb = result.a_label, result.b_label
    lines = ["", st("first divergence: ", bold=True) + d.where + (f", field {d.field}" if d.field else "")]
    if d.kind == FIELD:
        lines.append(st(f"  {la}: {fmt_value(d.a)}", fg="red"))
        lines.append(st(f"  {lb}: {fmt_value(d.b)}", fg="green"))
        if d.raw_a != d.a or d.raw_b != d.b:
            lines.append(f"  (before normalisation: {la} {fmt_value(d.raw_a, 120)}, {lb} {fmt_value(d.raw_b, 120)})")
    else:
        side = la if d.kind == MISSING else lb
        other = lb if d.kind == MISSING else la
        pair = result.aligned[d.proc][d.index]
        lines.append(st(f"  only in {side}: {fmt_record(pair.any.record)}", fg="red" if d.kind == MISSING else "green"))
        lines.append(f"  ({other} has no such record)")
    ctx = result.context(context)
    if ctx:
        lines.append(f"context (process {d.proc}, {plural(len(ctx), 'record')} before it):")
        for p in ctx:
            lines += _pair_lines(p, la, lb, st)
    pair = result.aligned[d.proc][d.index]
    lines.append(st("> ", bold=True) + "here:")
    lines += _pair_lines(pair, la, lb, st)
    return lines


def _pair_lines(p: Pair, la: str, lb: str, st: Any) -> list[str]:
    if p.a is not None and p.b is not None and p.a.record == p.b.record:
        return [f"    {fmt_record(p.a.record)}"]
    out = []
    if p.a is not None:
        out.append(st(f"  - {fmt_record(p.a.record)}", fg="red") + f"  [{la}]")
    if p.b is not None:
        out.append(st(f"  + {fmt_record(p.b.record)}", fg="green") + f"  [{lb}]")
    return out


def _all_block(result: DiffResult, st: Any) -> list[str]:
    lines = ["", st(f"all divergences ({len(result.divergences)}):", bold=True)]
    for n, d in enumerate(result.divergences, 1):
        lines.append(f"  {n}. {divergence_line(result, d)}")
    return lines


def divergence_line(result: DiffResult, d: Divergence) -> str:
    if d.kind == FIELD:
        return f"{d.where}: {d.field}: {result.a_label} {fmt_value(d.a, 80)} | {result.b_label} {fmt_value(d.b, 80)}"
    pair = result.aligned[d.proc][d.index]
    where = f"missing in {result.b_label}" if d.kind == MISSING else f"extra in {result.b_label}"
    return f"{d.where}: {where}: {fmt_record(pair.any.record, 100)}"


def rule_lines(result: DiffResult) -> list[tuple[str, str, str]]:
    """(rule, its summary, what it did here) for every rule."""
    out = []
    for rule in RULES:
        did = []
        for what, table in (("masked", result.masked), ("rewrote", result.rewritten)):
            paths = table.get(rule.name, {})
            if paths:
                did.append(f"{what} " + ", ".join(f"{p} x{c}" for p, c in sorted(paths.items())))
        out.append((rule.name, rule.summary, "; ".join(did) or "not used"))
    return out


def _rules_block(result: DiffResult, st: Any) -> list[str]:
    lines = ["", st("normalisation (not compared where masked):", bold=True)]
    for name, summary, did in rule_lines(result):
        lines.append(f"  {name}: {summary}")
        lines.append(st(f"      {did}", dim=True))
    return lines


def render_html(result: DiffResult, context: int = 3) -> str:
    from harness.trace.html import render_html as _render

    return _render(result, context)
