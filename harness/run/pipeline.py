"""`harness run`: scenarios through the model and the guest, normalised and diffed.

One verdict per scenario: pass, diverged, guest-crash, boot-crash, infra-error
or internal-error (an unexpected exception in the harness: never a pass).  Every
artefact (both traces, the diff, the console log, the QEMU command line, a
JSON summary) is written to the results directory as soon as it exists, so an
interrupted run still leaves everything it got so far.
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import time
import traceback
from concurrent.futures import Future

from harness.errors import BootCrash, HarnessError, InfraError
from harness.report import text as rtext
from harness.report.formats import diff_formats
from harness.report.panic import crash_summary
from harness.report.progress import Progress
from harness.report.result import Status, Verdict
from harness.report.results import ResultsDir
from harness.run.backends import Backend, GuestRun, SessionFactory
from harness.run.config import RunConfig
from harness.run.modelrun import model_trace
from harness.scenario.compiler import Scenario
from harness.trace import diff as tdiff
from harness.trace import frame as tframe
from harness.trace import ktrace as tktrace
from harness.trace.schema import KTRACE, Header, Trace, split_end, write_trace

__all__ = ["RunConfig", "SessionFactory", "guest_trace", "judge", "run_scenarios"]


def guest_trace(scenario: Scenario, run: GuestRun, cfg: RunConfig) -> tuple[Trace, list[str]]:
    """Decode the agent's framed records; return the trace and any transport errors."""
    records, transport_errors = tframe.decode_records(run.output, run.frame_key)
    records = [r for r in records if r.kind != KTRACE]  # the kernel's trace: save_ktrace
    records, elapsed_ns = split_end(records)  # the agent's own time: a timing, never diffed
    header = Header(source="guest", scenario=scenario.name, arch=cfg.arch, profile=cfg.profile,
                    meta={"status": run.status, "crash": run.crash, "scenario_path": scenario.path,
                          "scratch_server": cfg.scratch_server, "agent_elapsed_ns": elapsed_ns})
    return Trace(header, records), transport_errors


def judge(scenario: Scenario, cfg: RunConfig, run: GuestRun, results: ResultsDir,
          model: Trace | None = None) -> Verdict:
    """The verdict of RUN; MODEL: the scenario's model trace when already computed."""
    base = f"{cfg.arch}/{scenario.name}"
    files: dict[str, str] = {}
    if model is None:
        model = model_trace(scenario, cfg.arch, cfg.profile, cfg.agent_image, cfg.scratch_server)
    write_trace(results.path(f"{base}.model.jsonl"), model)
    files["model"] = f"{base}.model.jsonl"
    guest, transport = guest_trace(scenario, run, cfg)
    write_trace(results.path(f"{base}.guest.jsonl"), guest)
    files["guest"] = f"{base}.guest.jsonl"
    results.path(f"{base}.console.txt").write_bytes(run.output)  # this scenario's console excerpt
    files["console"] = f"{base}.console.txt"
    verdict = Verdict(scenario.name, cfg.arch, cfg.profile, Status.PASS, files=files)
    if guest.header.meta.get("agent_elapsed_ns") is not None:
        verdict.guest_seconds = round(guest.header.meta["agent_elapsed_ns"] / 1e9, 6)
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
    records, _ = tframe.decode_records(run.output, run.frame_key)
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


class ModelAhead:
    """The model's traces computed in a background thread while the guests boot
    (the model needs nothing of the guest): a worker then only waits for the one
    being computed.  Each trace is handed out once and then forgotten."""

    def __init__(self, scenarios: list[Scenario], cfg: RunConfig) -> None:
        self.cfg = cfg
        self.lock = threading.Lock()
        self.futures: dict[str, Future[Trace]] = {}
        self.pending = list(scenarios)
        self.busy = 0.0  # seconds the background thread computed
        self.ahead = 0  # traces computed by the background thread
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="model-ahead", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()

    def _claim(self, sc: Scenario) -> tuple[Future[Trace], bool]:
        with self.lock:
            fut = self.futures.get(sc.name)
            if fut is not None:
                return fut, False
            fut = self.futures[sc.name] = Future()
            return fut, True

    def _compute(self, sc: Scenario, fut: Future[Trace]) -> None:
        try:
            fut.set_result(model_trace(sc, self.cfg.arch, self.cfg.profile, self.cfg.agent_image,
                                       self.cfg.scratch_server))
        except BaseException as e:  # judge() raises it in the worker: an internal error there
            fut.set_exception(e)

    def _loop(self) -> None:
        for sc in self.pending:
            if self.stopping.is_set():
                return
            fut, mine = self._claim(sc)
            if mine:
                t = time.monotonic()
                self._compute(sc, fut)
                self.busy += time.monotonic() - t
                self.ahead += 1

    def get(self, sc: Scenario) -> Trace:
        fut, mine = self._claim(sc)
        if mine:
            self._compute(sc, fut)
        try:
            return fut.result()
        finally:
            with self.lock:
                self.futures[sc.name] = _DONE  # the trace is the caller's now


