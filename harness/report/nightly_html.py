"""The night's one HTML report: self-contained (inline CSS and JS, nothing fetched).

Rendered from the night summary (harness.nightly.summary) alone, so any
summary.json, including one kept in the history, can be rendered again.
Links (diffs, consoles, logs) are relative to the night directory.
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import quote

VERDICTS = ("new", "known", "flaky", "infra", "pass", "not-run")
LABEL = {"new": "NEW", "known": "known", "flaky": "flaky", "infra": "infra", "pass": "pass", "not-run": "—"}
INLINE_LIMIT = 20_000  # characters of each diff inlined; the whole diff is linked
TRENDS = ("new", "still-failing", "fixed", "flaky", "passing", "none")

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.2em;color:#222}
h1{font-size:1.4em;margin:0 0 .3em} h2{font-size:1.1em;margin:1.2em 0 .4em}
.sim{background:#fde68a;padding:.2em .6em;font-weight:bold;border-radius:3px}
.bad{color:#b91c1c;font-weight:bold} .warn{color:#92400e}
table{border-collapse:collapse} td,th{border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top}
th{background:#f3f4f6;font-weight:600}
#grid td.v{cursor:pointer;text-align:center;min-width:4.5em}
.v-pass{background:#bbf7d0} .v-new{background:#f87171;color:#fff;font-weight:bold}
.v-known{background:#fed7aa} .v-flaky{background:#c4b5fd} .v-infra{background:#d1d5db}
.v-not-run{background:#f9fafb;color:#9ca3af} .v-absent{background:#fff}
.st-guest-crash{outline:2px solid #7f1d1d;outline-offset:-3px}
td.v.sel{box-shadow:inset 0 0 0 3px #1d4ed8}
.counts span{display:inline-block;margin-right:.6em;padding:0 .4em;border-radius:3px}
#filters{margin:.6em 0;padding:.4em;background:#f9fafb;border:1px solid #e5e7eb}
#filters label{margin-right:1.2em}
.detail{border:1px solid #93c5fd;background:#eff6ff;padding:.6em;margin:.6em 0}
pre{background:#fff;border:1px solid #e5e7eb;padding:.5em;overflow:auto;max-height:32em;font-size:12px}
.trend svg{vertical-align:middle} .tr-new{color:#b91c1c;font-weight:bold} .tr-fixed{color:#15803d}
.tr-still-failing{color:#b45309} .tr-flaky{color:#6d28d9}
"""

JS = """
(function(){
  var rows=[].slice.call(document.querySelectorAll('#grid tbody tr'));
  var fNew=document.getElementById('f-new'),fSys=document.getElementById('f-syscall'),
      fVer=document.getElementById('f-verdict'),shown=document.getElementById('shown');
  function apply(){
    var n=0;
    rows.forEach(function(r){
      var tds=[].slice.call(r.querySelectorAll('td.v'));
      var ok=(!fNew.checked||tds.some(function(t){return t.dataset.trend==='new';}))
        &&(!fSys.value||(' '+r.dataset.covers+' ').indexOf(' '+fSys.value+' ')>=0)
        &&(!fVer.value||tds.some(function(t){return t.dataset.verdict===fVer.value;}));
      r.hidden=!ok; if(ok)n++;
    });
    shown.textContent=n+' of '+rows.length+' scenarios shown';
  }
  [fNew,fSys,fVer].forEach(function(e){e.addEventListener('change',apply);});
  var pane=document.getElementById('detail-pane');
  document.getElementById('grid').addEventListener('click',function(ev){
    var td=ev.target.closest('td.v'); if(!td||!td.dataset.detail)return;
    var d=document.getElementById(td.dataset.detail);
    [].forEach.call(document.querySelectorAll('td.v.sel'),function(x){x.classList.remove('sel');});
    [].forEach.call(document.querySelectorAll('.detail'),function(x){if(x!==d)x.hidden=true;});
    d.hidden=!d.hidden; if(!d.hidden){td.classList.add('sel');pane.appendChild(d);d.scrollIntoView({block:'nearest'});}
  });
  apply();
})();
"""


def e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def link(rel: str | None, text: str) -> str:
    """A link to a file of the night (relative), or to a web page (a baseline entry's link)."""
    if not rel:
        return ""
    if rel.startswith(("http://", "https://")):
        return f'<a href="{e(rel)}" rel="noreferrer">{e(text)}</a>'
    if ":" in rel.split("/", 1)[0]:
        return e(text)  # no other schemes (javascript:, data:) from a baseline file
    return f'<a href="{e(quote(rel))}">{e(text)}</a>'


