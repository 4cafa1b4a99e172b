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

from harness.qemu.console import BootTimeouts, Console, ConsoleLog
from harness.qemu.profiles import get_profile as get_qemu_profile
from harness.run.consolesession import AGENT_COMMAND, run_on_console
from harness.run.results import ResultsDir
from harness.run.session import GuestRun


class SimulatedSession:
    def __init__(self, n: int, results: ResultsDir, arch: str, profile: str, fault: str | None = None) -> None:
        self.label = f"{arch}#sim{n}"
        self.arch = arch
        self.profile = profile
        self.fault = fault
        self.workdir = results.path(f"sim{n}", ".keep").parent
        self.log_path = results.console_log(n)
        self.qemu_command: list[str] = []
        self.console: Console | None = None
        self.child: pexpect.spawn | None = None
        self.programs: dict[str, Path] = {}

    def _argv(self) -> list[str]:
        argv = [sys.executable, "-m", "harness.guest.simulator", "--arch", self.arch, "--profile", self.profile]
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
        self.console.boot(get_qemu_profile(self.arch), timeouts=BootTimeouts(scale=0.5))

    def run_program(self, scenario: str, timeout: float) -> GuestRun:
        assert self.console is not None
        cmd = AGENT_COMMAND.format(agent="nhagent.sim", scratch=self.workdir, program=self.programs[scenario])
        return run_on_console(self.console, cmd, timeout)

    def recover(self) -> None:
        # The simulator has no snapshots: a crashed one is replaced by a fresh boot,
        # without the fault (a real restore brings back the pre-fault machine too).
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
