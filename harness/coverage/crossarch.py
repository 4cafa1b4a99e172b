"""The same programs on two arches of the model: where they differ, and whether an
arch rule the model knows explains each difference.

A difference is *known* when the two runs reached different rule sites (an
arch decided a different kernel branch: a magic the other arch refuses, a
segment alignment), or when the two values differ by the arch facts of
harness.model.arch (an address built from UTZERO, USTKTOP, the page size, a
text alignment).  Anything else is *unexplained*: either the model has an
arch rule nobody wrote down as such, or the arches really differ there and a
guest run on both must say which.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.coverage.collect import run_model
from harness.model.arch import Arch, get_arch
from harness.trace import diff as tdiff
from harness.trace.schema import Header, Trace

KNOWN_SITES = "known: arch rule (rule sites)"
KNOWN_FACT = "known: arch fact"
UNEXPLAINED = "unexplained"


@dataclass
class ArchDifference:
    scenario: str
    where: str
    field: str
    a: Any
    b: Any
    verdict: str
    why: str

    def line(self) -> str:
        return f"{self.scenario}: {self.where} {self.field}: {self.a!r} | {self.b!r}: {self.verdict} ({self.why})"


@dataclass
class CrossArch:
    arch_a: str
    arch_b: str
    profile: str
    scenarios: int = 0
    differing: int = 0
    differences: list[ArchDifference] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for d in self.differences:
            key = d.verdict.split(" (")[0]
            out[key] = out.get(key, 0) + 1
        return out

    def summary(self) -> str:
        c = self.counts()
        parts = ", ".join(f"{n} {k}" for k, n in sorted(c.items()))
        return (f"cross-arch {self.arch_a} vs {self.arch_b} ({self.profile}): {self.scenarios} scenarios,"
                f" {self.differing} differ, {len(self.differences)} differences" + (f": {parts}" if parts else ""))

    def to_json(self) -> dict[str, Any]:
        return {"arch_a": self.arch_a, "arch_b": self.arch_b, "profile": self.profile, "scenarios": self.scenarios,
                "differing": self.differing, "counts": self.counts(),
                "differences": [dataclasses.asdict(d) for d in self.differences]}


def arch_facts(a: Arch, b: Arch) -> dict[str, tuple[int, int]]:
    """The numeric facts that differ between the arches (name -> (a's, b's))."""
    out: dict[str, tuple[int, int]] = {}
    for f in dataclasses.fields(Arch):
        va, vb = getattr(a, f.name), getattr(b, f.name)
        if isinstance(va, int) and not isinstance(va, bool) and va != vb:
            out[f.name] = (va, vb)
    for name in ("stack_base",):
        va, vb = getattr(a, name), getattr(b, name)
        if va != vb:
            out[name] = (va, vb)
    return out


def _numbers(v: Any) -> set[int]:
    import re

    text = str(v)
    return {int(x, 16) for x in re.findall(r"0x([0-9a-fA-F]+)", text)} | {int(x) for x in re.findall(r"\b\d{4,}\b", text)}


def classify(a: Any, b: Any, facts: dict[str, tuple[int, int]]) -> str | None:
    """The arch fact that explains A vs B, if any: a value that is the arch's own number
    (or within a text alignment / page of one, as segment ends are)."""
    na, nb = _numbers(a), _numbers(b)
    for name, (fa, fb) in facts.items():
        if fa in na and fb in nb:
            return name
    for name in ("utzero", "ustktop", "stack_base"):
        if name not in facts:
            continue
        fa, fb = facts[name]
        if any(abs(x - fa) < 0x1000000 for x in na) and any(abs(x - fb) < 0x1000000 for x in nb):
            return f"{name}-relative"
    return None


def compare(files: list[Path], arch_a: str, arch_b: str, profile: str, root: Path | None = None) -> CrossArch:
    from harness.coverage.collect import _name
    from harness.scenario.compiler import compile_scenario

    out = CrossArch(arch_a, arch_b, profile)
    facts = arch_facts(get_arch(arch_a), get_arch(arch_b))
    for f in files:
        sa, sb = compile_scenario(f, arch_a), compile_scenario(f, arch_b)
        if not (sa.runs_on(arch_a, profile) and sb.runs_on(arch_b, profile)):
            continue
        name = _name(f, root)
        out.scenarios += 1
        ra, ha = run_model(sa.program, arch_a, profile)
        rb, hb = run_model(sb.program, arch_b, profile)
        ta = Trace(Header(source=arch_a, scenario=sa.name, arch=arch_a, profile=profile), ra)
        tb = Trace(Header(source=arch_b, scenario=sb.name, arch=arch_b, profile=profile), rb)
        result = tdiff.diff(ta, tb, arch_a, arch_b)
        if result.identical:
            continue
        out.differing += 1
        out.differences += judge(name, result, ha, hb, facts)
    return out


def judge(name: str, result: tdiff.DiffResult, ha: set[str], hb: set[str],
          facts: dict[str, tuple[int, int]]) -> list[ArchDifference]:
    """Each divergence of RESULT (two arches' traces) with its verdict; HA, HB: the
    rule sites each run reached."""
    only = sorted(ha ^ hb)
    out = []
    for d in result.divergences:
        fact = classify(d.a, d.b, facts) if d.kind == tdiff.FIELD else None
        if only:
            verdict, why = KNOWN_SITES, "sites on one arch only: " + ", ".join(only[:4])
        elif fact:
            verdict, why = KNOWN_FACT, fact
        else:
            verdict, why = UNEXPLAINED, "no arch rule of the model names it"
        out.append(ArchDifference(name, d.where, d.field or d.kind, d.a, d.b, verdict, why))
    return out


def render(c: CrossArch) -> str:
    lines = [c.summary(), ""]
    for verdict in (UNEXPLAINED, KNOWN_SITES, KNOWN_FACT):
        ds = [d for d in c.differences if d.verdict == verdict]
        if ds:
            lines.append(f"{verdict} ({len(ds)}):")
            lines += [f"  {d.line()}" for d in ds]
            lines.append("")
    return "\n".join(lines)
