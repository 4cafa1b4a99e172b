"""`harness merge`: the results of a run's shards as one run.

Input: the results directories the shards wrote (each with summary.json, see
harness.report.results); a directory that holds them at any depth, such as the
volume a Kubernetes Job writes to, stands for all of them.  A shard that ran
more than once (a retried pod or CI job) counts once: its latest finished
attempt, the others are listed as superseded.  Refused, before anything is
written (exit 2): shards of different runs (``run_id`` or the shard plan
differ), a missing shard (named), a directory that is not a shard.  Output,
in ``--out``:

    summary.json   one summary: every verdict, counts, exit code, and per shard
                   where it came from; verdict file paths point into shard-I/
    junit.xml      one suite per shard, built from its verdicts by the run's own JUnit
                   writer (harness.report.junit, junitparser), so a shard killed before
                   its end still counts what its journal holds
    report.html    one page: counts, then every verdict, linking its diff
    shard-I/       a copy of shard I's results directory (less the VMs' disk images)
"""

from __future__ import annotations

import html
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import InputError, UsageError
from harness.files import write_atomic
from harness.report.junit import junit_document, run_suite
from harness.report.result import Status, Verdict
from harness.report.results import read_results

_COUNTED = tuple(st.value for st in Status)
# the VMs' disk images are inputs rebuilt every run, not results: not copied
_DISKS = shutil.ignore_patterns("*.img", "*.qcow2")


@dataclass(frozen=True)
class ShardResult:
    path: Path
    summary: dict[str, Any]

    @property
    def run_id(self) -> str:
        return str(self.summary.get("run_id", ""))

    @property
    def shard(self) -> dict[str, Any]:
        return dict(self.summary.get("shard") or {})

    @property
    def index(self) -> int:
        return int(self.shard["index"])


@dataclass(frozen=True)
class MergeResult:
    out: Path
    run_id: str
    shards: int
    counts: dict[str, int]
    exit_code: int
    unfinished: list[int]


def _load(path: Path) -> ShardResult:
    try:
        summary = json.loads((path / "summary.json").read_text())
    except OSError as e:
        raise InputError(f"{path}: no readable summary.json ({e.strerror})") from None
    except ValueError as e:
        raise InputError(f"{path}/summary.json: not JSON ({e})") from None
    if not isinstance(summary, dict) or "verdicts" not in summary:
        raise InputError(f"{path}/summary.json: not a harness summary")
    if not summary.get("shard"):
        raise UsageError(f"{path}: not a shard (its run had no --shard)")
    if not summary.get("ended"):  # killed before its final summary: the verdicts its journal kept
        summary["verdicts"] = [v.to_json() for v in read_results(path).verdicts]
    return ShardResult(path, summary)


def _results_dirs(top: Path, out: Path) -> list[Path]:
    """Directories holding a summary.json under TOP; not below one (its own files), not OUT."""
    found = []
    for root, subdirs, files in os.walk(top, followlinks=True):
        here = Path(root)
        if here.resolve() == out.resolve():
            subdirs.clear()
            continue
        if "summary.json" in files:
            found.append(here)
            subdirs.clear()
        subdirs.sort()
    return found


def find_shards(dirs: Sequence[str | Path], out: Path) -> list[ShardResult]:
    """Each DIR is a shard's results directory or holds some; each directory counts once."""
    found: dict[Path, ShardResult] = {}
    for d in map(Path, dirs):
        if not d.is_dir():
            raise InputError(f"{d}: no such directory")
        subs = _results_dirs(d, out)
        if not subs:
            raise InputError(f"{d}: no summary.json in it or in its sub-directories")
        for p in subs:
            if p.resolve() not in found and not (p != d and _is_merged(p)):
                found[p.resolve()] = _load(p)
    return list(found.values())


def _is_merged(path: Path) -> bool:
    """An earlier `harness merge` output found under a shard volume: not a shard, skipped."""
    try:
        return bool(json.loads((path / "summary.json").read_text()).get("merged"))
    except (OSError, ValueError, AttributeError):
        return False


def latest_attempts(shards: list[ShardResult]) -> tuple[list[ShardResult], list[ShardResult]]:
    """(one attempt per shard index: the latest finished one, the superseded attempts)."""
    best: dict[int, ShardResult] = {}
    for s in sorted(shards, key=lambda s: (bool(s.summary.get("finished")), str(s.summary.get("started", "")),
                                           s.path.name)):
        best[s.index] = s  # later in that order wins
    kept = {id(s) for s in best.values()}
    return sorted(best.values(), key=lambda s: s.index), [s for s in shards if id(s) not in kept]


def check_shards(shards: list[ShardResult]) -> None:
    """All of one run (one attempt per shard), none missing; else UsageError naming the culprit."""
    if not shards:
        raise UsageError("merge: no shards given")
    first = shards[0]
    for s in shards[1:]:
        if s.run_id != first.run_id:
            raise UsageError(f"merge: {s.path} is run {s.run_id!r}, {first.path} is run {first.run_id!r}: "
                             "shards of different runs")
        for key in ("count", "plan"):
            if s.shard.get(key) != first.shard.get(key):
                raise UsageError(f"merge: {s.path} and {first.path} split different runs "
                                 f"(shard {key} {s.shard.get(key)!r} vs {first.shard.get(key)!r})")
    count = int(first.shard["count"])
    seen = {s.index for s in shards}
    missing = [i for i in range(count) if i not in seen]
    if missing:
        names = ", ".join(f"{i}/{count}" for i in missing)
        raise UsageError(f"merge: run {first.run_id!r}: shard{'s' if len(missing) > 1 else ''} {names} missing")


