"""RunConfig: everything a guest run is, resolved and checked before anything runs.

The CLI parses flags into it, the library checks it (bad values are bad input,
exit 2, before a results directory or a VM exists) and every backend reads it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import UsageError

if TYPE_CHECKING:
    from harness.qemu.media import BootMedium
    from harness.qemu.mediachoice import MediumChoice


def positive(name: str, value: float) -> float:
    """A finite number > 0, or bad input naming the flag."""
    if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise UsageError(f"{name} must be a finite number greater than 0, not {value!r}")
    return float(value)


@dataclass
class RunConfig:
    arch: str
    profile: str  # the model's semantic profile
    agent_image: bytes | None = None  # the agent binary (the model loads it too)
    scenario_timeout: float = 120.0  # seconds per scenario before it counts as a hang
    jobs: int = 1  # guests in parallel
    symbolise: Callable[[int], str | None] | None = None  # panic pc -> "symbol+0xoff"
    # what serves the guest's scratch directory (harness.model.fs): the QEMU
    # guest's is the FAT delivery disk
    scratch_server: str = "perm"
    ktrace: bool = False  # the agent also sends the kernel's syscall trace (-t; harness.trace.ktrace)
    backend: str = "simulated"  # a name in harness.run.backends
    kernel: Path | None = None
    media: MediumChoice | None = None  # --iso / --disk (or an --image of that kind), checked
    medium: BootMedium | None = None  # that medium prepared (the QEMU backend's setup)
    agent: Path | None = None  # the agent binary's path (None: the backend resolves it)
    qemu_profile: str | None = None
    boot_scale: float = 1.0  # multiplies boot timeouts
    fault: str | None = None  # simulated backend: KIND[:SCENARIO]
    run_index: int | None = None  # simulated backend: which run this is (a SIMULATED kernel's flaky faults)
    # --baseline: (scenario, first divergence) -> why it is a known divergence, or None
    known: Callable[[str, str], str | None] | None = None
    repeat: int = 1  # --repeat N: each scenario N times, from the snapshot each time (harness.report.variance)
    # ssh backend (--host): QEMU on these hosts, USER@HOST[:PORT], worker N on host N mod len
    hosts: tuple[str, ...] = ()
    ssh_identity: Path | None = None  # the private key (None: ssh-agent and ~/.ssh/id_*)
    known_hosts: Path | None = None  # None: ~/.ssh/known_hosts

    def __post_init__(self) -> None:
        self.scenario_timeout = positive("--timeout", self.scenario_timeout)
        self.boot_scale = positive("--boot-scale", self.boot_scale)
        if not isinstance(self.jobs, int) or self.jobs < 1:
            raise UsageError(f"--jobs must be at least 1, not {self.jobs!r}")
        if not isinstance(self.repeat, int) or self.repeat < 1:
            raise UsageError(f"--repeat must be at least 1, not {self.repeat!r}")
