"""The results directory of a run: nothing is lost, even when interrupted.

Layout (one directory per run)::

    RESULTS/RUN-ID/
        command.txt         the harness command line
        qemu-command.txt    the exact QEMU command line(s)
        versions.json       harness, python, qemu versions
        console.log         the whole guest console, appended as it arrives
        ARCH/NAME.model.jsonl, ARCH/NAME.guest.jsonl, ARCH/NAME.diff.txt, ARCH/NAME.diff.html
        ARCH/NAME.ktrace.txt, ARCH/NAME.ktrace.json   with --ktrace: the kernel's own syscall
                            trace (raw) and parsed, with the cross-check (harness.trace.ktrace)
        summary.json        verdicts so far: rewritten after every scenario; with run_id and
                            shard ({index, count, plan, scenarios} or null) for `harness merge`
        junit.xml           the verdicts as JUnit, written when the run ends (harness.report.merge)
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import __version__
from harness.run.verdict import Verdict, exit_code_for


def _qemu_version(binary: str) -> str:
    path = shutil.which(binary)
    if not path:
        return "absent"
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.splitlines()[0] if out else "unknown"


@dataclass
class ResultsDir:
    root: Path
    started: float = field(default_factory=time.time)
    verdicts: list[Verdict] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    # which run this directory belongs to and which shard of it (harness.run.shard):
    # `harness merge` joins only shards of one run, and names a missing one
    run_id: str = ""
    shard: dict[str, Any] | None = None

    @classmethod
    def create(cls, base: str | Path, label: str) -> ResultsDir:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = Path(base).resolve()  # QEMU runs in a sub-directory: paths must not be relative
        root = base / f"{stamp}-{label}"
        n = 1
        while root.exists():
            n += 1
            root = base / f"{stamp}-{label}-{n}"
        root.mkdir(parents=True)
        rd = cls(root)
        (root / "command.txt").write_text(" ".join(sys.argv) + "\n")
        return rd

    def path(self, *parts: str) -> Path:
        p = self.root.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def console_log(self, worker: int) -> Path:
        """Where worker N's whole console goes: console.log for the first, console-N.log after."""
        return self.path("console.log") if worker == 0 else self.path(f"console-{worker}.log")

    def write_versions(self, qemu_binaries: list[str]) -> None:
        versions = {
            "harness": __version__,
            "python": platform.python_version(),
            "platform": platform.platform(),
            **{b: _qemu_version(b) for b in qemu_binaries},
        }
        self.path("versions.json").write_text(json.dumps(versions, indent=2) + "\n")

    def add(self, verdict: Verdict) -> None:
        self.verdicts.append(verdict)
        self.write_summary()

    def write_summary(self, finished: bool = False) -> None:
        counts: dict[str, int] = {}
        for v in self.verdicts:
            counts[v.status.value] = counts.get(v.status.value, 0) + 1
        summary = {
            "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(self.started)),
            "elapsed_seconds": round(time.time() - self.started, 3),
            "finished": finished,
            "run_id": self.run_id or self.root.name,
            "shard": self.shard,
            "exit_code": exit_code_for(self.verdicts),
            "counts": counts,
            "meta": self.meta,
            "verdicts": [v.to_json() for v in self.verdicts],
        }
        tmp = self.root / "summary.json.tmp"
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
        os.replace(tmp, self.root / "summary.json")
