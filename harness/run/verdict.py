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
    BOOT_CRASH = "boot-crash"  # the kernel panicked or hung before the rc prompt: its verdict


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


def exit_code_for(verdicts: list[Verdict]) -> int:
    """0 all pass, 1 divergence or kernel crash, 3 infrastructure failure only."""
    statuses = {v.status for v in verdicts}
    if statuses & {Status.DIVERGED, Status.GUEST_CRASH, Status.BOOT_CRASH}:
        return 1
    if Status.INFRA_ERROR in statuses:
        return 3
    return 0
