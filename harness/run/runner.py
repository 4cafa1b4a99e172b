"""`harness run` as a library call: options in, checks first, verdicts out.

``execute(RunOptions, RunUI) -> exit code``.  Everything a user can get wrong
is refused before a results directory or a machine exists (exit 2); then the
backend (harness.run.backends) is set up, the scenarios run, and the summary
is written once at the end, or once at an interruption (SIGINT, SIGTERM,
SIGHUP: harness.interrupt) with every VM ended and the signal's exit code.
"""

from __future__ import annotations

import contextlib
import errno
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import ExitCode, HarnessError, InfraError, UsageError
from harness.interrupt import exit_code_of
from harness.model.profiles import get_profile
from harness.nightly.baseline import load_baseline
from harness.qemu.mediakind import DiskBoot
from harness.report.progress import Progress
from harness.report.result import RunResult
from harness.report.results import ResultsDir
from harness.run.backends import Backend, factory_for, get_backend
from harness.run.config import RunConfig
from harness.run.modelrun import default_profile
from harness.run.pipeline import run_scenarios
from harness.run.shard import ShardPlan, parse_shard, plan_shard, run_id_from_env
from harness.scenario.compiler import Scenario, check_scenarios, find_scenarios

if TYPE_CHECKING:
    from harness.qemu.mediachoice import MediumChoice


@dataclass
class RunOptions:
    """What the user asked for, as given (harness.cli.run_cmd parses flags into it)."""

    scenarios: list[str] = field(default_factory=list)
    syscall: str | None = None
    arch: str | None = None
    kernel: str | None = None
    image: str | None = None
    agent: str | None = None
    profile: str | None = None
    qemu_profile: str | None = None
    jobs: int = 1
    results_base: str = "results"
    timeout: float = 120.0
    boot_scale: float = 1.0
    simulate: bool = False
    fault: str | None = None
    ktrace: bool = False
    iso: str | None = None  # a release ISO (harness.qemu.media)
    disk: str | None = None  # an installed disk image
    disk_boot: str = DiskBoot.LOADER.value
    bootargs: str | None = None  # the answer to a release's 'bootargs is'
    repeat: int = 1  # each scenario N times: the variance report (harness.report.variance)
    baseline: str | None = None  # known divergences (harness.nightly.baseline): shown as known, exit 0
    shard: str | None = None  # I/N, auto or auto/N (harness.run.shard)
    durations: str | None = None  # with shard: a previous summary.json to balance by
    run_id: str | None = None  # shared by every shard of one run (default: from the CI's environment)
    hosts: tuple[str, ...] = ()  # USER@HOST[:PORT]: the ssh backend
    ssh_identity: str | None = None
    known_hosts: str | None = None

    @property
    def guest(self) -> bool:
        """False: no kernel and no simulation, the run is the model's alone (guest-only
        flags make it a guest run, refused with their reason)."""
        return bool(self.kernel or self.image or self.iso or self.disk or self.bootargs or self.simulate
                    or self.fault or self.ktrace or self.repeat > 1 or self.disk_boot != DiskBoot.LOADER.value
                    or self.shard or self.hosts)


@dataclass
class RunUI:
    say: Callable[[str], None] = print
    warn: Callable[[str], None] = print
    progress: Progress | None = None  # live progress and one line per verdict (harness.report.progress)
    summary: Callable[[RunResult, Path], None] | None = None


def _backend_name(opts: RunOptions) -> str:
    if not (opts.kernel or opts.image or opts.simulate):
        flag = "--shard" if opts.shard else "--host" if opts.hosts else None
        if flag:
            raise UsageError(f"{flag} is for a guest run: give --kernel or --image"
                             f"{' or --simulate' if flag == '--shard' else ''}")
    if opts.simulate or _simulated_kernel(opts):
        if opts.hosts:
            raise UsageError("--host runs QEMU on SSH hosts: give --kernel (or --image), not --simulate "
                             "or a SIMULATED kernel")
        return "simulated"
    return "ssh" if opts.hosts else "qemu"


