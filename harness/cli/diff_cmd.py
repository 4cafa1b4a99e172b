"""`harness diff A B`: normalise two traces and show the first divergence."""

from __future__ import annotations

from pathlib import Path

import click

from harness.errors import ExitCode, InputError
from harness.report.html import render_html
from harness.report.text import render_text
from harness.trace.diff import diff as diff_traces
from harness.trace.schema import Trace, read_trace


def _load(path: str) -> Trace:
    p = Path(path)
    if not p.exists():
        raise InputError(f"{path}: no such file")
    if not p.is_file():
        raise InputError(f"{path}: not a file")
    return read_trace(p)  # TraceError (exit 2) when it is not a trace


def _label(trace: Trace, path: str, other: Trace) -> str:
    """The trace's source (model/guest) when that tells them apart, else the file name."""
    if trace.header.source != other.header.source:
        return trace.header.source
    return Path(path).name


@click.command("diff")
@click.argument("a", type=click.Path())
@click.argument("b", type=click.Path())
@click.option("--html", "html_out", type=click.Path(dir_okay=False), help="Also write the diff as an HTML page.")
@click.option("--no-color", is_flag=True, help="No colour, even on a terminal.")
@click.option("--context", type=click.IntRange(min=0), default=3, show_default=True,
              help="Records of context before the first divergence.")
@click.pass_context
def diff(ctx: click.Context, a: str, b: str, html_out: str | None, no_color: bool, context: int) -> None:
    """Diff trace files A and B (JSON Lines, e.g. NAME.model.jsonl and NAME.guest.jsonl).

    Both are normalised (pids, addresses, times, nondet fields; the rules are
    listed in the output) and compared process by process.  Exit 0 when
    identical, 1 when they diverge, 2 when an input is not a usable trace.
    """
    ta, tb = _load(a), _load(b)
    if a == b:
        la, lb = "A", "B"
    else:
        la, lb = _label(ta, a, tb), _label(tb, b, ta)
        if la == lb:
            la, lb = f"A {la}", f"B {lb}"
    result = diff_traces(ta, tb, la, lb)
    color = None if not no_color else False
    click.echo(render_text(result, color=color, context=context), nl=False, color=color)
    if html_out:
        try:
            Path(html_out).write_text(render_html(result, context=context), encoding="utf-8")
        except OSError as e:
            raise InputError(f"{html_out}: cannot write: {e.strerror}") from e
    ctx.exit(ExitCode.OK if result.identical else ExitCode.DIVERGED)
