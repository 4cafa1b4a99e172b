"""The SIMULATED backend: a Python process speaking the 9front console
(harness/guest/simulator.py) instead of a kernel.

Used by the pipeline tests and by `harness run --simulate`: the same console
state machine, framing, decoding, normalising and diffing as a real run, with
the guest replaced by a process that is named a simulator everywhere.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import sys
from pathlib import Path

import pexpect

from harness.errors import HarnessError, UsageError
from harness.files import write_atomic
from harness.guest.simkernel import Fault, SimulatedKernel, next_run_index
from harness.guest.simkernel import load as load_simulated_kernel
from harness.model.arch import QEMU_ARCHES
from harness.qemu.console import DEFAULT_TIMEOUTS, BootState, BootTimeouts, Console, ConsoleLog
from harness.qemu.profiles import get_profile as get_qemu_profile
from harness.report.results import ResultsDir
from harness.run.backends import Backend, GuestRun, register
from harness.run.backends.console import classify_boot_failure, run_on_console
from harness.run.config import RunConfig

# The simulator prints its banner once Python has started (slow on a loaded
# host) and every later line at once: a silent simulator after its banner is a
# simulated boot hang, found in seconds rather than a real kernel's minutes.
SIM_TIMEOUTS = {s: (60.0 if s is BootState.FIRMWARE else 5.0) for s in DEFAULT_TIMEOUTS}


def parse_fault(fault: str, names: list[str]) -> Fault:
    """--fault KIND[:SCENARIO], checked before anything runs (bad input, exit 2)."""
    try:
        f = Fault.parse(fault)
    except ValueError as e:
        raise UsageError(f"--fault {fault!r}: {e}") from None
    if f.scenario and f.scenario not in names:
        raise UsageError(f"--fault {fault!r}: no scenario {f.scenario!r} in this run")
    return f


@register("simulated")
class SimulatedBackend(Backend):
    simulated = True

    @classmethod
    def check(cls, cfg: RunConfig, names: list[str]) -> None:
        if cfg.arch not in QEMU_ARCHES:
            raise UsageError(f"--simulate --arch {cfg.arch}: the simulated console is one of the QEMU arches "
                             f"({', '.join(QEMU_ARCHES)})")
        if cfg.fault:
            parse_fault(cfg.fault, names)
        if cfg.ktrace:
            raise UsageError("--ktrace needs a real kernel (--kernel): the kernel's syscall trace comes from the guest")
        if cfg.kernel is not None:  # a [simulated-kernel] file (SPEC 6.1): bad TOML is bad input
            sk = load_simulated_kernel(cfg.kernel)
            if sk.arch != cfg.arch:
                raise UsageError(f"{cfg.kernel} is a SIMULATED {sk.arch} kernel, not {cfg.arch}")
            if cfg.fault:
                raise UsageError("--fault: a SIMULATED kernel file names its own faults")

    def __init__(self, n: int, results: ResultsDir, cfg: RunConfig) -> None:
        self.label = f"{cfg.arch}#sim{n}"
        self.arch = cfg.arch
        self.profile = cfg.profile
        self.fault = cfg.fault
        self.boot_scale = cfg.boot_scale
        # KERNEL: a SIMULATED kernel file (its profile, switches and faults); RUN_INDEX
        # numbers the run for its flaky faults (default: a counter kept per kernel file)
        self.kernel: SimulatedKernel | None = load_simulated_kernel(cfg.kernel) if cfg.kernel else None
        self.run_index = cfg.run_index
        # --repeat: each restore is a new run of the kernel file (its flaky and jitter
        # faults differ run by run); a crash restore in a single run keeps the run's number
        self.renumber = cfg.repeat > 1 and cfg.run_index is None
        if self.kernel is not None and self.run_index is None:
            self.run_index = next_run_index(self.kernel)
        self.workdir = results.path(f"sim{n}", ".keep").parent
        self.log_path = results.console_log(n)
        self.command: list[str] = []
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

    def prepare(self, programs: dict[str, str]) -> None:
        pdir = self.workdir / "p"
        pdir.mkdir(parents=True, exist_ok=True)
        for n, (name, text) in enumerate(sorted(programs.items())):
            path = pdir / f"{n:04d}.nhp"
            write_atomic(path, text)  # a full disk is one infra line (harness.files)
            self.programs[name] = path

    def launch(self) -> None:
        self.command = argv = self._argv()
        write_atomic(self.workdir / "simulator.cmdline", shlex.join(argv) + "\n")
        self.child = pexpect.spawn(argv[0], argv[1:], encoding="utf-8", codec_errors="replace", timeout=30, echo=False)
        with open(self.workdir / "simulator.pid", "a") as f:  # every pid it ever had, for leak checks
            f.write(f"{self.child.pid}\n")
        self.console = Console(self.child, ConsoleLog(self.log_path), line_end="\n")
        try:
            self.console.boot(get_qemu_profile(self.arch), timeouts=BootTimeouts(scale=self.boot_scale, per_state=dict(SIM_TIMEOUTS)))
        except HarnessError as e:
            child = self.child
            reset = child is not None and not child.isalive() and child.exitstatus == 0
            raise classify_boot_failure(e, self.console.boot_state, reset) from e

    def run_scenario(self, scenario: str, timeout: float) -> GuestRun:
        assert self.console is not None
        return run_on_console(self.console, "nhagent.sim", str(self.workdir), str(self.programs[scenario]), timeout)

    def restore(self) -> None:
        # The simulator has no snapshots: a crashed one is replaced by a fresh boot,
        # without the --fault (a real restore brings back the pre-fault machine too).
        # A kernel file's faults stay: they are that kernel's, and name their scenario.
        self.close()
        self.fault = None
        if self.kernel is not None and self.renumber:
            self.run_index = next_run_index(self.kernel)
        self.launch()

    def kill(self) -> None:
        child = self.child
        if child is not None and not child.terminated:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signal.SIGKILL)  # close() in the worker's thread reaps it

    def close(self) -> None:
        if self.console is not None:
            self.console.close()
            self.console = None
        if self.child is not None:
            self.child.close(force=True)
            self.child = None
