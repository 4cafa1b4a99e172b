"""What a kernel does with the bisect's scenarios: the guest's normalised traces.

The verdict of a bisect is the guest's, not the model's: one run of a kernel
is an Observation (its guest traces, or a boot crash, or an infrastructure
failure), two observations behave the same when every scenario's normalised
guest traces diff empty and they crashed the same way, and N runs of a commit
are tallied against the ends' behaviours with a majority threshold.
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HarnessError
from harness.guest.simkernel import is_simulated_kernel
from harness.guest.simkernel import load as load_simulated_kernel
from harness.report import text as rtext
from harness.report.result import Status, Verdict
from harness.report.results import ResultsDir
from harness.run.pipeline import RunConfig, SessionFactory, run_scenarios
from harness.scenario.compiler import Scenario
from harness.trace import diff as tdiff
from harness.trace.schema import Trace, read_trace


class Outcome(enum.StrEnum):
    OK = "ok"  # the scenarios ran (a guest crash inside one is behaviour too)
    BOOT_CRASH = "boot-crash"
    INFRA = "infra"


# Labels of a run relative to the ends (the rest: "third-N").
GOOD, BAD = "good", "bad"


@dataclass
class Observation:
    outcome: Outcome
    why: str
    run_dir: Path
    traces: dict[str, Trace] = field(default_factory=dict)  # scenario -> guest trace
    crashes: dict[str, str] = field(default_factory=dict)  # scenario -> "panic", "hang", ...
    agent: Path | None = None  # the guest agent the run used (the model's loader needs its image)
    simulated: bool = False


class KernelUnusable(HarnessError):
    """The build produced something that is not a kernel for this run."""


@dataclass
class RunSpec:
    arch: str
    profile: str  # what the model uses (the results' diffs; explain's base)
    scenarios: list[Scenario]
    agent: Path | None = None
    qemu_profile: str | None = None
    boot_scale: float = 1.0
    timeout: float = 120.0


def _crash_class(v: Verdict) -> str:
    # "panic: ...", "hang: ...", "machine died: ..." (harness.run.consolesession)
    return v.summary.split(":", 1)[0]


class Runner:
    def __init__(self, spec: RunSpec) -> None:
        self.spec = spec

    def factory(self, kernel: Path, run_index: int, rd: ResultsDir) -> tuple[SessionFactory, RunConfig, Path | None]:
        """The guest backend for KERNEL (harness.run.backends): a SIMULATED kernel file
        or a real kernel under QEMU; a kernel file that cannot be used is KernelUnusable."""
        from harness.errors import UsageError
        from harness.run.backends import factory_for, get_backend

        spec = self.spec
        sim = is_simulated_kernel(kernel)
        if sim:
            try:
                sk = load_simulated_kernel(kernel)
            except HarnessError as e:
                raise KernelUnusable(str(e)) from None
            if sk.arch != spec.arch:
                raise KernelUnusable(f"the build made a SIMULATED {sk.arch} kernel, not {spec.arch}")
            rd.meta.update({"simulated_kernel": sk.label, "simulated": True})
        cfg = RunConfig(spec.arch, spec.profile, scenario_timeout=spec.timeout,
                        backend="simulated" if sim else "qemu", kernel=kernel, agent=spec.agent,
                        qemu_profile=spec.qemu_profile, boot_scale=spec.boot_scale,
                        run_index=run_index if sim else None)
        backend = get_backend(cfg.backend)
        try:
            backend.check(cfg, [sc.name for sc in spec.scenarios])
        except UsageError as e:  # the kernel file: not this arch, not a kernel
            raise KernelUnusable(str(e)) from None
        backend.setup(cfg, rd, lambda _line: None)  # e.g. the agent, built in the guest
        if cfg.agent is not None:
            cfg.agent_image = cfg.agent.read_bytes()
        return factory_for(cfg), cfg, cfg.agent

    def observe(self, kernel: Path, run_dir: Path, run_index: int) -> Observation:
        """One run of KERNEL over the scenarios; everything it wrote is in RUN_DIR."""
        run_dir.mkdir(parents=True, exist_ok=True)
        rd = ResultsDir(run_dir)
        rd.meta = {"kernel": str(kernel), "arch": self.spec.arch, "profile": self.spec.profile,
                   "run_index": run_index}
        try:
            factory, cfg, agent = self.factory(kernel, run_index, rd)
        except KernelUnusable:
            raise
        except HarnessError as e:  # e.g. the in-guest agent build failed
            return Observation(Outcome.INFRA, str(e), run_dir)
        verdicts = run_scenarios(self.spec.scenarios, cfg, factory, rd)
        obs = _observation(verdicts, rd)
        obs.agent, obs.simulated = agent, cfg.backend == "simulated"
        return obs


def _observation(verdicts: list[Verdict], rd: ResultsDir) -> Observation:
    for status, outcome in ((Status.INFRA_ERROR, Outcome.INFRA), (Status.BOOT_CRASH, Outcome.BOOT_CRASH)):
        bad = [v for v in verdicts if v.status is status]
        if bad:
            return Observation(outcome, f"{bad[0].scenario}: {bad[0].summary}", rd.root)
    obs = Observation(Outcome.OK, "", rd.root)
    for v in verdicts:
        obs.traces[v.scenario] = read_trace(rd.root / v.files["guest"])
        if v.status is Status.GUEST_CRASH:
            obs.crashes[v.scenario] = _crash_class(v)
    crashed = ", ".join(f"{k} ({c})" for k, c in sorted(obs.crashes.items()))
    obs.why = f"guest crashed in {crashed}" if crashed else "all scenarios ran"
    return obs


def difference(a: Observation, b: Observation, la: str = "A", lb: str = "B") -> str | None:
    """None when A and B behave the same, else the first difference in one line."""
    for name in sorted(set(a.traces) | set(b.traces)):
        if name not in a.traces or name not in b.traces:
            return f"{name}: ran in only one of them"
        if a.crashes.get(name) != b.crashes.get(name):
            return (f"{name}: guest crash: {la} {a.crashes.get(name) or 'none'}, "
                    f"{lb} {b.crashes.get(name) or 'none'}")
        result = tdiff.diff(a.traces[name], b.traces[name], la, lb)
        if not result.identical:
            return f"{name}: {rtext.first_line(result)}"
    return None


@dataclass
class Tally:
    labels: list[str]  # per run: good, bad, third-N, boot-crash, infra
    thirds: list[Observation]  # representative of each third-N
    runs: int
    threshold: int  # runs needed for a majority

    @property
    def top(self) -> tuple[str, int]:
        return Counter(self.labels).most_common(1)[0]

    @property
    def reliable(self) -> bool:
        return self.top[1] >= self.threshold

    @property
    def flaky(self) -> bool:
        return len(set(self.labels)) > 1

    def describe(self) -> str:
        counts = ", ".join(f"{n} {label}" for label, n in Counter(self.labels).most_common())
        return f"{counts} of {self.runs} run(s) (majority threshold {self.threshold}/{self.runs})"


def tally(observations: list[Observation], ends: dict[str, Observation]) -> Tally:
    labels: list[str] = []
    thirds: list[Observation] = []
    for o in observations:
        if o.outcome is not Outcome.OK:
            labels.append(o.outcome.value)
            continue
        label = next((name for name, ref in ends.items() if difference(o, ref) is None), None)
        if label is None:
            k = next((i for i, t in enumerate(thirds) if difference(o, t) is None), None)
            if k is None:
                thirds.append(o)
                k = len(thirds) - 1
            label = f"third-{k + 1}"
        labels.append(label)
    n = len(observations)
    return Tally(labels, thirds, n, n // 2 + 1)


def representative(observations: list[Observation], t: Tally) -> Observation:
    """The first run with the majority label."""
    label = t.top[0]
    return next(o for o, lab in zip(observations, t.labels, strict=True) if lab == label)
