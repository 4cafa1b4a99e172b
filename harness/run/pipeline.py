"""`harness run`: scenarios through the model and the guest, normalised and diffed.

One verdict per scenario: pass, diverged, guest-crash or infra-error.  Every
artefact (both traces, the diff, the console log, the QEMU command line, a
JSON summary) is written to the results directory as soon as it exists, so an
interrupted run still leaves everything it got so far.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError, InfraError
from harness.guest.simkernel import SimulatedKernel, is_simulated_kernel
from harness.guest.simkernel import load as load_simulated_kernel
from harness.report import text as rtext
from harness.report.formats import diff_formats
from harness.report.panic import crash_summary
from harness.report.progress import Progress
from harness.report.result import Status, Verdict
from harness.report.results import ResultsDir
from harness.run.modelrun import model_trace
from harness.run.session import GuestRun, GuestSession
from harness.scenario.compiler import Scenario
from harness.trace import diff as tdiff
from harness.trace import frame as tframe
from harness.trace import ktrace as tktrace
from harness.trace.schema import KTRACE, Header, Trace, write_trace

SessionFactory = Callable[[int, ResultsDir], GuestSession]


@dataclass
class RunConfig:
    arch: str
    profile: str
    agent_image: bytes | None = None
    scenario_timeout: float = 120.0
    jobs: int = 1
    symbolise: Callable[[int], str | None] | None = None  # panic pc -> "symbol+0xoff"
    # what serves the guest's scratch directory (harness.model.fs): the QEMU
    # guest's is the FAT delivery disk
    scratch_server: str = "perm"
    ktrace: bool = False  # the agent also sends the kernel's syscall trace (-t; harness.trace.ktrace)


def guest_trace(scenario: Scenario, run: GuestRun, cfg: RunConfig) -> tuple[Trace, list[str]]:
    """Decode the agent's framed records; return the trace and any transport errors."""
    records, transport_errors = tframe.decode_records(run.output)
    records = [r for r in records if r.kind != KTRACE]  # the kernel's trace: save_ktrace
    header = Header(source="guest", scenario=scenario.name, arch=cfg.arch, profile=cfg.profile,
                    meta={"status": run.status, "crash": run.crash, "scenario_path": scenario.path,
                          "scratch_server": cfg.scratch_server})
    return Trace(header, records), transport_errors


def judge(scenario: Scenario, cfg: RunConfig, run: GuestRun, results: ResultsDir) -> Verdict:
    base = f"{cfg.arch}/{scenario.name}"
    files: dict[str, str] = {}
    model = model_trace(scenario, cfg.arch, cfg.profile, cfg.agent_image, cfg.scratch_server)
    write_trace(results.path(f"{base}.model.jsonl"), model)
    files["model"] = f"{base}.model.jsonl"
    guest, transport = guest_trace(scenario, run, cfg)
    write_trace(results.path(f"{base}.guest.jsonl"), guest)
    files["guest"] = f"{base}.guest.jsonl"
    results.path(f"{base}.console.txt").write_bytes(run.output)  # this scenario's console excerpt
    files["console"] = f"{base}.console.txt"
    verdict = Verdict(scenario.name, cfg.arch, cfg.profile, Status.PASS, files=files)
    if cfg.ktrace:
        verdict.ktrace = save_ktrace(run, guest, results, base, files)
    if run.crash is not None:
        verdict.status = Status.GUEST_CRASH
        verdict.summary = crash_summary(run.crash, run.panic_pc, cfg.symbolise) + (
            " (in a traced run, -t)" if cfg.ktrace else "")
        verdict.detail = run.output.decode("utf-8", "replace")[-2000:]
        return verdict
    if transport:
        verdict.status = Status.INFRA_ERROR
        verdict.summary = f"transport error (not a kernel verdict): {transport[0]}"
        verdict.detail = "\n".join(transport)
        return verdict
    if run.status is None:
        verdict.status = Status.INFRA_ERROR
        verdict.summary = "the agent command never completed"
        return verdict
    if not guest.records:
        # The agent died before its first record: the harness's side failed to
        # run the scenario at all, which says nothing about the system calls.
        verdict.status = Status.INFRA_ERROR
        verdict.summary = f"the guest agent wrote no records (exit status {run.status!r})"
        verdict.detail = run.output.decode("utf-8", "replace")[-2000:]
        return verdict
    result = tdiff.diff_traces(model, guest)
    for fmt in diff_formats():  # ARCH/NAME.diff.txt, .diff.html, ... (harness.report.formats)
        files[fmt.key] = f"{base}{fmt.suffix}"
        results.write_text(files[fmt.key], fmt.render(result))
    if not result.identical:
        verdict.status = Status.DIVERGED
        verdict.summary = rtext.first_line(result)
        if verdict.ktrace and verdict.ktrace.get("perturbed"):
            verdict.summary += " (traced run: the kernel's trace formatter changed a call; see ktrace)"
        verdict.detail = rtext.render_text(result, color=False, summary=False)
    return verdict