def _simulated_kernel(opts: RunOptions) -> bool:
    """--kernel is a [simulated-kernel] file (harness.guest.simkernel): its arch and
    faults are in the file, so no other --arch and no --simulate or --fault."""
    from harness.guest.simkernel import is_simulated_kernel
    from harness.guest.simkernel import load as load_simulated_kernel

    if not opts.kernel or not is_simulated_kernel(opts.kernel):
        return False
    sk = load_simulated_kernel(opts.kernel)
    if (opts.arch and opts.arch != sk.arch) or opts.simulate or opts.fault:
        raise UsageError(f"{opts.kernel} is a SIMULATED {sk.arch} kernel: its arch and faults are in the file "
                         "(no other --arch, no --simulate or --fault)")
    opts.arch = sk.arch
    return True


def _image(opts: RunOptions, ui: RunUI) -> None:
    """--image NAME: the kernel, arch and profiles its manifest names."""
    from harness import images

    if opts.kernel or opts.simulate:
        raise UsageError("--image names the kernel: give it instead of --kernel, and not with --simulate")
    assert opts.image is not None
    img = images.find_image(opts.image)
    if opts.arch and opts.arch != img.arch:
        raise UsageError(f"image {img.name} is for {img.arch}, not {opts.arch}")
    opts.arch, opts.profile = img.arch, opts.profile or img.profile
    opts.qemu_profile = opts.qemu_profile or img.qemu_profile
    opts.kernel = str(images.fetch(img, progress=ui.warn))
    ui.say(f"image: {img.name} ({img.sha256[:16]}) -> {opts.kernel}")


def _media(opts: RunOptions, ui: RunUI) -> MediumChoice | None:
    """--iso, --disk or an --image of that kind, checked; None for a kernel.  A manifest's
    ISO or disk is fetched (sha256-checked) once the options are known to be good."""
    from harness import images
    from harness.qemu.mediachoice import MediumChoice

    img = images.find_image(opts.image) if opts.image else None
    choice = MediumChoice.from_options(opts.image, opts.kernel, opts.iso, opts.disk, opts.disk_boot, opts.bootargs,
                                       opts.simulate, image_kind=img.kind if img else None)
    if not choice.boots_medium:
        return None
    if img is not None:
        if opts.arch and opts.arch != img.arch:
            raise UsageError(f"image {img.name} is for {img.arch}, not {opts.arch}")
        choice.check(img.arch, opts.qemu_profile)
        choice.path = images.fetch(img, progress=ui.warn)
        opts.arch, opts.profile, opts.image = img.arch, opts.profile or img.profile, None
        ui.say(f"image: {img.name} ({img.kind}, {img.sha256[:16]}) -> {choice.path}")
    choice.check(opts.arch, opts.qemu_profile)
    return choice


def unique_names(scenarios: list[Scenario]) -> None:
    """Two scenarios of one name would share their trace files: refuse, naming both."""
    seen: dict[str, str] = {}
    for sc in scenarios:
        if sc.name in seen and Path(seen[sc.name]).resolve() != Path(sc.path).resolve():
            raise UsageError(f"two scenarios are named {sc.name!r}: {seen[sc.name]} and {sc.path} "
                             "(rename one, or give its `name:`)")
        seen.setdefault(sc.name, str(sc.path))


