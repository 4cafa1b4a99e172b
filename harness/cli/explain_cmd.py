"""`harness explain`: which profile switch makes the model reproduce a guest trace."""

from __future__ import annotations

from pathlib import Path

import click

from harness.errors import ExitCode, InputError, UsageError
from harness.scenario.compiler import Scenario
from harness.trace.schema import Trace


@click.command("explain")
@click.argument("traces", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--profile", help="Base profile (default: the trace's, else the arch's default).")
@click.option("--scenario", "scenario_file", type=click.Path(dir_okay=False),
              help="The scenario of a single trace (default: the header's meta.scenario_path, else the corpus by name).")
@click.option("--agent", type=click.Path(exists=True, dir_okay=False), help="The guest agent the run used (for the model's loader).")
def explain(traces: tuple[str, ...], profile: str | None, scenario_file: str | None, agent: str | None) -> int:
    """Search single profile switches, turned on or off from the base profile, for one
    that makes the model reproduce every GUEST_TRACE (ARCH/NAME.guest.jsonl of a run).

    Exit 0 explained (or the base profile already reproduces them), 1 no switch explains it, 2 bad input.
    """
    from harness.bisect.explain import ModelRun
    from harness.bisect.explain import explain as do_explain
    from harness.model.profiles import PROFILES, get_profile
    from harness.run.modelrun import default_profile
    from harness.trace.schema import read_trace

    if scenario_file and len(traces) > 1:
        raise UsageError("--scenario names the scenario of a single trace")
    loaded = [read_trace(t) for t in traces]
    arches = {t.header.arch for t in loaded}
    if len(arches) != 1:
        raise UsageError(f"the traces are of different arches: {', '.join(sorted(arches))}")
    arch = arches.pop()
    if any(t.header.source != "guest" for t in loaded):
        raise UsageError("explain reads guest traces (NAME.guest.jsonl); a model trace needs no explaining")
    base = profile or next((t.header.profile for t in loaded if t.header.profile in PROFILES), default_profile(arch))
    get_profile(base)
    runs = [ModelRun(_scenario(t, Path(p), scenario_file, arch), t) for t, p in zip(loaded, traces, strict=True)]
    scratch = {str(t.header.meta.get("scratch_server") or "perm") for t in loaded}
    if len(scratch) != 1:
        raise UsageError("the traces come from guests with different scratch file servers")
    crashed = [t.header.scenario for t in loaded if t.header.meta.get("crash")]
    if crashed:
        click.echo(f"explain: note: the guest crashed in {', '.join(crashed)}; the model does not crash", err=True)
    result = do_explain(runs, arch, base, Path(agent).read_bytes() if agent else None, scratch.pop())
    for line in result.lines():
        click.echo(line)
    return ExitCode.OK if result.explained else ExitCode.DIVERGED


def _scenario(trace: Trace, path: Path, override: str | None, arch: str) -> Scenario:
    from harness.scenario.compiler import compile_scenario, default_corpus

    name = trace.header.scenario
    candidates = [Path(override)] if override else []
    meta_path = trace.header.meta.get("scenario_path")
    if not override and meta_path:
        candidates.append(Path(str(meta_path)))
    if not override:
        candidates += sorted(default_corpus().rglob(f"{name}.yaml"))
    for c in candidates:
        if c.is_file():
            sc = compile_scenario(c, arch)
            if sc.name != name:
                raise UsageError(f"{path}: the trace is of scenario {name!r}, {c} is {sc.name!r}")
            return sc
    raise InputError(f"{path}: cannot find scenario {name!r} (give it with --scenario FILE)")
