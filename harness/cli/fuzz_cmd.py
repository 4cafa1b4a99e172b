"""`harness fuzz`: generated programs on the model and a guest; divergences minimised to scenarios."""

from __future__ import annotations

import re
import signal
import sys
from pathlib import Path
from types import FrameType

import click

from harness.errors import HarnessError, UsageError


def parse_duration(text: str) -> float:
    """'90', '90s', '10m', '1h', '1h30m' -> seconds."""
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?", text.strip())
    if not text.strip() or parts is None or not any(parts.groups()):
        raise UsageError(f"bad --budget {text!r}: a duration like 90s, 10m or 1h")
    h, m, s = (int(x or 0) for x in parts.groups())
    return float(h * 3600 + m * 60 + s)


def simulated_profile(spec: str, base: str) -> object:
    """'+a-b' or 'PROFILE+a-b': the model under that profile stands for the guest."""
    from harness.guest.simkernel import profile_with

    m = re.fullmatch(r"([^+-]*(?:-[0-9.]+)?)((?:[+-][a-z0-9-]+?)*)", spec)
    head = spec.split("+", 1)[0] if not spec.startswith(("+", "-")) else ""
    if m is None:
        raise UsageError(f"bad --simulate-profile {spec!r}: [PROFILE]+SWITCH-SWITCH...")
    rest = spec[len(head):]
    switches = re.findall(r"[+-](?:[a-z0-9]+(?:-[a-z0-9]+)*)", rest)
    if "".join(switches) != rest:
        raise UsageError(f"bad --simulate-profile {spec!r}: [PROFILE]+SWITCH-SWITCH...")
    return profile_with(head or base, switches)


@click.command("fuzz")
@click.option("--arch", required=True, help="amd64, arm64, mips, ... (the guest's).")
@click.option("--kernel", help="The guest kernel: a 9front kernel under QEMU, or a [simulated-kernel] file.")
@click.option("--against", help="A second kernel: kernel against kernel (no model in the verdict).")
@click.option("--simulate-profile", "simprof", help="No guest: the model under [PROFILE]+SWITCH-SWITCH stands for it (SIMULATED).")
@click.option("--cross-arch", "cross_arch", help="No guest: the programs on --arch and this arch of the model, "
              "differences no arch rule explains written as findings.")
@click.option("--agent", type=click.Path(exists=True, dir_okay=False), help="The guest agent a.out (real kernels).")
@click.option("--profile", help="The model's profile (default: the arch's oldest kernel).")
@click.option("--budget", help="Stop after this long (90s, 10m, 1h).")
@click.option("--programs", type=click.IntRange(1), help="Stop after this many programs.")
@click.option("--seed", type=int, default=0, show_default=True, help="The generator's seed.")
@click.option("--jobs", type=click.IntRange(1, 64), default=1, show_default=True, help="Guests in parallel.")
@click.option("--batch", type=click.IntRange(1, 10000),
              help="Programs per guest batch: one delivery, one boot for a real guest (default 32; 256 on a real kernel).")
@click.option("--no-restore", is_flag=True,
              help="Real kernels: do not restore the booted snapshot after each program (faster; files a program "
                   "leaves in the scratch directory then reach the next ones, which the model does not see).")
@click.option("--timeout", type=float, default=60.0, show_default=True, help="Seconds per program in a guest.")
@click.option("--no-minimise", is_flag=True, help="Keep disagreeing programs as generated.")
@click.option("--max-findings", type=click.IntRange(1), help="Stop once this many distinct divergences are found.")
@click.option("-o", "--out", "outdir", type=click.Path(file_okay=False), default="results/fuzz", show_default=True,
              help="findings/NNN-SIGNATURE/{scenario.yaml,diff.txt}, corpus/, summary.json.")
