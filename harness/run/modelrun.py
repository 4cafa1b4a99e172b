"""Run compiled scenarios on the golden model and keep the traces."""

from __future__ import annotations

import time
from pathlib import Path

from harness.files import write_error
from harness.model.arch import ALL_ARCHES
from harness.model.profiles import SEED
from harness.report.result import Status, Verdict
from harness.scenario.compiler import Scenario, compile_scenario
from harness.scenario.expect import check
from harness.trace.schema import Header, Trace, write_trace

# Default profile per arch: the oldest kernel that has the port (harness.model.arch).
DEFAULT_PROFILE_BY_ARCH = {name: a.default_profile for name, a in ALL_ARCHES.items()}


def default_profile(arch: str) -> str:
    return DEFAULT_PROFILE_BY_ARCH.get(arch, SEED)


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
) -> Verdict | None:
    """Compile PATH for ARCH and run it; None when the scenario does not apply to this arch/profile.

    The verdict is PASS when the model's trace meets the scenario's expectations,
    MISMATCH (each one a line of ``detail``) when it does not."""
    started = time.monotonic()
    scenario = compile_scenario(path, arch)
    if not scenario.runs_on(arch, profile):
        return None
    trace = model_trace(scenario, arch, profile, agent_image)
    mismatches = check(scenario, trace.records, arch, profile)
    verdict = Verdict(scenario.name, arch, profile, Status.MISMATCH if mismatches else Status.PASS,
                      summary=str(mismatches[0]) if mismatches else "",
                      detail="\n".join(str(m) for m in mismatches), records=len(trace.records))
    if outdir is not None:
        dest = outdir / arch
        try:
            dest.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise write_error(dest, e) from None
        trace_path = dest / f"{scenario.name}.model.jsonl"
        write_trace(trace_path, trace)
        verdict.files["model"] = str(trace_path)
    verdict.seconds = round(time.monotonic() - started, 3)
    return verdict
