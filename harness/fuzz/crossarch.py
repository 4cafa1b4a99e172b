"""Generated programs on two arches of the model: the differences no arch rule explains.

Each program is compiled for both arches (an ``aout: native`` header is each
arch's own) and run on the model; the traces are diffed and every divergence
judged as ``harness coverage --cross-arch`` does (harness.coverage.crossarch).
Unexplained ones are deduplicated by (op, field) and written like findings.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.coverage import crossarch as ca
from harness.files import write_atomic
from harness.fuzz import gen
from harness.fuzz.engine import _compile, _mkdir
from harness.fuzz.target import ModelTarget
from harness.model.arch import get_arch
from harness.trace import diff as tdiff


@dataclass
class CrossFuzz:
    arch_a: str
    arch_b: str
    profile: str
    seed: int
    out: Path
    counts: dict[str, int] = field(default_factory=dict)
    programs: int = 0
    unexplained: dict[tuple[str, str], ca.ArchDifference] = field(default_factory=dict)

    def differences(self, doc: gen.Doc) -> list[ca.ArchDifference] | None:
        sa, sb = _compile(doc, self.arch_a), _compile(doc, self.arch_b)
        if sa is None or sb is None:
            return None
        ta, ha = ModelTarget(self.arch_a, self.profile, source=self.arch_a).run_one(sa)
        tb, hb = ModelTarget(self.arch_b, self.profile, source=self.arch_b).run_one(sb)
        if any(r.out.get("hung") for r in (*ta.records, *tb.records)):
            return []
        result = tdiff.diff(ta, tb, self.arch_a, self.arch_b)
        facts = ca.arch_facts(get_arch(self.arch_a), get_arch(self.arch_b))
        return ca.judge(doc["name"], result, ha, hb, facts)

    def run(self, programs: int, echo: Callable[[str], None]) -> None:
        started = time.monotonic()
        for i in range(programs):
            doc = gen.generate(self.seed, i, self.arch_a)
            doc["name"] = f"xarch-{self.seed}-{i}"
            self.programs += 1
            for d in self.differences(doc) or []:
                self.counts[d.verdict] = self.counts.get(d.verdict, 0) + 1
                key = (d.where.rsplit(", ", 1)[-1].split(" ")[0], d.field)
                if d.verdict == ca.UNEXPLAINED and key not in self.unexplained:
                    self.unexplained[key] = d
                    self.write(len(self.unexplained), doc, d)
                    echo(f"fuzz: unexplained {self.arch_a}/{self.arch_b} difference: {d.line()}")
            if (i + 1) % 100 == 0:
                echo(f"fuzz: {i + 1} programs ({(i + 1) / (time.monotonic() - started):.0f}/s), {self.counts}")
        _mkdir(self.out)
        write_atomic(self.out / "crossarch.json", json.dumps(self.summary(), indent=1, default=str) + "\n")

    def write(self, n: int, doc: gen.Doc, d: ca.ArchDifference) -> None:
        target = self.out / "findings" / f"{n:03d}-xarch-{d.field}".replace("/", "_")
        _mkdir(target)
        write_atomic(target / "scenario.yaml", gen.to_yaml(doc, f"{self.arch_a} vs {self.arch_b}: {d.line()}"))
        write_atomic(target / "difference.txt", d.line() + "\n")

    def summary(self) -> dict[str, Any]:
        return {"arch_a": self.arch_a, "arch_b": self.arch_b, "profile": self.profile, "seed": self.seed,
                "programs": self.programs, "counts": self.counts,
                "unexplained": [d.line() for d in self.unexplained.values()]}
