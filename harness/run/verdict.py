"""Per-scenario verdicts of a guest run.

Infrastructure failures are a verdict of their own and never count as kernel
divergences (SPEC 5).
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any


class Status(enum.StrEnum):
    PASS = "pass"
    DIVERGED = "diverged"
    GUEST_CRASH = "guest-crash"
    INFRA_ERROR = "infra-error"
    BOOT_CRASH = "boot-crash"  # the kernel crashed or hung while booting: no scenario could run
    INTERNAL_ERROR = "internal-error"  # the harness itself failed (a bug): never a pass


# What each status makes of the run's exit code (harness.errors.ExitCode).
KERNEL_VERDICTS = frozenset({Status.DIVERGED, Status.GUEST_CRASH, Status.BOOT_CRASH})
HARNESS_FAULTS = frozenset({Status.INFRA_ERROR, Status.INTERNAL_ERROR})


@dataclass
class Verdict:
    scenario: str
    arch: str
    profile: str
    status: Status
    summary: str = ""  # one line: the first divergence, the panic, the infra failure
    detail: str = ""  # the rendered first divergence with context, or the console tail
    seconds: float = 0.0
    files: dict[str, str] = field(default_factory=dict)  # what was written where
    # with --ktrace: the cross-check of the agent's records with the kernel's own
    # syscall trace (harness.trace.ktrace); a note, not part of the status
    ktrace: dict[str, Any] | None = None

    def describe(self) -> str:
        head = f"{self.status.value:11} {self.arch:6} {self.scenario}"
        note = f" [{self.ktrace['line']}]" if self.ktrace else ""
        return head + (f": {self.summary}" if self.summary else "") + note

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["status"] = self.status.value
        if d["ktrace"] is None:
            del d["ktrace"]
        return d


def exit_code_for(verdicts: list[Verdict], expected: int | None = None) -> int:
    """0 all pass, 1 divergence or kernel crash, 3 infrastructure or internal failure.

    A run that has fewer (or more) verdicts than scenarios lost some: never 0."""
    statuses = {v.status for v in verdicts}
    if statuses & KERNEL_VERDICTS:
        return 1
    if statuses & HARNESS_FAULTS or (expected is not None and len(verdicts) != expected):
        return 3
    return 0
