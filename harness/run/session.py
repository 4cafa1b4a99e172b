"""One guest shared by many scenarios run one at a time: the pytest plugin's session.

`harness run` schedules a whole list onto its pool (pipeline._Run); a pytest
session asks for one scenario at a time, in its own order, so this keeps one
backend alive across calls.  The backend gets every program before launch (the
delivery disk is attached at boot) and boots at the first call.  As in the
pipeline, the machine is restored only when a scenario left it dead or hung:
the agent runs each program as a fresh process, so a passing scenario leaves
nothing behind, and both front ends judge a scenario on the same guest state.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

from harness.errors import BootCrash, HarnessError, InfraError
from harness.report.result import Status, Verdict
from harness.report.results import ResultsDir
from harness.run.backends import Backend, get_backend
from harness.run.config import RunConfig
from harness.run.pipeline import judge
from harness.scenario.compiler import Scenario


class GuestSession:
    def __init__(self, cfg: RunConfig, results: ResultsDir, scenarios: list[Scenario],
                 say: Callable[[str], None] = print) -> None:
        self.cfg, self.results, self.say = cfg, results, say
        self.cls = get_backend(cfg.backend)
        self.programs = {sc.name: sc.program.dumps() for sc in scenarios}
        self.backend: Backend | None = None
        self.lost: tuple[Status, str] | None = None  # the machine is gone: every later verdict
        self.boots = 0  # guests launched (restores not counted)
        self.restores = 0
        self.ran = 0

    def _verdict(self, sc: Scenario, status: Status, summary: str) -> Verdict:
        return Verdict(sc.name, self.cfg.arch, self.cfg.profile, status, summary=summary)

    def _start(self) -> None:
        started = time.monotonic()
        try:
            self.cls.setup(self.cfg, self.results, self.say)
            if self.cfg.agent is not None and self.cfg.agent_image is None:
                self.cfg.agent_image = self.cfg.agent.read_bytes()
            self.backend = self.cls(0, self.results, self.cfg)
            self.backend.prepare(self.programs)
            self.boots += 1
            self.backend.launch()
        except BootCrash as e:
            self.lost = (Status.BOOT_CRASH, str(e))
        except (HarnessError, OSError) as e:
            self.lost = (Status.INFRA_ERROR, str(e))
        self.results.run.timings["boot_seconds"] = round(time.monotonic() - started, 3)
        if self.lost is not None:
            self.close()

    def run(self, sc: Scenario) -> Verdict:
        """SC on the shared guest (booted at the first call); the verdict is also journalled."""
        self.ran += 1
        if self.backend is None and self.lost is None:
            self._start()
        if self.lost is not None or self.backend is None:
            status, why = self.lost or (Status.INFRA_ERROR, "no guest")
            v = self._verdict(sc, status, why)
            self.results.add(v)
            return v
        started = time.monotonic()
        dirty = True
        try:
            run = self.backend.run_scenario(sc.name, self.cfg.scenario_timeout)
            v = judge(sc, self.cfg, run, self.results)
            dirty = run.crash is not None
        except InfraError as e:
            v = self._verdict(sc, Status.INFRA_ERROR, str(e))
        except OSError as e:
            v = self._verdict(sc, Status.INFRA_ERROR, f"host: {e}")
        v.seconds = round(time.monotonic() - started, 3)
        self.results.add(v)
        if dirty:
            self._restore()
        return v

    def _restore(self) -> None:
        assert self.backend is not None
        try:
            t = time.monotonic()
            self.backend.restore()
            self.restores += 1
            timings = self.results.run.timings
            timings["restore_seconds"] = round(timings.get("restore_seconds", 0.0) + time.monotonic() - t, 3)
        except HarnessError as e:
            self.lost = (Status.INFRA_ERROR, f"guest lost and not recoverable: {e}")
            self.close()

    def close(self) -> None:
        if self.backend is not None:
            with contextlib.suppress(Exception):
                self.backend.close()
            self.backend = None