def save_ktrace(run: GuestRun, guest: Trace, results: ResultsDir, base: str,
                files: dict[str, str]) -> dict[str, object]:
    """The kernel's syscall trace: BASE.ktrace.txt (raw), BASE.ktrace.json (parsed, and
    the cross-check with the agent's own records).  A note, never a verdict."""
    records, _ = tframe.decode_records(run.output)
    ktrecs = [r for r in records if r.kind == KTRACE]
    items, _trunc, _errs = tktrace.texts_of(ktrecs)
    results.write_text(f"{base}.ktrace.txt", tktrace.render(items))
    kt = tktrace.from_records(ktrecs)
    cc = tktrace.cross_check(guest.records, kt)
    if run.crash is not None:
        line = f"ktrace: {len(kt.calls)} kernel calls before the guest crashed (last: {_last_call(kt)})"
    else:
        line = cc.line() if kt.calls else "ktrace: no kernel trace records"
    summary: dict[str, object] = {"line": line, **cc.to_json(), "tracer_errors": kt.errors}
    results.write_text(f"{base}.ktrace.json", json.dumps(
        {"crosscheck": summary, "calls": [c.to_json() for c in kt.calls]}, indent=1) + "\n")
    files["ktrace"] = f"{base}.ktrace.txt"
    files["ktrace_json"] = f"{base}.ktrace.json"
    return summary


def _last_call(kt: tktrace.KTrace) -> str:
    if not kt.calls:
        return "none"
    c = kt.calls[-1]
    return (c.entry or f"{c.pid} ...{c.retraw or ''}").strip()[:120]


def run_scenarios(scenarios: list[Scenario], cfg: RunConfig, factory: SessionFactory,
                  results: ResultsDir, progress: Progress | None = None) -> list[Verdict]:
    """Run SCENARIOS on cfg.jobs guests in parallel; verdicts in scenario order.  The results
    directory is finished (summary.json) when they all have a verdict."""
    if results.run.scenarios is None:
        results.run.scenarios = len(scenarios)  # fewer verdicts than this can never exit 0
    if progress is not None:
        progress.start(len(scenarios), max(1, cfg.jobs))
    todo: queue.Queue[tuple[int, Scenario]] = queue.Queue()
    for i, sc in enumerate(scenarios):
        todo.put((i, sc))
    verdicts: dict[int, Verdict] = {}
    lock = threading.Lock()
    programs = {sc.name: sc.program.dumps() for sc in scenarios}
    healthy = [max(1, cfg.jobs)]  # workers still able to run scenarios

    def record(i: int, v: Verdict, worker: int = 0) -> None:
        with lock:
            verdicts[i] = v
            results.add(v)
            if progress is not None:
                progress.scenario_done(v.scenario, v, worker)

    def lose_worker(why: str) -> None:
        """A worker's machine is gone: its share goes to the healthy workers, and only
        when none is left do the remaining scenarios fail as infrastructure errors."""
        with lock:
            healthy[0] -= 1
            last = healthy[0] == 0
        if last:
            _drain(todo, cfg, Status.INFRA_ERROR, why, record)

    def worker(n: int) -> None:
        session: GuestSession | None = None
        try:
            if progress is not None:
                progress.worker(n, "booting")
            session = factory(n, results)
            session.deliver(programs)  # before boot: a delivery disk is attached at start
            session.boot()
        except HarnessError as e:
            if session is not None:
                session.close()
            crash = boot_crash(e)
            if crash is not None:  # the same kernel boots the same way on every worker
                _drain(todo, cfg, Status.BOOT_CRASH, crash, record)
                return
            lose_worker(str(e))
            return
        try:
            while True:
                try:
                    i, sc = todo.get_nowait()
                except queue.Empty:
                    return
                started = time.monotonic()
                if progress is not None:
                    progress.scenario_started(sc.name, n)
                needs_recovery = False
                try:
                    run = session.run_program(sc.name, cfg.scenario_timeout)
                    v = judge(sc, cfg, run, results)
                    needs_recovery = run.crash is not None
                except InfraError as e:
                    v = Verdict(sc.name, cfg.arch, cfg.profile, Status.INFRA_ERROR, summary=str(e))
                    needs_recovery = True
                record(i, _timed(v, started), n)
                if needs_recovery:
                    if progress is not None:
                        progress.worker(n, "recovering")
                    try:
                        session.recover()
                    except HarnessError as e2:
                        lose_worker(f"guest lost and not recoverable: {e2}")
                        return
        finally:
            session.close()

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(max(1, cfg.jobs))]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(0.2)
    results.finish()
    return [verdicts[i] for i in sorted(verdicts)]


