"""Run programs on the model and record the rule sites each reaches."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from harness.model.coverage import recording
from harness.model.profiles import Profile
from harness.program import Program
from harness.trace.schema import Record


@dataclass
class Coverage:
    """Site id -> the names (scenarios, programs) that reached it."""

    arch: str
    profile: str
    hits: dict[str, list[str]] = field(default_factory=dict)
    runs: int = 0

    def add(self, name: str, sites: Iterable[str]) -> set[str]:
        """Record NAME's sites; return the ones nobody had reached before."""
        self.runs += 1
        new = set()
        for s in sorted(set(sites)):
            who = self.hits.setdefault(s, [])
            if not who:
                new.add(s)
            who.append(name)
        return new

    def reached(self) -> set[str]:
        return {s for s, who in self.hits.items() if who}

    def to_json(self) -> dict[str, object]:
        return {"arch": self.arch, "profile": self.profile, "runs": self.runs,
                "hits": {s: sorted(set(w)) for s, w in sorted(self.hits.items())}}


def run_model(program: Program, arch: str, profile: str | Profile, agent_image: bytes | None = None,
              scratch_server: str = "perm") -> tuple[list[Record], set[str]]:
    """The model's records for PROGRAM and the rule sites it reached.  PROFILE is a
    profile name or a Profile (a simulated kernel's)."""
    from harness.model.machine import Machine

    with recording() as hits:
        records = Machine(arch=arch, profile=profile, agent_image=agent_image,
                          scratch_server=scratch_server).run(program)
    return records, set(hits)


def corpus(files: list[Path], arch: str, profile: str, root: Path | None = None) -> tuple[Coverage, list[str]]:
    """The coverage of scenario FILES on the model; also the names of those that
    do not run on ARCH/PROFILE (skipped)."""
    from harness.scenario.compiler import compile_scenario

    cov = Coverage(arch, profile)
    skipped = []
    for f in files:
        sc = compile_scenario(f, arch)
        name = _name(f, root)
        if not sc.runs_on(arch, profile):
            skipped.append(name)
            continue
        _records, hits = run_model(sc.program, arch, profile)
        cov.add(name, hits)
    return cov, skipped


def _name(f: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return str(f.resolve().relative_to(root.resolve()))
        except ValueError:
            pass
    return f"{f.parent.name}/{f.name}"
