"""`harness run`: scenarios through the model and the guest, normalised and diffed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from harness.errors import ExitCode, UsageError
from harness.model.profiles import get_profile
from harness.report.merge import write_junit
from harness.run.modelrun import default_profile
from harness.run.pipeline import RunConfig, run_scenarios
from harness.run.results import ResultsDir
from harness.run.shard import ShardPlan, parse_shard, plan_shard, run_id_from_env
from harness.run.verdict import Status, Verdict, exit_code_for
from harness.scenario.compiler import Scenario, compile_scenario, find_scenarios

if TYPE_CHECKING:
    from harness.remote.ssh import SshConnection

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
@click.option("--image", "image_name", help="A kernel named in images/*.toml: fetched, sha256-checked, booted "
              "(arch and profiles from its manifest unless given).")
@click.option("--agent", type=click.Path(exists=True, dir_okay=False),
              help="The guest agent built for ARCH (default: cached, else built inside the guest).")
@click.option("--profile", help="Kernel semantic profile the model uses (see `harness profiles`).")
@click.option("--qemu-profile", help="QEMU profile (default: the arch; e.g. arm64-uboot).")
@click.option("--jobs", type=click.IntRange(1, 64), default=1, show_default=True, help="VMs in parallel.")
@click.option("--results", "results_base", default="results", show_default=True, type=click.Path(file_okay=False),
              help="Directory that receives one sub-directory per run.")
@click.option("--timeout", type=float, default=120.0, show_default=True, help="Seconds per scenario before it counts as a hang.")
@click.option("--boot-scale", type=float, default=1.0, show_default=True, help="Multiply boot timeouts (slow hosts).")
@click.option("--simulate", is_flag=True, help="Use the SIMULATED 9front console instead of QEMU (pipeline testing).")
@click.option("--fault", help="With --simulate: inject panic|hang|flood|corrupt|exit[:SCENARIO].")
@click.option("--ktrace", is_flag=True,
              help="Also collect the kernel's own syscall trace (agent -t) and cross-check the agent's records "
                   "with it (NAME.ktrace.txt/.json; a note, not a verdict).")
@click.option("--shard", "shard_text", metavar="I/N|auto",
              help="Run only shard I of N (0-based, like JOB_COMPLETION_INDEX); 'auto' reads the index "
                   "from NH_SHARD, JOB_COMPLETION_INDEX or CI_NODE_INDEX (docs/SCALE.md).")
@click.option("--durations", type=click.Path(exists=True),
              help="With --shard: a previous summary.json; balance shards by its scenario times.")
@click.option("--run-id", help="Id shared by all shards of one run (default: NH_RUN_ID or the CI's run id).")
@click.option("--host", "hosts", multiple=True, metavar="USER@HOST[:PORT]",
              help="Run QEMU on this SSH host (repeat for several; needs --agent). Host keys must be in "
                   "known_hosts; keys or ssh-agent only (docs/SCALE.md).")
@click.option("--ssh-identity", type=click.Path(exists=True, dir_okay=False),
              help="With --host: the private key (default: ssh-agent and ~/.ssh/id_*).")
@click.option("--known-hosts", type=click.Path(dir_okay=False),
              help="With --host: the known_hosts file (default: ~/.ssh/known_hosts).")
def run(scenarios: tuple[str, ...], syscall: str | None, arch: str | None, kernel: str | None, agent: str | None,
        profile: str | None, qemu_profile: str | None, jobs: int, results_base: str, timeout: float,
        boot_scale: float, simulate: bool, fault: str | None, ktrace: bool = False,
        image_name: str | None = None, shard_text: str | None = None, durations: str | None = None,
        run_id: str | None = None, hosts: tuple[str, ...] = (), ssh_identity: str | None = None,
        known_hosts: str | None = None) -> int:
    """Run SCENARIOS (default: the whole corpus) on the model and in a 9front guest, and diff them.

    One verdict per scenario: pass, diverged, guest-crash or infra-error.
    Exit 0 all pass, 1 divergence or kernel crash, 3 infrastructure failure, 2 bad input.
    """
    if hosts:
        from harness.remote import require_ssh

        require_ssh()
        from harness.remote.ssh import parse_host

        for h in hosts:
            parse_host(h)  # a bad --host is exit 2 before anything else
        if simulate:
            raise UsageError("--host runs QEMU on SSH hosts: give --kernel (or --image), not --simulate")
        if not agent:
            raise UsageError("--host needs --agent: the agent is built in a local guest, not on the hosts")
    if image_name:
        if kernel or simulate:
            raise UsageError("--image names the kernel: give it instead of --kernel, and not with --simulate")
        from harness import images

        img = images.find_image(image_name)
        if arch and arch != img.arch:
            raise UsageError(f"image {img.name} is for {img.arch}, not {arch}")
        arch, profile = img.arch, profile or img.profile
        qemu_profile = qemu_profile or img.qemu_profile
        kernel = str(images.fetch(img, progress=lambda s: click.echo(s, err=True)))
        click.echo(f"image: {img.name} ({img.sha256[:16]}) -> {kernel}")
    if profile:
        get_profile(profile)
    if fault and not simulate:
        raise UsageError("--fault only applies to --simulate")
    if ktrace and (simulate or not kernel):
        raise UsageError("--ktrace needs a real kernel (--kernel): the kernel's syscall trace comes from the guest")
    if not kernel and not simulate:
        if shard_text or hosts:
            raise UsageError(f"{'--shard' if shard_text else '--host'} is for a guest run: give --kernel or --image"
                             f"{' or --simulate' if shard_text else ''}")
        from harness.cli.model_cmd import model

        ctx = click.get_current_context()
        rc = ctx.invoke(model, scenarios=scenarios, arch=arch, profile=profile, syscall=syscall,
                        outdir=str(Path(results_base) / "model"), agent=agent, quiet=True)
        click.echo(POINTER)
        return int(rc)
    if not arch:
        raise UsageError("--arch is required with --kernel or --simulate")
    if "," in arch or arch == "all":
        raise UsageError("a guest run takes one arch at a time")
    prof = profile or default_profile(arch)
    files = find_scenarios(list(scenarios) or None, syscall)
    compiled = [sc for sc in (compile_scenario(f, arch) for f in files) if sc.runs_on(arch, prof)]
    if not compiled:
        raise UsageError("no scenarios matched")
    plan = _shard_plan(shard_text, durations, compiled, arch, prof, kernel, simulate)
    if plan is not None:
        compiled = [sc for sc in compiled if sc.name in set(plan.names)]
    qemu_binary = ""
    if not simulate:
        from harness.qemu.profiles import check_qemu
        from harness.qemu.profiles import get_profile as get_qemu_profile
        from harness.run.qemusession import check_kernel

        assert kernel is not None
        check_kernel(arch, Path(kernel), qemu_profile)
        qemu_binary = get_qemu_profile(qemu_profile or arch).binary
        if hosts:
            conns = _open_hosts(hosts, ssh_identity, known_hosts, qemu_profile or arch)
        else:
            check_qemu(get_qemu_profile(qemu_profile or arch))  # one clear line and exit 3 before any boot
    results = ResultsDir.create(results_base, f"{arch}{'-sim' if simulate else ''}"
                                + (f"-shard{plan.shard.index}of{plan.shard.count}" if plan else ""))
    results.run_id = run_id or run_id_from_env() or (f"plan-{plan.plan}" if plan else "")
    results.shard = plan.to_json() if plan else None
    if not compiled:  # more shards than scenarios: an empty shard still leaves its summary
        results.meta = {"arch": arch, "profile": prof, "kernel": kernel, "simulated": simulate, "scenarios": 0}
        results.write_summary(finished=True)
        write_junit(results.root / "junit.xml", results.root.name, [])
        click.echo(f"run: shard {plan.shard if plan else ''} has no scenarios; results in {results.root}/")
        return 0
    if not simulate:
        from harness.guest.build import resolve_agent
        from harness.run.qemusession import qemu_session_factory

        assert kernel is not None
        if not agent:
            agent = str(resolve_agent(arch, Path(kernel), qemu_profile, results.path("agent-build", ".keep").parent,
                                      boot_scale, say=click.echo))
        qemu_factory = qemu_session_factory(arch, Path(kernel), Path(agent), qemu_profile, boot_scale, ktrace=ktrace)
        if hosts:
            from harness.remote.session import remote_session_factory

            qemu_factory = remote_session_factory(conns, arch, Path(kernel), Path(agent), qemu_profile, boot_scale,
                                                  ktrace)
    results.meta = {"arch": arch, "profile": prof, "kernel": kernel, "agent": agent, "simulated": simulate,
                    "scenarios": len(compiled), "ktrace": ktrace}
    agent_image = Path(agent).read_bytes() if agent else None
    if agent_image is not None:
        from harness.guest.build import check_agent_image

        check_agent_image(arch, agent_image, str(agent))
    cfg = RunConfig(arch=arch, profile=prof, agent_image=agent_image, scenario_timeout=timeout, jobs=jobs,
                    ktrace=ktrace)
    if simulate:
        from harness.run.simsession import SimulatedSession

        def factory(n: int, rd: ResultsDir) -> SimulatedSession:
            return SimulatedSession(n, rd, arch, prof, fault)

        results.write_versions([])
        run_factory = factory
    else:
        results.write_versions([qemu_binary])
        cfg.symbolise = _symboliser(Path(kernel or ""))
        cfg.scratch_server = "dossrv"  # the scratch dir lives on the FAT delivery disk
        run_factory = qemu_factory  # type: ignore[assignment]
    click.echo(f"run: {len(compiled)} scenarios on {arch} ({prof}){' SIMULATED guest' if simulate else ''}, "
               f"{jobs} job(s); results in {results.root}/")
    try:
        verdicts = run_scenarios(compiled, cfg, run_factory, results, progress=_print_verdict)
    except KeyboardInterrupt:
        results.write_summary(finished=False)
        write_junit(results.root / "junit.xml", results.root.name, [v.to_json() for v in results.verdicts])
        click.echo(f"run: interrupted; what ran so far is in {results.root}/summary.json", err=True)
        return 130
    finally:
        if hosts:
            from harness.remote.session import close_hosts

            close_hosts(conns)
    write_junit(results.root / "junit.xml", results.root.name, [v.to_json() for v in verdicts])
    _print_summary(verdicts, results.root)
    return exit_code_for(verdicts)


def _open_hosts(hosts: tuple[str, ...], identity: str | None,
                known_hosts: str | None, qemu_profile: str) -> list[SshConnection]:
    from harness.qemu.profiles import get_profile as get_qemu_profile
    from harness.remote.session import open_hosts
    from harness.remote.ssh import SshOptions

    opts = SshOptions(known_hosts=Path(known_hosts) if known_hosts else None,
                      identity=Path(identity) if identity else None)
    conns = open_hosts(hosts, opts, get_qemu_profile(qemu_profile))
    click.echo(f"run: QEMU on {', '.join(str(c.spec) for c in conns)}")
    return conns


def _shard_plan(shard_text: str | None, durations: str | None, compiled: list[Scenario], arch: str,
                prof: str, kernel: str | None, simulate: bool) -> ShardPlan | None:
    if shard_text is None:
        if durations:
            raise UsageError("--durations only applies with --shard")
        return None
    from harness.guest.build import file_sha256

    k = Path(kernel or "")
    context = [arch, prof, "simulated" if simulate else file_sha256(k) if k.is_file() else str(k)]
    plan = plan_shard(parse_shard(shard_text), [sc.name for sc in compiled], durations, *context)
    click.echo(f"run: shard {plan.shard}: {len(plan.names)} of {len(compiled)} scenarios "
               f"(balanced by {plan.balanced_by})")
    return plan


def _print_verdict(v: Verdict) -> None:
    colour = {Status.PASS: "green", Status.DIVERGED: "red", Status.GUEST_CRASH: "red",
              Status.INFRA_ERROR: "yellow"}[v.status]
    click.echo(click.style(v.describe(), fg=colour))
    if v.status is Status.DIVERGED and v.detail:
        click.echo("\n".join("    " + line for line in v.detail.splitlines()[:12]))


def _print_summary(verdicts: list[Verdict], root: Path) -> None:
    counts: dict[str, int] = {}
    for v in verdicts:
        counts[v.status.value] = counts.get(v.status.value, 0) + 1
    parts = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    click.echo(f"run: {len(verdicts)} scenarios: {parts}; results in {root}/ (summary.json)")


def _symboliser(kernel: Path) -> Callable[[int], str | None] | None:
    from harness.errors import InputError
    from harness.model.symbols import load_symbols

    try:
        table = load_symbols(kernel)
    except InputError:
        return None

    def symbolise(pc: int) -> str | None:
        hit = table.lookup(pc)
        return f"{hit[0]}+{hit[1]:#x}" if hit else None

    return symbolise


__all__ = ["ExitCode", "run"]
