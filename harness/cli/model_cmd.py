"""`harness model`, `harness compile`, `harness profiles`."""

from __future__ import annotations

from pathlib import Path

import click

from harness.errors import ExitCode, HarnessError, UsageError
from harness.model.profiles import PROFILES, SWITCHES, get_profile
from harness.run.modelrun import QEMU_ARCHES, default_profile, run_on_model
from harness.scenario.compiler import compile_scenario, find_scenarios


def resolve_arches(arch: str | None) -> list[str]:
    from harness.model.arch import ARCHES

    if arch in (None, ""):
        return list(QEMU_ARCHES)
    if arch == "all":
        return list(ARCHES)
    names = [a.strip() for a in arch.split(",")]
    for a in names:
        if a not in ARCHES:
            raise UsageError(f"unknown arch {a!r} (known: {', '.join(ARCHES)}, or 'all')")
    return names


@click.command("model")
@click.argument("scenarios", nargs=-1, type=click.Path())
@click.option("--arch", help="amd64, arm64, mips, mipsle, 386, a comma list, or 'all' (default: amd64,arm64,mips).")
@click.option("--profile", help="Kernel semantic profile (default: the oldest kernel with the port; see `harness profiles`).")
@click.option("--syscall", help="Only scenarios covering this system call.")
@click.option("-o", "--out", "outdir", type=click.Path(file_okay=False), default="results/model", show_default=True,
              help="Directory for the traces (ARCH/NAME.model.jsonl).")
@click.option("--agent", type=click.Path(exists=True, dir_okay=False), help="The guest agent a.out, so exec uses its real layout.")
@click.option("-q", "--quiet", is_flag=True, help="Only the summary line.")
def model(scenarios: tuple[str, ...], arch: str | None, profile: str | None, syscall: str | None,
          outdir: str, agent: str | None, quiet: bool) -> int:
    """Run SCENARIOS (files or directories; default: the whole corpus) on the golden model.

    Writes one trace per scenario and arch, and checks the expectations the
    scenarios carry.  Exit 0 when every expectation holds, 1 otherwise.
    """
    if profile:
        get_profile(profile)
    files = find_scenarios(list(scenarios) or None, syscall)
    if not files:
        raise UsageError("no scenarios matched")
    agent_image = Path(agent).read_bytes() if agent else None
    total = bad = 0
    for a in resolve_arches(arch):
        prof = profile or default_profile(a)
        for f in files:
            res = run_on_model(f, a, prof, Path(outdir), agent_image)
            if res is None:
                continue
            total += 1
            status = "ok" if not res.mismatches else "MISMATCH"
            bad += bool(res.mismatches)
            if not quiet or res.mismatches:
                click.echo(f"{status:8} {a:6} {prof:15} {res.scenario.name}  ({len(res.records)} records) -> {res.trace_path}")
            for m in res.mismatches:
                click.echo(f"         {m}")
    click.echo(f"model: {total} scenario runs, {total - bad} agree with their expectations, {bad} do not; traces in {outdir}/")
    return ExitCode.DIVERGED if bad else ExitCode.OK


@click.command("compile")
@click.argument("scenarios", nargs=-1, type=click.Path())
@click.option("--arch", default="amd64", show_default=True, help="Arch the program is for.")
@click.option("-o", "--out", "outdir", type=click.Path(file_okay=False), help="Write NAME.nhprog files here instead of stdout.")
def compile_cmd(scenarios: tuple[str, ...], arch: str, outdir: str | None) -> int:
    """Compile scenarios into the line program the model and the guest agent execute."""
    resolve_arches(arch)
    for f in find_scenarios(list(scenarios) or None):
        sc = compile_scenario(f, arch)
        text = sc.program.dumps()
        if outdir:
            Path(outdir).mkdir(parents=True, exist_ok=True)
            (Path(outdir) / f"{sc.name}.nhprog").write_text(text)
        else:
            click.echo(text, nl=False)
    return 0


@click.command("profiles")
def profiles() -> int:
    """List the kernel semantic profiles, their switches, and the modelled arches."""
    from harness.model.arch import ARCHES

    for p in PROFILES.values():
        click.echo(f"{p.name}: {p.description}")
        for s in sorted(p.switches):
            sw = SWITCHES[s]
            click.echo(f"    {sw.name} ({sw.commit}, {sw.date}): {sw.summary}")
    click.echo("arches: " + ", ".join(f"{a} (default profile {default_profile(a)})" for a in ARCHES))
    return 0


__all__ = ["HarnessError", "compile_cmd", "model", "profiles"]
