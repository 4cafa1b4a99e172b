"""A session on the SIMULATED 9front console (harness/guest/simulator.py).

Used by the pipeline tests and by `harness run --simulate`: the same console
state machine, framing, decoding, normalising and diffing as a real run, with
the guest replaced by a Python process that is named a simulator everywhere.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pexpect

from harness.guest.simkernel import SimulatedKernel, next_run_index
from harness.qemu.console import DEFAULT_TIMEOUTS, BootState, BootTimeouts, Console, ConsoleLog
from harness.qemu.profiles import get_profile as get_qemu_profile
from harness.run.consolesession import AGENT_COMMAND, run_on_console
from harness.run.results import ResultsDir
from harness.run.session import GuestRun

# The simulator prints its banner once Python has started (slow on a loaded
# host) and every later line at once: a silent simulator after its banner is a
# simulated boot hang, found in seconds rather than a real kernel's minutes.
SIM_TIMEOUTS = {s: (60.0 if s is BootState.FIRMWARE else 5.0) for s in DEFAULT_TIMEOUTS}


class SimulatedSession:
    """KERNEL, when given, is a SIMULATED kernel file (arch, profile, switches and
    faults from it); RUN_INDEX numbers the run for its flaky faults (default: the
    next of a counter kept per kernel file)."""

    def __init__(self, n: int, results: ResultsDir, arch: str, profile: str, fault: str | None = None,
                 kernel: SimulatedKernel | None = None, run_index: int | None = None) -> None:
        self.label = f"{arch}#sim{n}"
        self.arch = arch
        self.profile = profile
        self.fault = fault
        self.kernel = kernel
        self.run_index = run_index
        if kernel is not None and run_index is None:
            self.run_index = next_run_index(kernel)
        self.workdir = results.path(f"sim{n}", ".keep").parent
        self.log_path = results.console_log(n)
        self.qemu_command: list[str] = []
        self.console: Console | None = None
        self.child: pexpect.spawn | None = None
        self.programs: dict[str, Path] = {}

    def _argv(self) -> list[str]:
        argv = [sys.executable, "-m", "harness.guest.simulator", "--arch", self.arch, "--profile", self.profile]
        if self.kernel is not None:
            argv = [*argv[:3], "--kernel-file", str(self.kernel.path)]
        if self.run_index is not None:
            argv += ["--run-index", str(self.run_index)]
        return argv + (["--fault", self.fault] if self.fault else [])

    def deliver(self, programs: dict[str, str]) -> None:
        pdir = self.workdir / "p"
        pdir.mkdir(parents=True, exist_ok=True)
        for n, (name, text) in enumerate(sorted(programs.items())):
            path = pdir / f"{n:04d}.nhp"
            path.write_text(text)
            self.programs[name] = path

    def boot(self) -> None:
        argv = self._argv()
        (self.workdir / "simulator.cmdline").write_text(shlex.join(argv) + "\n")
        self.child = pexpect.spawn(argv[0], argv[1:], encoding="utf-8", codec_errors="replace", timeout=30, echo=False)
        self.console = Console(self.child, ConsoleLog(self.log_path), line_end="\n")
        self.console.boot(get_qemu_profile(self.arch), timeouts=BootTimeouts(per_state=dict(SIM_TIMEOUTS)))

    def run_program(self, scenario: str, timeout: float) -> GuestRun:
        assert self.console is not None
        cmd = AGENT_COMMAND.format(agent="nhagent.sim", scratch=self.workdir, program=self.programs[scenario])
        return run_on_console(self.console, cmd, timeout)

    def recover(self) -> None:
        # The simulator has no snapshots: a crashed one is replaced by a fresh boot,
        # without the --fault (a real restore brings back the pre-fault machine too).
        # A kernel file's faults stay: they are that kernel's, and name their scenario.
        self.close()
        self.fault = None
        self.boot()

    def close(self) -> None:
        if self.console is not None:
            self.console.close()
            self.console = None
        if self.child is not None:
            self.child.close(force=True)
            self.child = None
