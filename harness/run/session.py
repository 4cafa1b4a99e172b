"""What the pipeline needs from a guest, whatever the guest is.

A session is one booted machine (a real QEMU, or the SIMULATED console used by
the tests).  The pipeline delivers programs, asks for each to be run, and gets
back the raw console bytes the agent wrote plus what happened to the machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass
class GuestRun:
    output: bytes  # what the agent command printed (framed records, interleaved kernel prints)
    status: str | None  # the agent's rc $status; None when the command never completed
    crash: str | None = None  # "panic: ...", "hang: ...", "qemu exited ..." when the machine died
    panic_pc: int | None = None


class GuestSession(Protocol):
    label: str  # for logs: "amd64#0"
    qemu_command: list[str]  # the exact command line (empty for the simulator)

    def boot(self) -> None:
        """Start the machine and bring it to an rc prompt (raises InfraError)."""

    def deliver(self, programs: dict[str, str]) -> None:
        """Make the programs (scenario name -> program text) and the agent available to the guest."""

    def run_program(self, scenario: str, timeout: float) -> GuestRun:
        """Run the agent on one delivered program."""

    def recover(self) -> None:
        """Bring a crashed or hung machine back to a clean rc prompt (snapshot restore or reboot)."""

    def close(self) -> None:
        """Stop the machine; never leaves a process behind."""
