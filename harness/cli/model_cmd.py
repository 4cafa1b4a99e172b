"""`harness model`, `harness compile`, `harness profiles`."""

from __future__ import annotations

from pathlib import Path

import click

from harness.errors import HarnessError, UsageError
from harness.files import write_atomic
from harness.model.arch import QEMU_ARCHES
from harness.model.profiles import PROFILES, SWITCHES, get_profile
from harness.report.progress import Progress
from harness.report.result import Command, RunResult
from harness.report.results import summary_json
from harness.report.text import model_summary_line, model_verdict_lines
from harness.run.modelrun import default_profile, run_on_model
from harness.scenario.compiler import check_scenarios, compile_scenario, find_scenarios


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
@click.option("-q", "--quiet", is_flag=True, help="Only the summary line (and what disagrees).")
@click.option("--summary", "summary_path", type=click.Path(dir_okay=False),
              help="Also write the run as JSON (the summary.json format of `harness run`).")
def model(scenarios: tuple[str, ...], arch: str | None, profile: str | None, syscall: str | None,
          outdir: str, agent: str | None, quiet: bool, summary_path: str | None = None) -> int:
    """Run SCENARIOS (files or directories; default: the whole corpus) on the golden model.

    Writes one trace per scenario and arch, and checks the expectations the
    scenarios carry.  Exit 0 when every expectation holds, 1 otherwise.
    """
    if profile:
        get_profile(profile)
    arches = resolve_arches(arch)
    files = find_scenarios(list(scenarios) or None, syscall)
    if not files:
        raise UsageError("no scenarios matched")
    check_scenarios(files, arches)  # every malformed file listed, nothing run
    agent_image = Path(agent).read_bytes() if agent else None
    run = RunResult(Command.MODEL, arch=",".join(arches),
                    profile=profile or ",".join(sorted({default_profile(a) for a in arches})))
    try:
        with Progress(lambda v, _colour: model_verdict_lines(v), quiet=quiet) as progress:
            _run_model(run, arches, files, profile, Path(outdir), agent_image, progress)
    except KeyboardInterrupt:
        run.finish(interrupted=True, exit_code=130)
        if summary_path:
            write_atomic(Path(summary_path), summary_json(run))
        raise
    run.scenarios = len(run.verdicts)
    run.finish()
    click.echo(model_summary_line(run, outdir))
    if summary_path:
        write_atomic(Path(summary_path), summary_json(run))
    return run.exit_code


def _run_model(run: RunResult, arches: list[str], files: list[Path], profile: str | None, outdir: Path,
               agent_image: bytes | None, progress: Progress) -> None:
    progress.start(len(arches) * len(files))
    for a in arches:
        prof = profile or default_profile(a)
        for f in files:
            v = run_on_model(f, a, prof, outdir, agent_image)
            if v is None:
                progress.skip()
                continue
            run.verdicts.append(v)
            progress.scenario_done(v.scenario, v)


@click.command("compile")
@click.argument("scenarios", nargs=-1, type=click.Path())
@click.option("--arch", default="amd64", show_default=True, help="Arch the program is for.")
@click.option("-o", "--out", "outdir", type=click.Path(file_okay=False), help="Write NAME.nhprog files here instead of stdout.")
def compile_cmd(scenarios: tuple[str, ...], arch: str, outdir: str | None) -> int:
    """Compile scenarios into the line program the model and the guest agent execute."""
    resolve_arches(arch)
    files = find_scenarios(list(scenarios) or None)
    check_scenarios(files, [arch])
    for f in files:
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
