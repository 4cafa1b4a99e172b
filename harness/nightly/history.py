"""Nights kept across nights: HISTORY/NIGHT-ID/{summary.json, report.html, junit/}.

Only finished nights enter the history (an interrupted one is not a night to
compare with until it is resumed and finished).  NIGHT-IDs sort by time.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

KEEP_IN_TREND = 14  # nights shown in each scenario's trend


def _nights(history: Path, before: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for d in sorted(history.iterdir()) if history.is_dir() else []:
        if d.name >= before or not (d / "summary.json").is_file():
            continue
        try:
            out.append((d.name, json.loads((d / "summary.json").read_text())))
        except ValueError:
            continue  # a damaged night is skipped, not fatal
    return out


def previous_night(history: Path | None, tonight: str) -> tuple[str | None, dict[tuple[str, str], str]]:
    """The last finished night before TONIGHT and its verdicts by (cell, scenario)."""
    nights = _nights(history, tonight) if history else []
    if not nights:
        return None, {}
    night, summary = nights[-1]
    return night, {(o["cell"], o["scenario"]): o["verdict"] for o in summary.get("outcomes", [])}


def pass_series(history: Path | None, tonight: str, outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    """Per scenario, of the cells that ran it, how many passed, on each of the last nights (tonight last)."""
    nights = (_nights(history, tonight) if history else [])[-(KEEP_IN_TREND - 1):]
    rows = [(n, s.get("outcomes", [])) for n, s in nights] + [(tonight, outcomes)]
    names = sorted({o["scenario"] for o in outcomes})
    passes: dict[str, list[int]] = {n: [] for n in names}
    totals: dict[str, list[int]] = {n: [] for n in names}
    for _, outs in rows:
        for name in names:
            mine = [o for o in outs if o["scenario"] == name and o["verdict"] != "not-run"]
            passes[name].append(sum(o["verdict"] == "pass" for o in mine))
            totals[name].append(len(mine))
    return {"nights": [n for n, _ in rows], "pass": passes, "total": totals}


def keep(history: Path, night_dir: Path, night: str) -> Path:
    """Copy the night's summary, report and JUnit files into HISTORY/NIGHT (replacing an older copy)."""
    dest = history / night
    tmp = history / f".{night}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in ("summary.json", "summary.txt", "report.html"):
        if (night_dir / name).is_file():
            shutil.copy2(night_dir / name, tmp / name)
    if (night_dir / "junit").is_dir():
        shutil.copytree(night_dir / "junit", tmp / "junit")
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(tmp, dest)
    return dest