def merge(dirs: Sequence[str | Path], out: str | Path) -> MergeResult:
    out = Path(out)
    found = find_shards(dirs, out)
    check_shards(found)
    shards, superseded = latest_attempts(found)
    if out.exists() and any(out.iterdir()):
        raise UsageError(f"merge: {out} exists and is not empty")
    out.mkdir(parents=True, exist_ok=True)
    verdicts: list[dict[str, Any]] = []
    suites = []
    for s in shards:
        rel = f"shard-{s.index}"
        shutil.copytree(s.path, out / rel, symlinks=True, ignore=_DISKS)
        for v in s.summary["verdicts"]:
            verdicts.append({**v, "shard": s.index,
                             "files": {k: f"{rel}/{p}" for k, p in v.get("files", {}).items()}})
        suites.append(run_suite(f"shard-{s.index}", [Verdict.from_json(v) for v in s.summary["verdicts"]]))
    verdicts.sort(key=lambda v: (str(v.get("arch", "")), str(v["scenario"])))
    write_atomic(out / "junit.xml", junit_document(f"nine-harness {shards[0].run_id}", suites))
    summary = _summary(shards, verdicts)
    summary["superseded"] = [{"index": s.index, "source": str(s.path), "finished": bool(s.summary.get("finished")),
                              "exit_code": s.summary.get("exit_code")} for s in superseded]
    write_atomic(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    write_atomic(out / "report.html", render_html(summary))
    return MergeResult(out, summary["run_id"], len(shards), summary["counts"], summary["exit_code"],
                       [s.index for s in shards if not s.summary.get("finished")])


def _summary(shards: list[ShardResult], verdicts: list[dict[str, Any]]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for v in verdicts:
        counts[v["status"]] = counts.get(v["status"], 0) + 1
    finished = all(s.summary.get("finished") for s in shards)
    codes = [int(s.summary.get("exit_code", 3)) for s in shards]
    # a divergence anywhere is the run's verdict; an interrupted shard makes the run incomplete (infra)
    code = 1 if 1 in codes else 3 if (3 in codes or not finished) else max(codes)
    meta = dict(shards[0].summary.get("meta") or {})
    meta["scenarios"] = len(verdicts)
    return {
        "run_id": shards[0].run_id,
        "merged": True,
        "shard": None,
        "finished": finished,
        "exit_code": code,
        "elapsed_seconds": max(float(s.summary.get("elapsed_seconds", 0)) for s in shards),
        "started": min(str(s.summary.get("started", "")) for s in shards),
        "counts": counts,
        "meta": meta,
        "shards": [{"index": s.index, "count": s.shard["count"], "dir": f"shard-{s.index}",
                    "source": str(s.path), "finished": bool(s.summary.get("finished")),
                    "exit_code": s.summary.get("exit_code"), "counts": s.summary.get("counts", {}),
                    "scenarios": len(s.summary["verdicts"])} for s in shards],
        "verdicts": verdicts,
    }


def render_html(summary: dict[str, Any]) -> str:
    """One self-contained page; every value escaped."""
    e = html.escape
    meta = summary.get("meta", {})
    sim = " (SIMULATED guest)" if meta.get("simulated") else ""
    counts = " ".join(f"<span class='{e(k)}'>{summary['counts'].get(k, 0)} {e(k)}</span>" for k in _COUNTED)
    rows = []
    for v in summary["verdicts"]:
        diff = v.get("files", {}).get("diff_html")
        link = f" <a href='{e(diff)}'>diff</a>" if diff else ""
        rows.append(f"<tr class='{e(v['status'])}'><td>{e(v['status'])}</td><td>{e(v.get('arch', ''))}</td>"
                    f"<td>{e(v['scenario'])}</td><td>{v['shard']}</td><td>{float(v.get('seconds', 0)):.2f}</td>"
                    f"<td>{e(v.get('summary', ''))}{link}</td></tr>")
    shards = "".join(f"<li>shard {s['index']}/{s['count']}: {s['scenarios']} scenarios, exit {s['exit_code']}"
                     f"{'' if s['finished'] else ' (INTERRUPTED)'}</li>" for s in summary["shards"])
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>nine-harness run {e(summary['run_id'])}{sim}</title>
<style>body{{font-family:sans-serif}} td{{padding:0 .6em}} .diverged,.guest-crash,.boot-crash,.mismatch{{color:#b00}}
.infra-error,.internal-error{{color:#a60}} .pass{{color:#070}}</style></head><body>
<h1>nine-harness run {e(summary['run_id'])}{sim}</h1>
<p>{e(str(meta.get('arch', '')))} {e(str(meta.get('profile', '')))}: {len(summary['verdicts'])} scenarios
in {len(summary['shards'])} shards; exit code {summary['exit_code']}. {counts}</p>
<ul>{shards}</ul>
<table><tr><th>verdict</th><th>arch</th><th>scenario</th><th>shard</th><th>seconds</th><th>first divergence</th></tr>
{chr(10).join(rows)}
</table></body></html>
"""