def resolve(opts: RunOptions, ui: RunUI) -> tuple[RunConfig, type[Backend], list[Scenario]]:
    """Every check that needs no results directory and no machine."""
    media = _media(opts, ui)
    if opts.ktrace and (opts.simulate or not (opts.kernel or opts.image or media)):
        raise UsageError("--ktrace needs a real kernel (--kernel): the kernel's syscall trace comes from the guest")
    if opts.fault and not opts.simulate:
        raise UsageError("--fault only applies to --simulate")
    if opts.repeat > 1 and not (opts.kernel or opts.image or opts.simulate):
        raise UsageError("--repeat needs a guest (--kernel, --image or --simulate): the model alone never varies")
    if opts.durations and not opts.shard:
        raise UsageError("--durations only applies with --shard")
    if opts.profile:
        get_profile(opts.profile)
    backend_name = _backend_name(opts)
    if not opts.arch and not opts.image:
        raise UsageError("--arch is required with --kernel or --simulate")
    if opts.arch and ("," in opts.arch or opts.arch == "all"):
        raise UsageError("a guest run takes one arch at a time")
    cfg = RunConfig(arch=opts.arch or "", profile=opts.profile or "", scenario_timeout=opts.timeout, jobs=opts.jobs,
                    boot_scale=opts.boot_scale, ktrace=opts.ktrace, fault=opts.fault,
                    qemu_profile=opts.qemu_profile, backend=backend_name,
                    agent=Path(opts.agent) if opts.agent else None, media=media, repeat=opts.repeat,
                    hosts=tuple(opts.hosts), ssh_identity=Path(opts.ssh_identity) if opts.ssh_identity else None,
                    known_hosts=Path(opts.known_hosts) if opts.known_hosts else None)
    if opts.image:
        _image(opts, ui)
        cfg.arch, cfg.profile, cfg.qemu_profile = opts.arch or "", opts.profile or "", opts.qemu_profile
    cfg.kernel = Path(opts.kernel) if opts.kernel else None
    cfg.profile = cfg.profile or default_profile(cfg.arch)
    _known(opts, cfg)  # a bad baseline is bad input, before anything runs
    files = list(dict.fromkeys(p.resolve() for p in find_scenarios(list(opts.scenarios) or None, opts.syscall)))
    # every malformed file listed, nothing run (ScenarioErrors, exit 2)
    compiled = [sc for sc in check_scenarios(files, [cfg.arch]) if sc.runs_on(cfg.arch, cfg.profile)]
    if not compiled:
        raise UsageError("no scenarios matched")
    unique_names(compiled)
    backend = get_backend(cfg.backend)
    backend.check(cfg, [sc.name for sc in compiled])
    return cfg, backend, compiled


def _sim_label(cfg: RunConfig, results: ResultsDir) -> str:
    """ " (SIMULATED kernel ...)" for a [simulated-kernel] file, also in summary.json."""
    from harness.guest.simkernel import load as load_simulated_kernel

    if cfg.backend != "simulated" or cfg.kernel is None:
        return ""
    label = load_simulated_kernel(cfg.kernel).label
    results.meta["simulated_kernel"] = label
    return f" ({label})"


def _agent_image(cfg: RunConfig) -> None:
    from harness.guest.build import check_agent_image
    from harness.model.aout import parse_header
    from harness.model.arch import get_arch

    if cfg.agent is None:
        return
    try:
        data = cfg.agent.read_bytes()
    except OSError as e:
        raise UsageError(f"--agent {cfg.agent}: {e.strerror}") from None
    h = parse_header(data)
    if h is None or h.magic not in get_arch(cfg.arch).magics:
        raise UsageError(f"--agent {cfg.agent}: not a Plan 9 a.out for {cfg.arch}")
    check_agent_image(cfg.arch, data, str(cfg.agent))
    cfg.agent_image = data


# A results directory that cannot be made: the disk (infrastructure) or the path given (bad input).
_HOST_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EMFILE, errno.ENFILE})


def _create_results(base: str, label: str) -> ResultsDir:
    try:
        return ResultsDir.create(base, label)
    except OSError as e:
        msg = f"--results {base}: cannot make a results directory there: {e.strerror or e}"
        raise (InfraError(msg) if e.errno in _HOST_ERRNOS else UsageError(msg)) from None


def baseline_cell(cfg: RunConfig) -> str:
    """The cell name a `harness run` matches baseline entries against: PROFILE-ARCH."""
    return f"{cfg.profile}-{cfg.arch}"


def _known(opts: RunOptions, cfg: RunConfig) -> None:
    """--baseline: the divergences it explains become known (harness.nightly.baseline's
    matching; the cell of a `harness run` is baseline_cell)."""
    if opts.baseline is None:
        return
    baseline = load_baseline(opts.baseline)
    cell = baseline_cell(cfg)
    name = Path(opts.baseline).name

    def explain(scenario: str, first_divergence: str) -> str | None:
        k = baseline.explain(cell, scenario, first_divergence)
        return None if k is None else f"{name} line {k.line}: {k.reason}"

    cfg.known = explain


def _variance(cfg: RunConfig, results: ResultsDir, names: list[str], ui: RunUI) -> None:
    from harness.report import variance

    rep = variance.from_results(results.root, cfg.arch, names, cfg.repeat)
    variance.write(results.root, rep)
    for line in variance.summary_lines(rep):
        ui.say(line)
    ui.say(f"repeat: per-field report in {results.root}/repeat.txt and repeat.json")