def render(s: dict[str, Any], base: str | None = None) -> str:
    """The report of summary S; BASE (a URL ending in /) is where its relative links point
    when the page lives elsewhere (the copy kept in the history points at the night directory)."""
    cells = [c["name"] for c in s["cells"]]
    by_key = {(o["cell"], o["scenario"]): (i, o) for i, o in enumerate(s["outcomes"])}
    scenarios = sorted({o["scenario"] for o in s["outcomes"]})
    covers = {o["scenario"]: o["covers"] for o in s["outcomes"]}
    parts = [_head(s, base), _cells_table(s), _baseline(s), _filters(scenarios, covers),
             _grid(s, cells, scenarios, by_key, covers), '<div id="detail-pane"></div>',
             "".join(_detail(i, o) for i, o in enumerate(s["outcomes"]) if o["verdict"] != "not-run"),
             f"<script>{JS}</script></body></html>\n"]
    return "".join(parts)


def _head(s: dict[str, Any], base: str | None) -> str:
    state = "finished" if s["finished"] else '<span class="bad">INTERRUPTED: a partial night (--resume)</span>'
    sim = ' <span class="sim">SIMULATED kernels in this matrix</span>' if s["simulated"] else ""
    counts = "".join(f'<span class="v-{v}" id="count-{v}" data-count="{s["counts"].get(v, 0)}">'
                     f'{e(LABEL[v] if v != "not-run" else "not run")}: {s["counts"].get(v, 0)}</span>'
                     for v in VERDICTS)
    prev = f"compared with night {e(s['previous_night'])}" if s["previous_night"] else "no previous night"
    code = "" if s["exit_code"] is None else f", exit {s['exit_code']}"
    base_tag = f'<base href="{e(base)}">' if base else ""
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">{base_tag}<link rel="icon" href="data:,">'
            f"<title>nine-harness night {e(s['night'])}</title><style>{CSS}</style></head><body>"
            f"<h1>nine-harness night {e(s['night'])}{sim}</h1>"
            f"<p>started {e(s['started'])}; {state}{code}; {prev}. "
            f"{link('summary.txt', 'summary.txt')} {link('summary.json', 'summary.json')}</p>"
            f'<p class="counts" id="counts">{counts}</p>')


def _cells_table(s: dict[str, Any]) -> str:
    rows = []
    for c in s["cells"]:
        counts = " ".join(f'<span class="v-{v}" data-verdict="{v}">{n} {e(LABEL[v])}</span>'
                          for v, n in c["counts"].items())
        kern = ("SIMULATED " if c["simulated"] else "") + c["kernel"]
        msg = f'<div class="bad">{e(c["message"])}</div>' if c["message"] else ""
        logs = [link(c["log"], "run.log")] + [link(p, p.rsplit("/", 1)[-1]) for p in c.get("consoles", [])]
        logs.append(link(c["junit"] if c["state"] != "not-run" else None, "JUnit"))
        links = " ".join(x for x in logs if x)
        rows.append(f'<tr id="cell-{e(c["name"])}" data-state="{e(c["state"])}"><td>{e(c["name"])}</td>'
                    f"<td>{e(c['arch'])}</td><td>{e(c['profile'])}</td><td>{e(kern)}</td>"
                    f'<td class="state">{e(c["state"])}{msg}</td><td class="counts">{counts}</td><td>{links}</td></tr>')
    return ("<h2>Cells</h2><table id=\"cells\"><tr><th>cell</th><th>arch</th><th>profile</th><th>kernel</th>"
            "<th>state</th><th>verdicts</th><th>logs</th></tr>" + "".join(rows) + "</table>")


def _baseline(s: dict[str, Any]) -> str:
    kb = s["known_baseline"]
    items = [f'<li class="warn stale">line {k["line"]}: {e(k["scenario"])} @ {e(k["cell"])} '
             f"({e(k['reason'])}) explained nothing tonight: fixed? remove it</li>" for k in kb["stale"]]
    items += [f'<li class="warn expired">line {k["line"]}: {e(k["scenario"])} @ {e(k["cell"])} expired on '
              f"{e(k['until'])}: renew it or fix the kernel</li>" for k in kb["expired"]]
    infra = [f'<li class="bad">{e(x)}</li>' for x in s["infra"]]
    out = ""
    if items:
        out += f"<h2>Baseline ({kb['entries']} entries)</h2><ul id=\"baseline\">{''.join(items)}</ul>"
    if infra:
        out += f"<h2>Infrastructure problems</h2><ul id=\"infra\">{''.join(infra)}</ul>"
    return out


def _filters(scenarios: list[str], covers: dict[str, list[str]]) -> str:
    syscalls = sorted({c for n in scenarios for c in covers[n]})
    sys_opts = "".join(f'<option value="{e(c)}">{e(c)}</option>' for c in syscalls)
    ver_opts = "".join(f'<option value="{v}">{e(LABEL[v] if v != "not-run" else "not run")}</option>'
                       for v in VERDICTS)
    return ('<h2>Scenarios</h2><div id="filters">'
            '<label><input type="checkbox" id="f-new"> new since the previous night only</label>'
            f'<label>syscall <select id="f-syscall"><option value="">all</option>{sys_opts}</select></label>'
            f'<label>verdict <select id="f-verdict"><option value="">all</option>{ver_opts}</select></label>'
            '<span id="shown"></span></div>'
            '<p class="legend">Click a coloured cell for its first divergence and diff. NEW fails the night; '
            'known is explained by the baseline; flaky: retries disagreed; infra: no kernel verdict; '
            'a dark outline marks a kernel crash. Trend: compared with the previous night.</p>')


