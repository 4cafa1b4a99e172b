"""Terminal text: the diff of two traces, verdict lines, run summaries.

Colour is plain ANSI SGR (no click here: the report layer is a library the CLI
calls); ``color=None`` means "when stdout is a terminal".
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from harness.report.formats import diff_format
from harness.report.result import RunResult, Status, Verdict
from harness.trace.diff import ABSENT, EXTRA, FIELD, MISSING, DiffResult, Divergence, Pair
from harness.trace.normalise import RULES
from harness.trace.schema import Header, Record

_SGR = {"red": "31", "green": "32", "yellow": "33", "bold": "1", "dim": "2"}

Style = Callable[..., str]

# the colour of each verdict on a terminal
STATUS_COLOUR = {Status.PASS: "green", Status.DIVERGED: "red", Status.GUEST_CRASH: "red",
                 Status.BOOT_CRASH: "red", Status.MISMATCH: "red", Status.INFRA_ERROR: "yellow",
                 Status.INTERNAL_ERROR: "yellow"}


def styler(color: bool | None) -> Style:
    """st(text, fg=..., bold=..., dim=...): ANSI when COLOR (None: when stdout is a tty)."""
    use = sys.stdout.isatty() if color is None else color

    def st(text: str, fg: str | None = None, bold: bool = False, dim: bool = False) -> str:
        codes = [_SGR[k] for k, on in ((fg or "", fg), ("bold", bold), ("dim", dim)) if on]
        return f"\x1b[{';'.join(codes)}m{text}\x1b[0m" if use and codes else text

    return st


# -- values and records ------------------------------------------------------


def fmt_value(v: Any, limit: int = 300) -> str:
    if v is ABSENT:
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


def describe_header(h: Header | None) -> str:
    if h is None:
        return ""
    return f"{h.source} {h.scenario} ({h.arch}, {h.profile})"


# -- the diff ------------------------------------------------------------------


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


def render_text(result: DiffResult, color: bool | None = False, summary: bool = True, context: int = 3) -> str:
    """The diff for a terminal; COLOR None means: when stdout is a tty."""
    st = styler(color)
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


@diff_format("diff", ".diff.txt")
def render_text_file(result: DiffResult) -> str:
    """The diff as the results directory keeps it: no colour."""
    return render_text(result, color=False)


def _first_block(result: DiffResult, st: Style, context: int) -> list[str]:
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


def _pair_lines(p: Pair, la: str, lb: str, st: Style) -> list[str]:
    if p.a is not None and p.b is not None and p.a.record == p.b.record:
        return [f"    {fmt_record(p.a.record)}"]
    out = []
    if p.a is not None:
        out.append(st(f"  - {fmt_record(p.a.record)}", fg="red") + f"  [{la}]")
    if p.b is not None:
        out.append(st(f"  + {fmt_record(p.b.record)}", fg="green") + f"  [{lb}]")
    return out


def _all_block(result: DiffResult, st: Style) -> list[str]:
    lines = ["", st(f"all divergences ({len(result.divergences)}):", bold=True)]
    for n, d in enumerate(result.divergences, 1):
        lines.append(f"  {n}. {divergence_line(result, d)}")
    return lines


def _rules_block(result: DiffResult, st: Style) -> list[str]:
    lines = ["", st("normalisation (not compared where masked):", bold=True)]
    for name, summary, did in rule_lines(result):
        lines.append(f"  {name}: {summary}")
        lines.append(st(f"      {did}", dim=True))
    return lines


# -- verdicts and runs -----------------------------------------------------------


def verdict_lines(v: Verdict, color: bool | None = False, detail_lines: int = 12) -> list[str]:
    """A verdict as the terminal shows it: its line, and for a divergence the first
    lines of the rendered diff (the model's mismatches, for a model run)."""
    st = styler(color)
    lines = [st(v.describe(), fg=STATUS_COLOUR[v.status])]
    if v.status in (Status.DIVERGED, Status.MISMATCH) and v.detail:
        lines += ["    " + line for line in v.detail.splitlines()[:detail_lines]]
    return lines


def count_parts(run: RunResult) -> str:
    return ", ".join(f"{n} {s}" for s, n in sorted(run.counts().items()))


def run_summary_line(run: RunResult, where: str) -> str:
    """The last line of `harness run`."""
    return f"run: {len(run.verdicts)} scenarios: {count_parts(run)}; results in {where}/ (summary.json)"


def model_verdict_lines(v: Verdict) -> list[str]:
    """A verdict of `harness model`: ok or MISMATCH, and each mismatch."""
    status = "ok" if v.status is Status.PASS else "MISMATCH"
    head = f"{status:8} {v.arch:6} {v.profile:15} {v.scenario}  ({v.records} records) -> {v.files.get('model')}"
    return [head] + [f"         {line}" for line in v.detail.splitlines()]


def model_summary_line(run: RunResult, where: str) -> str:
    """The last line of `harness model`."""
    total = len(run.verdicts)
    bad = sum(v.status is not Status.PASS for v in run.verdicts)
    return (f"model: {total} scenario runs, {total - bad} agree with their expectations, {bad} do not; "
            f"traces in {where}/")