def shard_plan(opts: RunOptions, cfg: RunConfig, compiled: list[Scenario], ui: RunUI) -> ShardPlan | None:
    """--shard: this shard's part of the whole selection (every shard computes the same
    partition: harness.run.shard); what must agree between shards is in its plan id."""
    if opts.shard is None:
        return None
    from harness.guest.build import file_sha256

    k = cfg.kernel
    kernel = "simulated" if k is None else file_sha256(k) if k.is_file() else str(k)
    plan = plan_shard(parse_shard(opts.shard), [sc.name for sc in compiled], opts.durations,
                      cfg.arch, cfg.profile, kernel)
    ui.say(f"run: shard {plan.shard}: {len(plan.names)} of {len(compiled)} scenarios (balanced by {plan.balanced_by})")
    return plan


def execute(opts: RunOptions, ui: RunUI) -> int:
    t = time.monotonic()
    cfg, backend, compiled = resolve(opts, ui)
    compile_seconds = round(time.monotonic() - t, 3)  # finding, compiling and checking the scenarios
    if cfg.agent is not None:
        _agent_image(cfg)  # bad input before anything runs
    plan = shard_plan(opts, cfg, compiled, ui)
    if plan is not None:
        mine = set(plan.names)
        compiled = [sc for sc in compiled if sc.name in mine]
    label = f"{cfg.arch}{'-sim' if backend.simulated else ''}"
    results = _create_results(opts.results_base, label + (f"-shard{plan.shard.index}of{plan.shard.count}"
                                                           if plan else ""))
    run_id = opts.run_id or run_id_from_env() or (f"plan-{plan.plan}" if plan else None)
    if run_id:
        results.run_id = run_id
    results.shard = plan.to_json() if plan else None
    results.meta = {"arch": cfg.arch, "profile": cfg.profile, "kernel": str(cfg.kernel) if cfg.kernel else None,
                    "agent": None, "simulated": backend.simulated, "backend": cfg.backend,
                    "scenarios": len(compiled), "ktrace": cfg.ktrace, "repeat": cfg.repeat,
                    "baseline": str(Path(opts.baseline).resolve()) if opts.baseline else None}
    results.run.timings["compile_seconds"] = compile_seconds
    if not compiled:  # more shards than scenarios: an empty shard still leaves its summary (and junit.xml)
        code = results.finish()
        ui.say(f"run: shard {plan.shard if plan else ''} has no scenarios; results in {results.root}/")
        if ui.summary is not None:
            ui.summary(results.run, results.root)
        return code
    try:
        backend.setup(cfg, results, ui.say)
        if cfg.agent_image is None and cfg.agent is not None:
            _agent_image(cfg)
        results.meta["agent"] = str(cfg.agent) if cfg.agent else None
        results.write_versions(backend.tools(cfg))
        ui.say(f"run: {len(compiled)} scenarios on {cfg.arch} ({cfg.profile})"
               f"{' SIMULATED guest' if backend.simulated else ''}{_sim_label(cfg, results)}, "
               f"{cfg.jobs} job(s); results in {results.root}/")
        if ui.progress is not None:
            with ui.progress:
                run_scenarios(compiled, cfg, factory_for(cfg), results, progress=ui.progress)
        else:
            run_scenarios(compiled, cfg, factory_for(cfg), results)
        if cfg.repeat > 1:
            _variance(cfg, results, [sc.name for sc in compiled], ui)
    except OSError as e:  # the results directory stopped taking writes (disk full, ulimit -f)
        with contextlib.suppress(OSError):
            results.finish(exit_code=int(ExitCode.INFRA), completed=False)
        raise InfraError(f"cannot write the results in {results.root}: {e}") from None
    except HarnessError as e:  # e.g. the agent could not be built: the summary says so
        results.meta["error"] = str(e)
        with contextlib.suppress(OSError):
            results.finish(exit_code=int(e.exit_code), completed=False)
        raise
    except KeyboardInterrupt as e:  # SIGINT, SIGTERM, SIGHUP (harness.interrupt)
        from harness.qemu.machine import kill_all

        kill_all()
        rc = exit_code_of(e)
        with contextlib.suppress(OSError):
            results.finish(interrupted=True, exit_code=rc)
        ui.warn(f"run: interrupted; what ran so far is in {results.root}/summary.json")
        return rc
    code = results.finish()
    if ui.summary is not None:
        ui.summary(results.run, results.root)
    return code