def _timed(v: Verdict, started: float) -> Verdict:
    v.seconds = round(time.monotonic() - started, 3)
    return v


def boot_crash(e: HarnessError) -> str | None:
    """The boot crash E is, when it is the kernel's doing: a panic, or a hang after the
    banner (SPEC 7: the kernel's verdict, not infrastructure)."""
    from harness.errors import BootTimeout
    from harness.qemu.console import GuestPanic

    if isinstance(e, GuestPanic):
        return f"boot crash: {e}"
    if isinstance(e.__cause__, GuestPanic):  # QemuSession.boot wraps it (harness.run.qemusession)
        return f"boot crash: {e.__cause__}"
    if isinstance(e, BootTimeout) and e.kernel_started:
        return f"boot crash: kernel hung while booting: {e}"
    return None


def _drain(todo: queue.Queue[tuple[int, Scenario]], cfg: RunConfig, status: Status, why: str,
           record: Callable[[int, Verdict], None]) -> None:
    while True:
        try:
            i, sc = todo.get_nowait()
        except queue.Empty:
            return
        record(i, Verdict(sc.name, cfg.arch, cfg.profile, status, summary=why))


def run_one_for_pytest(path: Path, arch: str, profile: str, kernel: str, agent: str | None) -> Verdict:
    """One scenario, one fresh machine: what the pytest plugin calls with --kernel."""
    from harness.guest.build import resolve_agent
    from harness.run.qemusession import check_kernel, qemu_session_factory
    from harness.scenario.compiler import compile_scenario

    sc = compile_scenario(path, arch)
    if is_simulated_kernel(kernel):  # a SIMULATED kernel file (harness/guest/simkernel.py)
        return _run_one_simulated(sc, arch, profile, load_simulated_kernel(kernel))
    check_kernel(arch, Path(kernel))
    results = ResultsDir.create("results", f"pytest-{arch}")
    agent_path = Path(agent) if agent else resolve_agent(arch, Path(kernel), None,
                                                         results.path("agent-build", ".keep").parent)
    cfg = RunConfig(arch=arch, profile=profile, agent_image=agent_path.read_bytes(), scratch_server="dossrv")
    factory = qemu_session_factory(arch, Path(kernel), agent_path)
    return run_scenarios([sc], cfg, factory, results)[0]


def _run_one_simulated(sc: Scenario, arch: str, profile: str, kernel: SimulatedKernel) -> Verdict:
    from harness.errors import UsageError
    from harness.run.simsession import SimulatedSession

    if kernel.arch != arch:
        raise UsageError(f"{kernel.path} is a SIMULATED {kernel.arch} kernel, not {arch}")
    results = ResultsDir.create("results", f"pytest-{arch}-sim")
    results.meta = {"kernel": str(kernel.path), "simulated_kernel": kernel.label, "simulated": True}
    v = run_scenarios([sc], RunConfig(arch=arch, profile=profile), lambda n, rd: SimulatedSession(
        n, rd, arch, profile, kernel=kernel), results)[0]
    v.summary = f"[{kernel.label}] {v.summary}"  # the item's message says SIMULATED
    return v
