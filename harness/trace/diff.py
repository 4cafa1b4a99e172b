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

This module is data only: the text and HTML renderings of a ``DiffResult``
are in ``harness.report.text`` and ``harness.report.html``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from harness.trace.normalise import NormalisedTrace, NRecord, normalise, proc_order
from harness.trace.schema import END, Header, Record, Trace

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


def _compared(records: Iterable[Record]) -> list[Record]:
    """All but the agent's END record (its own time: a timing, never compared)."""
    return [r for r in records if r.kind != END]


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
    a_recs, b_recs = _compared(a.records), _compared(b.records)
    a_procs, b_procs = _by_proc(a_recs), _by_proc(b_recs)
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
    na = normalise(a_recs, a.header, a_extra)
    nb = normalise(b_recs, b.header, b_extra)
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
        return rec.out.get(path[4:], ABSENT)
    return getattr(rec, path)


class _Absent:
    """A field one side of a pair does not have (an ``out`` key)."""

    def __repr__(self) -> str:
        return "<absent>"


ABSENT = _Absent()


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
