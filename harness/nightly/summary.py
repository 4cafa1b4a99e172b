"""summary.json (everything the report and the next night need) and summary.txt (for mail or chat)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from harness.nightly import history
from harness.nightly.classify import BaselineReport, exit_code
from harness.nightly.outcome import CellResult, CellState, NightVerdict, Trend

if TYPE_CHECKING:
    from harness.nightly.matrix import Matrix
    from harness.nightly.options import NightOptions


class Night(Protocol):
    """What the summary reads of a night (harness.nightly.night.Night)."""

    matrix: Matrix
    opts: NightOptions
    night_id: str
    started: str

SCHEMA = "nine-harness-night/1"


def build_summary(night: Night, cells: list[CellResult], report: BaselineReport, prev_id: str | None,
                  finished: bool) -> dict[str, Any]:
    outcomes = [o.to_json() for c in cells for o in c.outcomes]
    counts = _count(o["verdict"] for o in outcomes)
    cell_rows = []
    for cell, res in zip(night.matrix.cells, cells, strict=True):
        cell_rows.append({
            "name": cell.name, "arch": cell.arch, "profile": cell.profile, "kernel": cell.kernel,
            "kernel_key": cell.kernel_key, "simulated": cell.simulated, "state": res.state,
            "message": res.message, "exit_code": res.exit_code, "run_dir": res.run_dir, "log": res.log,
            "seconds": res.seconds, "scenarios": len(cell.scenarios),
            "counts": _count(o.verdict for o in res.outcomes), "junit": f"junit/{cell.name}.xml",
            "consoles": _consoles(night.opts.out, res.run_dir), "started": res.started,
        })
    infra = [f"{c['name']}: could not run: {c['message']}" for c in cell_rows if c["state"] == CellState.INFRA]
    infra += [f"{o['cell']}: {o['scenario']}: {o['summary']}" for o in outcomes
              if o["verdict"] == NightVerdict.INFRA and not _cell_infra(cell_rows, o["cell"])]
    return {
        "schema": SCHEMA,
        "night": night.night_id,
        "started": night.started,
        "finished": finished,
        "simulated": any(c.simulated for c in night.matrix.cells),
        "matrix": str(night.matrix.path),
        "report": str(night.opts.out / "report.html"),
        "baseline": str(night.opts.baseline.path) if night.opts.baseline.path else None,
        "options": {"jobs": night.opts.jobs, "retries": night.opts.retries, "flaky_fails": night.opts.flaky_fails},
        "exit_code": exit_code(cells, night.opts.flaky_fails) if finished else None,
        "counts": counts,
        "trends": _count(o["trend"] for o in outcomes),
        "previous_night": prev_id,
        "cells": cell_rows,
        "new_failures": [_line(o) for o in outcomes if o["verdict"] == NightVerdict.NEW],
        "fixed": [f"{o['cell']}: {o['scenario']}" for o in outcomes if o["trend"] == Trend.FIXED],
        "flaky": [_line(o) for o in outcomes if o["verdict"] == NightVerdict.FLAKY],
        "infra": infra,
        "known_baseline": {**report.to_json(), "entries": len(night.opts.baseline.entries)},
        "history": history.pass_series(night.opts.history, night.night_id, outcomes),
        "outcomes": outcomes,
    }


def _consoles(night_dir: Path, run_dir: str) -> list[str]:
    """The whole console log of each machine of the cell's run (console.log, console-N.log)."""
    if not run_dir:
        return []
    logs = sorted((night_dir / run_dir).glob("console*.log"), key=lambda p: (len(p.name), p.name))
    return [str(p.relative_to(night_dir)) for p in logs]  # console.log, console-1.log, ..., console-10.log


def _cell_infra(rows: list[dict[str, Any]], name: str) -> bool:
    return any(r["name"] == name and r["state"] == CellState.INFRA for r in rows)


def _count(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return dict(sorted(out.items()))


def _line(o: dict[str, Any]) -> str:
    since = " (also failing last night)" if o["trend"] == Trend.STILL_FAILING else ""
    return f"{o['cell']}: {o['scenario']}: {o['status']}: {o['summary']}{since}"


def summary_text(s: dict[str, Any]) -> str:
    state = "finished" if s["finished"] else "INTERRUPTED (partial: --resume to finish it)"
    sim = " SIMULATED kernels in the matrix;" if s["simulated"] else ""
    lines = [f"nine-harness night {s['night']}: {state};{sim} exit {s['exit_code']}",
             "counts: " + (", ".join(f"{n} {v}" for v, n in s["counts"].items()) or "nothing ran")]
    for c in s["cells"]:
        counts = ", ".join(f"{n} {v}" for v, n in c["counts"].items())
        sim = " SIMULATED" if c["simulated"] else ""
        lines.append(f"  {c['name']} ({c['arch']} {c['profile']}{sim}): {c['state']}"
                     f"{': ' + counts if counts else ''}{' — ' + c['message'] if c['message'] else ''}")
    for title, key in (("new failures", "new_failures"), ("flaky", "flaky"), ("infrastructure problems", "infra"),
                       ("fixed since the previous night", "fixed")):
        if s[key]:
            lines.append(f"{title} ({len(s[key])}):")
            lines += [f"  {x}" for x in s[key]]
    kb = s["known_baseline"]
    for k in kb["stale"]:
        lines.append(f"baseline line {k['line']}: {k['scenario']} @ {k['cell']} explained nothing tonight: "
                     "fixed? remove it")
    for k in kb["expired"]:
        lines.append(f"baseline line {k['line']}: {k['scenario']} @ {k['cell']} expired on {k['until']}: "
                     "renew it or fix the kernel")
    lines.append(f"report: {s['report']}")
    return "\n".join(lines) + "\n"
