"""Run compiled scenarios on the golden model and keep the traces."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.model.profiles import CURRENT, SEED
from harness.scenario.compiler import Scenario, compile_scenario
from harness.scenario.expect import Mismatch, check
from harness.trace.schema import Header, Record, Trace, write_trace

# The arches the harness boots under QEMU; `--arch all` adds every modelled arch.
QEMU_ARCHES = ("amd64", "arm64", "mips")

# Default profile per arch: the oldest kernel that has the port.  arm64's QEMU
# kernel and the mt7688 (mips LE) port only exist after the seed (SPEC 3.4).
DEFAULT_PROFILE_BY_ARCH = {"amd64": SEED, "386": SEED, "mips": SEED, "arm64": CURRENT, "mipsle": CURRENT}


def default_profile(arch: str) -> str:
    return DEFAULT_PROFILE_BY_ARCH.get(arch, SEED)


@dataclass
class ModelResult:
    scenario: Scenario
    arch: str
    profile: str
    records: list[Record]
    mismatches: list[Mismatch] = field(default_factory=list)
    trace_path: Path | None = None


def model_trace(scenario: Scenario, arch: str, profile: str, agent_image: bytes | None = None,
                scratch_server: str = "perm") -> Trace:
    from harness.model.machine import Machine

    records = Machine(arch=arch, profile=profile, agent_image=agent_image,
                      scratch_server=scratch_server).run(scenario.program)
    header = Header(
        source="model",
        scenario=scenario.name,
        arch=arch,
        profile=profile,
        meta={"scenario_path": scenario.path, "source_lines": {str(k): v for k, v in scenario.source_lines.items()}},
    )
    return Trace(header, records)


def run_on_model(
    path: Path, arch: str, profile: str, outdir: Path | None = None, agent_image: bytes | None = None
) -> ModelResult | None:
    """Compile PATH for ARCH and run it; None when the scenario does not apply to this arch/profile."""
    scenario = compile_scenario(path, arch)
    if not scenario.runs_on(arch, profile):
        return None
    trace = model_trace(scenario, arch, profile, agent_image)
    result = ModelResult(scenario, arch, profile, trace.records, check(scenario, trace.records, arch, profile))
    if outdir is not None:
        dest = outdir / arch
        dest.mkdir(parents=True, exist_ok=True)
        result.trace_path = dest / f"{scenario.name}.model.jsonl"
        write_trace(result.trace_path, trace)
    return result
