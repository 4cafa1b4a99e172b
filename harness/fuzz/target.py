"""Where a generated program runs: the golden model, or a guest.

A target runs a batch of compiled scenarios and gives one trace each (or a
crash).  Batches, not single programs, because a real guest gets its programs
on a delivery disk before it boots: one boot serves a whole batch, and a
crash costs a snapshot restore.  The SIMULATED console takes programs while
it runs, so one boot serves every batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from harness.coverage.collect import run_model
from harness.errors import HarnessError, InfraError
from harness.model.profiles import Profile
from harness.report.results import ResultsDir
from harness.run.backends import Backend, SessionFactory
from harness.run.config import RunConfig
from harness.run.pipeline import guest_trace
from harness.scenario.compiler import Scenario
from harness.trace.schema import Header, Trace


@dataclass
class Outcome:
    """A program's trace on a target, or why there is none."""

    trace: Trace | None
    crash: str | None = None  # the guest died or hung: a kernel verdict
    infra: str | None = None  # the harness failed: never a finding


class Target(Protocol):
    label: str
    simulated: bool

    def run_batch(self, scenarios: list[Scenario]) -> list[Outcome]: ...

    def close(self) -> None: ...


class ModelTarget:
    """The golden model under PROFILE (a name, or a simulated kernel's Profile)."""

    def __init__(self, arch: str, profile: str | Profile, label: str = "model", simulated: bool = False,
                 agent_image: bytes | None = None, scratch_server: str = "perm", source: str = "model") -> None:
        self.source = source  # the trace header's source: "guest" when the model stands for a kernel
        self.arch = arch
        self.profile = profile
        self.label = label
        self.simulated = simulated
        self.agent_image = agent_image
        self.scratch_server = scratch_server
        self.hits: list[set[str]] = []  # the sites each program of the last batch reached

    @property
    def profile_name(self) -> str:
        return self.profile if isinstance(self.profile, str) else self.profile.name

    def run_one(self, sc: Scenario) -> tuple[Trace, set[str]]:
        records, hits = run_model(sc.program, self.arch, self.profile, self.agent_image, self.scratch_server)
        header = Header(source=self.source, scenario=sc.name, arch=self.arch, profile=self.profile_name,
                        meta={"scenario_path": sc.path})
        return Trace(header, records), hits

    def run_batch(self, scenarios: list[Scenario]) -> list[Outcome]:
        out, self.hits = [], []
        for sc in scenarios:
            trace, hits = self.run_one(sc)
            self.hits.append(hits)
            out.append(Outcome(trace))
        return out

    def close(self) -> None:
        pass


class GuestTarget:
    """A guest through the run pipeline's backends (a QEMU machine or the SIMULATED console)."""

    def __init__(self, label: str, factory: SessionFactory, results: ResultsDir, cfg: RunConfig,
                 simulated: bool, keeps_session: bool, n: int = 0, restore_each: bool = False) -> None:
        self.label = label
        self.factory = factory
        self.results = results
        self.cfg = cfg
        self.simulated = simulated
        self.keeps_session = keeps_session  # programs can be delivered to a running guest
        self.n = n
        self.session: Backend | None = None
        self.batches = 0
        # a real guest keeps what a program wrote in its scratch directory; the model
        # starts every program afresh: restore the booted snapshot after each one
        self.restore_each = restore_each

    def _session(self, programs: dict[str, str]) -> Backend:
        if self.session is not None and self.keeps_session:
            self.session.prepare(programs)
            return self.session
        self.close()
        s = self.factory(self.n, self.results)
        s.prepare(programs)
        try:
            s.launch()
        except HarnessError:
            s.close()
            raise
        self.session = s
        return s

    def run_batch(self, scenarios: list[Scenario]) -> list[Outcome]:
        self.batches += 1
        # names unique across batches: the simulated console keeps earlier programs
        names = {f"b{self.batches}-{i}": sc for i, sc in enumerate(scenarios)}
        session = self._session({n: sc.program.dumps() for n, sc in names.items()})
        out = []
        for n, sc in names.items():
            try:
                run = session.run_scenario(n, self.cfg.scenario_timeout)
            except InfraError as e:
                out.append(Outcome(None, infra=str(e)))
                session = self._recover(session)
                continue
            trace, transport = guest_trace(sc, run, self.cfg)
            if run.crash is not None:
                out.append(Outcome(trace, crash=run.crash))
                session = self._recover(session)
            elif transport or run.status is None or not trace.records:
                out.append(Outcome(None, infra=transport[0] if transport else "the agent gave no records"))
            else:
                out.append(Outcome(trace))
            if self.restore_each and run.crash is None:
                session = self._recover(session)
        return out

    def _recover(self, session: Backend) -> Backend:
        session.restore()
        return session

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None


def guest_targets(kernel: str, arch: str, profile: str, results: ResultsDir, jobs: int,
                  agent: str | None = None, timeout: float = 60.0,
                  say: Callable[[str], None] | None = None,
                  restore_each: bool = True) -> tuple[list[Target], ModelTarget]:
    """One guest target per job for KERNEL (a real kernel under QEMU or a SIMULATED
    kernel file), and the model target that matches its delivery (agent image,
    scratch server)."""
    from pathlib import Path

    from harness.errors import UsageError
    from harness.guest.simkernel import is_simulated_kernel
    from harness.guest.simkernel import load as load_simulated_kernel
    from harness.run.backends import factory_for, get_backend

    sk = load_simulated_kernel(kernel) if is_simulated_kernel(kernel) else None
    if sk is not None and sk.arch != arch:
        raise UsageError(f"{kernel} is a SIMULATED {sk.arch} kernel, not {arch}")
    cfg = RunConfig(arch=arch, profile=profile, scenario_timeout=timeout, kernel=Path(kernel),
                    backend="simulated" if sk else "qemu", agent=Path(agent) if agent else None,
                    run_index=0 if sk else None)
    backend = get_backend(cfg.backend)
    backend.check(cfg, [])
    backend.setup(cfg, results, say or print)  # the agent: given, cached, or built in the guest
    if cfg.agent is not None:
        from harness.guest.build import check_agent_image

        cfg.agent_image = cfg.agent.read_bytes()
        check_agent_image(arch, cfg.agent_image, str(cfg.agent))
    factory = factory_for(cfg)
    if sk is not None:
        return ([GuestTarget(f"{sk.label} #{n}", factory, results, cfg, True, True, n) for n in range(jobs)],
                ModelTarget(arch, profile))
    return ([GuestTarget(f"{kernel} #{n}", factory, results, cfg, False, False, n, restore_each)
             for n in range(jobs)],
            ModelTarget(arch, profile, agent_image=cfg.agent_image, scratch_server=cfg.scratch_server))