_DONE: Future[Trace] = Future()
_DONE.set_exception(RuntimeError("a model trace was asked for twice"))


def run_scenarios(scenarios: list[Scenario], cfg: RunConfig, factory: SessionFactory,
                  results: ResultsDir, progress: Progress | None = None) -> list[Verdict]:
    """Run SCENARIOS on cfg.jobs guests in parallel; one verdict per scenario, in scenario order.

    Interrupted (KeyboardInterrupt, harness.interrupt), every machine is killed,
    no verdict is recorded after that, and the exception goes on: the caller
    writes the interrupted summary."""
    return _Run(scenarios, cfg, factory, results, progress).go()


class _Run:
    def __init__(self, scenarios: list[Scenario], cfg: RunConfig, factory: SessionFactory,
                 results: ResultsDir, progress: Progress | None) -> None:
        self.scenarios, self.cfg, self.factory, self.results, self.progress = scenarios, cfg, factory, results, progress
        self.todo: queue.Queue[tuple[int, Scenario]] = queue.Queue()
        for i, sc in enumerate(scenarios):
            self.todo.put((i, sc))
        self.verdicts: dict[int, Verdict] = {}
        self.lock = threading.Lock()
        self.programs = {sc.name: sc.program.dumps() for sc in scenarios}
        self.healthy = max(1, cfg.jobs)  # workers still able to run scenarios
        self.live: set[Backend] = set()
        self.stopping = threading.Event()
        self.write_error: OSError | None = None  # the results directory stopped taking writes
        self.models = ModelAhead(scenarios, cfg)
        self.timings = results.run.timings

    def go(self) -> list[Verdict]:
        if self.results.run.scenarios is None:
            self.results.run.scenarios = len(self.scenarios)  # fewer verdicts than this can never exit 0
        if self.progress is not None:
            self.progress.start(len(self.scenarios), max(1, self.cfg.jobs))
        threads = [threading.Thread(target=self.worker, args=(n,), daemon=True) for n in range(max(1, self.cfg.jobs))]
        try:
            for t in threads:
                t.start()
            self.models.start()  # after the boots began: the model runs while they wait
            for t in threads:
                while t.is_alive():
                    t.join(0.2)
        except BaseException:
            self.models.stop()
            self.stop(threads)
            raise
        self.models.stop()
        self.timings["model_ahead_seconds"] = round(self.models.busy, 3)
        self.timings["model_ahead_scenarios"] = self.models.ahead
        for i, sc in enumerate(self.scenarios):  # never lose one: a verdict for each
            if i not in self.verdicts:
                self.record(i, self.verdict(sc, Status.INTERNAL_ERROR, "no verdict: the worker running it ended"))
        if self.write_error is None:
            try:
                self.results.finish()
            except OSError as e:
                self.write_error = e
        if self.write_error is not None:
            raise self.write_error
        return [self.verdicts[i] for i in sorted(self.verdicts)]

    def stop(self, threads: list[threading.Thread]) -> None:
        """Interrupted: record nothing more, end every machine now, let the workers go."""
        self.stopping.set()
        with self.lock:
            live = list(self.live)
        for session in live:
            with contextlib.suppress(BaseException):  # nothing may stop the others being killed
                session.kill()
        for t in threads:
            t.join(5.0)

    def verdict(self, sc: Scenario, status: Status, summary: str) -> Verdict:
        return Verdict(sc.name, self.cfg.arch, self.cfg.profile, status, summary=summary)

    def record(self, i: int, v: Verdict, worker: int = 0) -> None:
        with self.lock:
            if self.stopping.is_set() or i in self.verdicts:
                return  # the machine was killed under it: not a verdict
            self.verdicts[i] = v
            try:
                self.results.add(v)
            except OSError as e:  # the disk is full: keep going, the end says so (runner)
                self.write_error = self.write_error or e
            if self.progress is not None:
                self.progress.scenario_done(v.scenario, v, worker)

    def internal(self, where: str, e: BaseException) -> str:
        """An unexpected exception: its traceback into internal-errors.txt, one line back."""
        with self.lock, contextlib.suppress(OSError), open(self.results.path("internal-errors.txt"), "a") as f:
            f.write(f"--- {where}\n{''.join(traceback.format_exception(e))}\n")
        return f"internal error ({where}): {type(e).__name__}: {e} (traceback in internal-errors.txt)"

    def lose_worker(self, why: str, status: Status) -> None:
        """A worker's machine is gone: its share goes to the healthy workers, and only
        when none is left do the remaining scenarios get WHY as their verdict."""
        with self.lock:
            self.healthy -= 1
            last = self.healthy == 0
        while last:
            try:
                i, sc = self.todo.get_nowait()
            except queue.Empty:
                return
            self.record(i, self.verdict(sc, status, why))

    def add_time(self, key: str, seconds: float) -> None:
        """summary.json's timings (boot and restore summed over guests)."""
        with self.lock:
            self.timings[key] = round(self.timings.get(key, 0.0) + seconds, 3)

    def start(self, n: int) -> Backend | None:
        session: Backend | None = None
        if self.progress is not None:
            self.progress.worker(n, "booting")
        try:
            session = self.factory(n, self.results)
            with self.lock:
                self.live.add(session)
            session.prepare(self.programs)  # before launch: a delivery disk is attached at start
            if self.stopping.is_set():
                raise InfraError("interrupted")
            t = time.monotonic()
            session.launch()
            self.add_time("boot_seconds", time.monotonic() - t)
            return session
        except BootCrash as e:
            self.lose_worker(str(e), Status.BOOT_CRASH)
        except HarnessError as e:
            self.lose_worker(str(e), Status.INFRA_ERROR)
        except Exception as e:
            self.lose_worker(self.internal(f"starting guest {n}", e), Status.INTERNAL_ERROR)
        if session is not None:
            self.end(session)
        return None

    def end(self, session: Backend) -> None:
        with contextlib.suppress(Exception):
            session.close()
        with self.lock:
            self.live.discard(session)

    def worker(self, n: int) -> None:
        session = self.start(n)
        if session is None:
            return
        try:
            while not self.stopping.is_set():
                try:
                    i, sc = self.todo.get_nowait()
                except queue.Empty:
                    return
                if not self.one(session, i, sc, n):
                    return
        finally:
            self.end(session)

    def one(self, session: Backend, i: int, sc: Scenario, n: int) -> bool:
        """Run one scenario on SESSION (worker N); False when the machine is lost."""
        started = time.monotonic()
        if self.progress is not None:
            self.progress.scenario_started(sc.name, n)
        needs_recovery = True
        try:
            run = session.run_scenario(sc.name, self.cfg.scenario_timeout)
            v = judge(sc, self.cfg, run, self.results, self.models.get(sc))
            needs_recovery = run.crash is not None
        except InfraError as e:
            v = self.verdict(sc, Status.INFRA_ERROR, str(e))
        except OSError as e:  # a host resource (disk full, file limit): not the kernel, not a bug
            v = self.verdict(sc, Status.INFRA_ERROR, f"host: {e}")
        except Exception as e:
            v = self.verdict(sc, Status.INTERNAL_ERROR, self.internal(f"scenario {sc.name}", e))
        self.record(i, _timed(v, started), n)
        if not needs_recovery or self.stopping.is_set():
            return True
        if self.progress is not None:
            self.progress.worker(n, "recovering")
        try:
            t = time.monotonic()
            session.restore()
            self.add_time("restore_seconds", time.monotonic() - t)
            self.add_time("restores", 1)
        except HarnessError as e:
            self.lose_worker(f"guest lost and not recoverable: {e}", Status.INFRA_ERROR)
            return False
        except Exception as e:
            self.lose_worker(self.internal("restoring the guest", e), Status.INTERNAL_ERROR)
            return False
        return True


def _timed(v: Verdict, started: float) -> Verdict:
    v.seconds = round(time.monotonic() - started, 3)
    return v

