"""`harness run`: flags into RunOptions, then harness.run.runner does the rest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from harness.errors import ExitCode
from harness.qemu.mediakind import DiskBoot
from harness.report.progress import Progress
from harness.report.result import RunResult
from harness.report.text import run_summary_line, verdict_lines
from harness.run.runner import RunOptions, RunUI, execute

POINTER = """\
No kernel given, so this ran the corpus on the golden model only.
To run it against a real 9front kernel under QEMU:
    make run ARCH=amd64 KERNEL=/path/to/9pc64 AGENT=/path/to/nhagent.6
    make run ARCH=arm64 KERNEL=/path/to/9qemu.u AGENT=/path/to/nhagent.7
or  .venv/bin/harness run --arch amd64 --kernel 9pc64 --agent nhagent.6 [--syscall rfork] [--jobs 2]
Build the agent with the 9front compilers from harness/guest/agent (mk; see README).  Without
--agent the harness builds it inside the guest when the guest has compilers, and caches it.
Without a kernel, `harness run --simulate --arch amd64` exercises the whole pipeline on a SIMULATED console."""


@click.command("run")
@click.argument("scenarios", nargs=-1, type=click.Path())
@click.option("--syscall", help="Only scenarios covering this system call.")
@click.option("--arch", help="amd64, arm64 or mips (required with --kernel).")
@click.option("--kernel", type=click.Path(dir_okay=False), help="The 9front kernel to boot (9pc64, 9qemu.u).")
@click.option("--image", help="A kernel, release ISO or disk image named in images/*.toml: fetched, "
              "sha256-checked, booted (arch and profiles from its manifest unless given).")
@click.option("--iso", type=click.Path(exists=True, dir_okay=False),
              help="A 9front release ISO (amd64, .iso or .iso.gz): its kernel boots with the ISO as CD and root; "
                   "the agent is built by the live system's compilers.")
@click.option("--disk", type=click.Path(exists=True, dir_okay=False),
              help="An installed 9front disk image (raw or qcow2, amd64 or arm64), booted by its own loader from a "
                   "copy-on-write overlay with console=0 in plan9.ini; the image itself is only read.")
@click.option("--disk-boot", type=click.Choice([d.value for d in DiskBoot]), default=DiskBoot.LOADER.value,
              show_default=True, help="With --disk: the image's own boot loader, or -kernel its plan9.ini's bootfile.")
@click.option("--bootargs", help="Answer to 'bootargs is' (default: the ISO's CD; for a disk, its plan9.ini's default).")
@click.option("--agent", type=click.Path(exists=True, dir_okay=False),
              help="The guest agent built for ARCH (default: cached, else built inside the guest).")
@click.option("--profile", help="Kernel semantic profile the model uses (see `harness profiles`).")
@click.option("--qemu-profile", help="QEMU profile (default: the arch; e.g. arm64-uboot).")
@click.option("--jobs", type=click.IntRange(1, 64), default=1, show_default=True, help="VMs in parallel.")
@click.option("--results", "results_base", default="results", show_default=True, type=click.Path(file_okay=False),
              help="Directory that receives one sub-directory per run.")
@click.option("--timeout", type=float, default=120.0, show_default=True,
              help="Seconds per scenario before it counts as a hang (> 0).")
@click.option("--boot-scale", type=float, default=1.0, show_default=True,
              help="Multiply boot timeouts (slow hosts; > 0).")
@click.option("--simulate", is_flag=True, help="Use the SIMULATED 9front console instead of QEMU (pipeline testing).")
@click.option("--fault", help="With --simulate: inject a fault, KIND[:SCENARIO] (see harness/guest/simulator.py).")
@click.option("--ktrace", is_flag=True,
              help="Also collect the kernel's own syscall trace (agent -t) and cross-check the agent's records "
                   "with it (NAME.ktrace.txt/.json; a note, not a verdict).")
@click.option("--repeat", type=click.IntRange(1, 100), default=1, show_default=True,
              help="Run each scenario N times from the same snapshot and report, per field, what the model "
                   "masks but never varied and what it compares but varied (repeat.json, repeat.txt).")
@click.option("--baseline", type=click.Path(exists=True, dir_okay=False),
              help="Known divergences ([[known]] TOML, as `harness nightly`; cell = PROFILE-ARCH): a divergence "
                   "it explains is shown as known and does not fail the run.")
@click.option("--shard", metavar="I/N|auto",
              help="Run only shard I of N (0-based, like JOB_COMPLETION_INDEX); 'auto' reads the index "
                   "from NH_SHARD, JOB_COMPLETION_INDEX or CI_NODE_INDEX (docs/SCALE.md).")
@click.option("--durations", type=click.Path(exists=True),
              help="With --shard: a previous summary.json; balance shards by its scenario times.")
@click.option("--run-id", help="Id shared by all shards of one run (default: NH_RUN_ID or the CI's run id).")
@click.option("--host", "hosts", multiple=True, metavar="USER@HOST[:PORT]",
              help="Run QEMU on this SSH host (repeat for several; workers go round robin; needs --agent). "
                   "Host keys must be in known_hosts; keys or ssh-agent only (docs/SCALE.md).")
@click.option("--ssh-identity", type=click.Path(exists=True, dir_okay=False),
              help="With --host: the private key (default: ssh-agent and ~/.ssh/id_*).")
@click.option("--known-hosts", type=click.Path(dir_okay=False),
              help="With --host: the known_hosts file (default: ~/.ssh/known_hosts).")
def run(scenarios: tuple[str, ...], **flags: Any) -> int:
    """Run SCENARIOS (default: the whole corpus) on the model and in a 9front guest, and diff them.

    One verdict per scenario: pass, diverged, guest-crash, boot-crash, infra-error or internal-error.
    Exit 0 all pass, 1 divergence or kernel crash, 3 infrastructure or internal failure, 2 bad input;
    interrupted: 130 (SIGINT), 143 (SIGTERM), 129 (SIGHUP).
    """
    opts = RunOptions(scenarios=list(scenarios), **flags)
    if not opts.guest:
        from harness.cli.model_cmd import model

        rc = click.get_current_context().invoke(
            model, scenarios=scenarios, arch=opts.arch, profile=opts.profile, syscall=opts.syscall,
            outdir=str(Path(opts.results_base) / "model"), agent=opts.agent, quiet=True)
        click.echo(POINTER)
        return int(rc)
    ui = RunUI(say=click.echo, warn=lambda s: click.echo(s, err=True), progress=Progress(verdict_lines),
               summary=_print_summary)
    return execute(opts, ui)


def _print_summary(run: RunResult, root: Path) -> None:
    click.echo(run_summary_line(run, str(root)))


__all__ = ["ExitCode", "run"]