def _grid(s: dict[str, Any], cells: list[str], scenarios: list[str],
          by_key: dict[tuple[str, str], tuple[int, dict[str, Any]]], covers: dict[str, list[str]]) -> str:
    head = "".join(f"<th>{e(c)}</th>" for c in cells)
    rows = []
    for name in scenarios:
        tds = []
        trends = []
        for c in cells:
            hit = by_key.get((c, name))
            if hit is None:
                tds.append('<td class="v v-absent" data-verdict="" data-trend=""></td>')
                continue
            i, o = hit
            trends.append(o["trend"])
            det = f' data-detail="d-{i}"' if o["verdict"] != "not-run" else ""
            tip = e(f"{o['status']}: {o['summary']}" if o["summary"] else o["status"])
            tds.append(f'<td class="v v-{o["verdict"]} st-{o["status"]}" data-verdict="{o["verdict"]}" '
                       f'data-trend="{o["trend"]}" data-cell="{e(c)}"{det} title="{tip}">{e(LABEL[o["verdict"]])}</td>')
        trend = next((t for t in TRENDS if t in trends), "none")
        series = list(zip(s["history"]["pass"].get(name, []), s["history"]["total"].get(name, []), strict=True))
        rows.append(f'<tr data-scenario="{e(name)}" data-covers="{e(" ".join(covers[name]))}">'
                    f"<td>{e(name)}</td><td>{e(', '.join(covers[name]))}</td>{''.join(tds)}"
                    f'<td class="trend"><span class="tr-{trend}">{e(trend)}</span> '
                    f"{_svg(s['history']['nights'], series)}</td></tr>")
    return (f'<table id="grid"><thead><tr><th>scenario</th><th>covers</th>{head}<th>trend (passes per night)</th>'
            f"</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _svg(nights: list[str], series: list[tuple[int, int]]) -> str:
    """Bars of passes per night, full height when every cell that ran the scenario passed."""
    w, h, bw = 6, 18, 5
    bars = []
    for k, (night, (n, top)) in enumerate(zip(nights, series, strict=True)):
        x = k * w
        if top == 0:
            bars.append(f'<rect x="{x}" y="{h - 1}" width="{bw}" height="1" fill="#d1d5db"><title>{e(night)}: '
                        "not run</title></rect>")
            continue
        bh = max(1, round(h * n / top))
        colour = "#16a34a" if n == top else "#dc2626"
        bars.append(f'<rect x="{x}" y="{h - bh}" width="{bw}" height="{bh}" fill="{colour}">'
                    f"<title>{e(night)}: {n}/{top} cells pass</title></rect>")
    return (f'<svg class="spark" width="{max(len(series), 1) * w}" height="{h}" '
            f'viewBox="0 0 {max(len(series), 1) * w} {h}" role="img">{"".join(bars)}</svg>')


def _detail(i: int, o: dict[str, Any]) -> str:
    files = o.get("files", {})
    links = " ".join(x for x in (link(files.get("diff_html"), "HTML diff"), link(files.get("diff"), "text diff"),
                                 link(files.get("console"), "console excerpt"),
                                 link(files.get("model"), "model trace"), link(files.get("guest"), "guest trace"))
                     if x)
    known = ""
    if o.get("known"):
        k = o["known"]
        known = (f'<p class="known">known (baseline line {k["line"]}): {e(k["reason"])} '
                 f"{link(k.get('link'), k.get('link') or '')}</p>")
    attempts = ""
    if len(o.get("attempts", [])) > 1:
        attempts = "<p>attempts: " + "; ".join(f"{k + 1}: {e(a['status'])} {e(a['summary'])}"
                                                for k, a in enumerate(o["attempts"])) + "</p>"
    detail = o.get("detail") or ""
    if len(detail) > INLINE_LIMIT:
        detail = detail[:INLINE_LIMIT] + f"\n... ({len(detail) - INLINE_LIMIT} more characters: see the text diff)"
    body = f'<pre class="diff">{e(detail)}</pre>' if detail else ""
    return (f'<div class="detail" id="d-{i}" hidden data-cell="{e(o["cell"])}" data-scenario="{e(o["scenario"])}">'
            f"<b>{e(o['scenario'])}</b> in <b>{e(o['cell'])}</b>: {e(o['verdict'])} ({e(o['status'])}, "
            f"trend {e(o['trend'])}) <p class=\"first\">{e(o['summary'])}</p>{known}{attempts}<p>{links}</p>"
            f"{body}</div>")