def fuzz(arch: str, kernel: str | None, against: str | None, simprof: str | None, agent: str | None,
         profile: str | None, budget: str | None, programs: int | None, seed: int, jobs: int, batch: int | None,
         timeout: float, no_minimise: bool, outdir: str, max_findings: int | None = None,
         no_restore: bool = False, cross_arch: str | None = None) -> int:
    """Generate programs from the operations catalogue, run each on the model and in the guest,
    and minimise every disagreement to a scenario (deduplicated by op, field and kind).

    Exit 0 when no divergence was found, 1 when one was, 2 bad input, 3 infrastructure.
    """
    from harness.fuzz.engine import FuzzConfig, Fuzzer
    from harness.fuzz.target import ModelTarget, Target, guest_targets
    from harness.model.arch import ARCHES
    from harness.model.profiles import Profile, get_profile
    from harness.report.results import ResultsDir
    from harness.run.modelrun import default_profile

    if arch not in ARCHES:
        raise UsageError(f"unknown arch {arch!r} (known: {', '.join(ARCHES)})")
    if cross_arch is not None:
        return _cross_arch(arch, cross_arch, profile, seed, programs or 1000, Path(outdir))
    if sum(x is not None for x in (kernel, simprof)) != 1:
        raise UsageError("give the guest: --kernel K or --simulate-profile SPEC (one of them)")
    if against and not kernel:
        raise UsageError("--against B compares with --kernel A")
    prof = profile or default_profile(arch)
    get_profile(prof)
    from harness.guest.simkernel import is_simulated_kernel

    real = kernel is not None and not is_simulated_kernel(kernel)
    cfg = FuzzConfig(arch=arch, seed=seed, programs=programs, batch=batch or (256 if real else 32),
                     minimise=not no_minimise,
                     max_findings=max_findings,
                     budget=parse_duration(budget) if budget else None)
    if cfg.programs is None and cfg.budget is None:
        cfg.budget = 600.0  # the default: ten minutes
    out = Path(outdir)
    reference: Target | None = None
    if simprof is not None:
        sp = simulated_profile(simprof, prof)
        assert isinstance(sp, Profile)
        model = ModelTarget(arch, prof)
        guests: list[Target] = [ModelTarget(arch, sp, label=f"SIMULATED model {sp.name}", simulated=True,
                                            source="guest") for _ in range(1)]
    else:
        assert kernel is not None
        results = ResultsDir.create(str(out / "runs"), arch)
        results.meta = {"arch": arch, "profile": prof, "kernel": kernel, "command": "fuzz"}
        guests_, model = guest_targets(kernel, arch, prof, results, jobs, agent, timeout, say=click.echo,
                                       restore_each=not no_restore)
        guests = list(guests_)
        if against:
            refs, _m = guest_targets(against, arch, prof, results, 1, agent, timeout, say=click.echo,
                                     restore_each=not no_restore)
            reference, guests = guests[0], list(refs)
    fz = Fuzzer(cfg, model, guests, out, reference=reference, echo=lambda s: click.echo(s, err=True))
    what = f"{reference.label} against {guests[0].label}" if reference else f"model {prof} against {guests[0].label}"
    limit = f"{cfg.programs} programs" if cfg.programs else f"{cfg.budget:.0f}s"
    click.echo(f"fuzz: {arch}, {what}, seed {seed}, {limit}, {len(guests)} job(s); results in {out}/")

    def stop(signum: int, _frame: FrameType | None) -> None:
        fz.stop.set()  # the batch in hand ends, then everything is written

    old = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        fz.run()
    except KeyboardInterrupt:
        fz.write_summary()
        click.echo(f"fuzz: interrupted; {fz.progress_line()[6:]}", err=True)
        return 130
    except HarnessError:
        fz.write_summary()  # what was found before the guest failed (a boot, the disk) is kept
        raise
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        for g in [*guests, *([reference] if reference else [])]:
            g.close()
    for f in fz.findings.values():
        click.echo(f"divergence {f.signature}: {f.steps} steps, seen {f.seen}x (first: program {f.program})")
    click.echo(fz.progress_line())
    if fz.stop.is_set():
        return 143
    return 1 if fz.findings else 0


def _cross_arch(arch: str, other: str, profile: str | None, seed: int, programs: int, out: Path) -> int:
    from harness.fuzz.crossarch import CrossFuzz
    from harness.model.arch import ARCHES
    from harness.model.profiles import CURRENT, get_profile

    if other not in ARCHES or other == arch:
        raise UsageError(f"--cross-arch takes another arch (known: {', '.join(ARCHES)})")
    prof = profile or CURRENT
    get_profile(prof)
    cf = CrossFuzz(arch, other, prof, seed, out)
    click.echo(f"fuzz: {programs} programs on {arch} and {other} of the model ({prof}), seed {seed}; results in {out}/")
    cf.run(programs, lambda s: click.echo(s, err=True))
    click.echo(f"fuzz: {cf.programs} programs: {cf.counts}; {len(cf.unexplained)} distinct unexplained")
    return 1 if cf.unexplained else 0


if __name__ == "__main__":
    sys.exit(0)
