"""`harness bisect`: the 9front commit that changed a behaviour (docs/BISECT.md)."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import click

from harness.errors import ExitCode, UsageError


@click.command("bisect")
@click.option("--repo", required=True, type=click.Path(file_okay=False), help="The 9front tree (a git checkout; never modified).")
@click.option("--good", required=True, help="A revision that behaves as it should.")
@click.option("--bad", required=True, help="A later revision that does not.")
@click.option("--arch", required=True, help="amd64, arm64 or mips.")
@click.option("--build", "build_cmd", required=True,
              help="Shell command that builds the kernel, run in the commit's worktree "
                   "(NH_COMMIT, NH_WORKTREE in its environment), e.g. \"cd sys/src/9/pc64 && mk 'CONF=pc64'\".")
@click.option("--kernel-path", required=True, help="Where the build leaves the kernel, relative to the worktree.")
@click.option("--scenario", "scenarios", multiple=True, type=click.Path(), help="Scenario file or directory (repeatable).")
@click.option("--syscall", help="All corpus scenarios covering this system call.")
@click.option("--runs", type=click.IntRange(1, 99), default=3, show_default=True,
              help="Runs per commit; their majority decides and disagreement is flagged flaky.")
@click.option("--retries", type=click.IntRange(0, 9), default=2, show_default=True,
              help="Extra attempts of a run that failed for infrastructure reasons (then the commit is skipped).")
@click.option("--profile", help="Model profile: the base of the explanation (default per arch).")
@click.option("--agent", type=click.Path(exists=True, dir_okay=False), help="The guest agent for ARCH (recommended for real kernels).")
@click.option("--qemu-profile", help="QEMU profile (default: the arch).")
@click.option("--results", "results_base", default="results", show_default=True, type=click.Path(file_okay=False))
@click.option("--third", type=click.Choice(["stop", "skip"]), default="stop", show_default=True,
              help="A commit that behaves like neither end: stop and show it, or skip it.")
@click.option("--boot-crash", type=click.Choice(["skip", "bad"]), default="skip", show_default=True,
              help="A commit whose kernel crashes while booting: skip it, or count it bad.")
@click.option("--timeout", type=float, default=120.0, show_default=True, help="Seconds per scenario before it counts as a hang.")
@click.option("--boot-scale", type=float, default=1.0, show_default=True, help="Multiply boot timeouts (slow hosts).")
@click.option("--build-timeout", type=float, default=3 * 3600.0, show_default=True, help="Seconds per build.")
@click.option("--rebuild", is_flag=True, help="Ignore the build cache (and refresh it).")
def bisect(repo: str, good: str, bad: str, arch: str, build_cmd: str, kernel_path: str, scenarios: tuple[str, ...],
           syscall: str | None, runs: int, retries: int, profile: str | None, agent: str | None,
           qemu_profile: str | None, results_base: str, third: str, boot_crash: str, timeout: float,
           boot_scale: float, build_timeout: float, rebuild: bool) -> int:
    """Find the first commit between GOOD and BAD whose kernel's guest traces behave like BAD's.

    Exit 0 found, 1 the ends could not be separated reliably (flaky, third behaviour, all skipped),
    2 bad input (also: the ends behave the same), 3 infrastructure (an end could not be built or booted).
    """
    from harness.bisect import git as g
    from harness.bisect.behaviour import Runner, RunSpec
    from harness.bisect.engine import Bisect, BisectConfig, answer_json, render
    from harness.model.arch import QEMU_ARCHES, get_arch
    from harness.model.profiles import get_profile
    from harness.report.result import Command
    from harness.report.results import ResultsDir
    from harness.run.modelrun import default_profile
    from harness.scenario.compiler import compile_scenario, find_scenarios

    if bool(scenarios) == bool(syscall):
        raise UsageError("give the behaviour to bisect: --scenario FILE... or --syscall NAME (one of them)")
    if arch not in QEMU_ARCHES:
        get_arch(arch)
        raise UsageError(f"--arch {arch}: a guest run boots one of {', '.join(QEMU_ARCHES)}")
    prof = profile or default_profile(arch)
    get_profile(prof)
    if Path(kernel_path).is_absolute() or ".." in Path(kernel_path).parts:
        raise UsageError(f"--kernel-path {kernel_path}: must be relative to the worktree, inside it")
    if agent:
        from harness.guest.build import check_agent_image

        check_agent_image(arch, Path(agent).read_bytes(), agent)
    tree = g.open_repo(repo)
    good_c, bad_c = g.resolve(tree, good, "--good"), g.resolve(tree, bad, "--bad")
    if good_c == bad_c:
        raise UsageError("--good and --bad are the same commit")
    if not g.is_ancestor(tree, good_c, bad_c):
        raise UsageError(f"--good {good} is not an ancestor of --bad {bad}")
    compiled = [sc for sc in (compile_scenario(f, arch) for f in find_scenarios(list(scenarios) or None, syscall))
                if not sc.arches or arch in sc.arches]
    if not compiled:
        raise UsageError("no scenarios matched for this arch")
    results = ResultsDir.create(results_base, "bisect", Command.BISECT)
    results.meta = {"repo": str(tree), "good": good_c, "bad": bad_c, "arch": arch, "profile": prof,
                    "build": build_cmd, "kernel_path": kernel_path, "runs": runs,
                    "scenario_names": [sc.name for sc in compiled]}
    cfg = BisectConfig(tree, good_c, bad_c, build_cmd, kernel_path, runs, retries, third == "skip",
                       boot_crash == "bad", rebuild, build_timeout)
    spec = RunSpec(arch, prof, compiled, Path(agent) if agent else None, qemu_profile, boot_scale, timeout)
    click.echo(f"bisect: {len(compiled)} scenario(s) on {arch}; results in {results.root}/")
    engine = Bisect(cfg, Runner(spec), results, say=lambda s: click.echo(s, err=True))
    try:
        with _signals_interrupt():
            outcome = engine.run()
    except KeyboardInterrupt:
        engine.log.note("interrupted")
        (results.root / "steps.jsonl").touch()
        click.echo(f"bisect: interrupted; worktree removed, the steps so far are in {results.root}/", err=True)
        results.finish(interrupted=True, exit_code=130)
        return 130
    text = render(outcome)
    results.path("answer.txt").write_text(text)
    results.path("answer.json").write_text(json.dumps(answer_json(outcome), indent=1) + "\n")
    click.echo(text, nl=False)
    click.echo(f"bisect: {len(outcome.steps)} commit(s) examined, {engine.builder.builds} build(s) run; "
               f"log {results.root / 'bisect.log'}")
    results.finish(exit_code=int(outcome.exit_code))
    return int(outcome.exit_code)


@contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP end the bisect as SIGINT does: cleanly, worktree removed."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


__all__ = ["ExitCode", "bisect"]
