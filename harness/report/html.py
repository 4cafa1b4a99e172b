"""The diff as one self-contained HTML page (no scripts, no external files).

Every piece of trace text goes through ``html.escape``: traces carry strings
from the kernel and the scenario, and the page must show them, not run them.
"""

from __future__ import annotations

from html import escape

from harness.report.formats import diff_format
from harness.report.text import (
    describe_header,
    divergence_line,
    fmt_record,
    fmt_value,
    plural,
    rule_lines,
)
from harness.trace.diff import EXTRA, FIELD, MISSING, DiffResult, Pair

_STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; } h2 { font-size: 1.1em; margin-top: 1.5em; }
code, pre, td.rec { font-family: monospace; }
.ok { color: #176317; } .bad { color: #a31515; }
.a { background: #fde8e8; } .b { background: #e6f6e6; }
.here { outline: 2px solid #a31515; }
table { border-collapse: collapse; } td, th { padding: 2px 8px; text-align: left; vertical-align: top; }
tr.rule td { border-top: 1px solid #ddd; } .muted { color: #777; }
"""


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _pair_rows(p: Pair, la: str, lb: str, here: bool = False) -> list[str]:
    cls = " here" if here else ""
    if p.a is not None and p.b is not None and p.a.record == p.b.record:
        return [f'<tr class="{cls.strip()}"><td></td><td class="rec">{_e(fmt_record(p.a.record, 400))}</td></tr>']
    rows = []
    if p.a is not None:
        rows.append(f'<tr class="a{cls}"><td>{_e(la)}</td><td class="rec">{_e(fmt_record(p.a.record, 400))}</td></tr>')
    if p.b is not None:
        rows.append(f'<tr class="b{cls}"><td>{_e(lb)}</td><td class="rec">{_e(fmt_record(p.b.record, 400))}</td></tr>')
    return rows


@diff_format("diff_html", ".diff.html")
def render_html(result: DiffResult, context: int = 3) -> str:
    la, lb = result.a_label, result.b_label
    title = "identical" if result.identical else "diverged"
    scen = result.a_header.scenario if result.a_header else ""
    body = [f"<h1>trace diff: {_e(scen)} &mdash; <span class=\"{'ok' if result.identical else 'bad'}\">{title}</span></h1>",
            "<table>",
            f'<tr><th class="a">{_e(la)}</th><td>{_e(describe_header(result.a_header))}</td></tr>',
            f'<tr><th class="b">{_e(lb)}</th><td>{_e(describe_header(result.b_header))}</td></tr>',
            "</table>"]
    body += [f'<p class="muted">note: {_e(n)}</p>' for n in result.notes]
    d = result.first
    if d is not None:
        c = result.counts()
        body.append(f'<p class="bad">{plural(len(result.divergences), "difference")}: {c[FIELD]} in fields, '
                    f"{c[MISSING]} records missing in {_e(lb)}, {c[EXTRA]} extra in {_e(lb)}</p>")
        body.append("<h2 id=\"first\">First divergence</h2>")
        body.append(f"<p>{_e(d.where)}" + (f", field <code>{_e(d.field)}</code>" if d.field else "") + "</p>")
        if d.kind == FIELD:
            body += ["<table>",
                     f'<tr class="a"><th>{_e(la)}</th><td><code>{_e(fmt_value(d.a, 2000))}</code></td></tr>',
                     f'<tr class="b"><th>{_e(lb)}</th><td><code>{_e(fmt_value(d.b, 2000))}</code></td></tr>',
                     "</table>"]
            if d.raw_a != d.a or d.raw_b != d.b:
                body.append(f'<p class="muted">before normalisation: {_e(la)} <code>{_e(fmt_value(d.raw_a, 400))}</code>, '
                            f"{_e(lb)} <code>{_e(fmt_value(d.raw_b, 400))}</code></p>")
        body.append(f"<h2>Context (process {_e(d.proc)})</h2><table>")
        for p in result.context(context):
            body += _pair_rows(p, la, lb)
        body += _pair_rows(result.aligned[d.proc][d.index], la, lb, here=True)
        body.append("</table>")
        body.append(f"<h2>All divergences ({len(result.divergences)})</h2><ol>")
        body += [f"<li><code>{_e(divergence_line(result, x))}</code></li>" for x in result.divergences]
        body.append("</ol>")
    else:
        nrec = sum(len(p) for p in result.aligned.values())
        body.append(f'<p class="ok">identical: {nrec} records in {len(result.aligned)} processes</p>')
    body.append("<h2>Normalisation rules</h2><p>Masked fields are not compared.</p><table>")
    for name, summary, did in rule_lines(result):
        body.append(f'<tr class="rule"><td><code>{_e(name)}</code></td><td>{_e(summary)}'
                    f'<br><span class="muted">{_e(did)}</span></td></tr>')
    body.append("</table>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>trace diff: {_e(scen)} {title}</title><style>{_STYLE}</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")
