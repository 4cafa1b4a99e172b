"""The one result type of `harness model` and `harness run`.

A ``RunResult`` is a run: what it ran on (arch, profile, kernel, simulated or
not), one ``Verdict`` per scenario run, the counts, the exit code and the
timings.  ``RunResult.to_json`` is summary.json; ``RunResult.from_json`` reads
one back (nightly, merge).

Infrastructure failures are a verdict of their own and never count as kernel
divergences (SPEC 5).
"""

from __future__ import annotations

import enum
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.errors import ExitCode


class Status(enum.StrEnum):
    PASS = "pass"
    DIVERGED = "diverged"  # guest and model traces differ
    MISMATCH = "mismatch"  # `harness model`: the model's trace breaks the scenario's own expectations
    GUEST_CRASH = "guest-crash"  # the kernel panicked or hung while running the scenario
    BOOT_CRASH = "boot-crash"  # the kernel panicked or fell silent after its banner, while booting
    INFRA_ERROR = "infra-error"  # QEMU, the host, the transport: never a kernel verdict
    INTERNAL_ERROR = "internal-error"  # a bug of the harness itself: never success

    @property
    def exit_code(self) -> ExitCode:
        return _EXIT[self]


_EXIT = {
    Status.PASS: ExitCode.OK,
    Status.DIVERGED: ExitCode.DIVERGED,
    Status.MISMATCH: ExitCode.DIVERGED,
    Status.GUEST_CRASH: ExitCode.DIVERGED,
    Status.BOOT_CRASH: ExitCode.DIVERGED,
    Status.INFRA_ERROR: ExitCode.INFRA,
    Status.INTERNAL_ERROR: ExitCode.INFRA,
}


class Command(enum.StrEnum):
    """Which command produced a run."""

    MODEL = "model"
    RUN = "run"


@dataclass
class Verdict:
    """One scenario on one arch and profile."""

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
    records: int | None = None  # records in the trace judged (model runs)

    def describe(self) -> str:
        head = f"{self.status.value:11} {self.arch:6} {self.scenario}"
        note = f" [{self.ktrace['line']}]" if self.ktrace else ""
        return head + (f": {self.summary}" if self.summary else "") + note

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["status"] = self.status.value
        for optional in ("ktrace", "records"):
            if d[optional] is None:
                del d[optional]
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Verdict:
        return cls(**{**d, "status": Status(d["status"])})


def exit_code_for(verdicts: list[Verdict]) -> int:
    """0 all pass, 1 divergence or kernel crash, 3 infrastructure failure only."""
    codes = {v.status.exit_code for v in verdicts}
    if ExitCode.DIVERGED in codes:
        return ExitCode.DIVERGED
    return ExitCode.INFRA if ExitCode.INFRA in codes else ExitCode.OK


# summary.json "meta" keys that are fields of RunResult; the others stay in RunResult.extra
_META_FIELDS = ("arch", "profile", "kernel", "simulated", "scenarios")


@dataclass
class RunResult:
    command: Command
    arch: str = ""  # one arch; a model run over several names them with commas
    profile: str = ""  # likewise
    kernel: str | None = None
    simulated: bool = False
    scenarios: int | None = None  # scenario runs planned; fewer verdicts can never exit 0
    verdicts: list[Verdict] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    elapsed: float = 0.0  # seconds, set by finish()
    finished: bool = False
    interrupted: bool = False
    signal_exit: int | None = None  # 130 SIGINT, 143 SIGTERM, 129 SIGHUP: the code of an interrupted run
    extra: dict[str, Any] = field(default_factory=dict)  # agent, ktrace, ...: summary.json's meta

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for v in self.verdicts:
            out[v.status.value] = out.get(v.status.value, 0) + 1
        return out

    @property
    def lost(self) -> int:
        """Planned scenario runs without a verdict (0 while unknown)."""
        return max(0, (self.scenarios or 0) - len(self.verdicts))

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return self.signal_exit if self.signal_exit is not None else 130
        code = exit_code_for(self.verdicts)
        if self.finished and self.lost and code == ExitCode.OK:
            return ExitCode.INFRA  # scenarios vanished: never a success
        return code

    def finish(self, interrupted: bool = False, exit_code: int | None = None) -> None:
        """The run is over (or was cut short: then EXIT_CODE is the signal's, 130/143/129)."""
        self.elapsed = round(time.time() - self.started, 3)
        self.finished = not interrupted
        self.interrupted = interrupted
        if interrupted:
            self.signal_exit = exit_code if exit_code is not None else 130

    @property
    def meta(self) -> dict[str, Any]:
        return {"arch": self.arch, "profile": self.profile, "kernel": self.kernel,
                "simulated": self.simulated, "scenarios": self.scenarios, **self.extra}

    def set_meta(self, meta: dict[str, Any]) -> None:
        """Take summary.json's meta: the known keys into fields, the rest into extra."""
        rest = dict(meta)
        for name in _META_FIELDS:
            if name in rest:
                setattr(self, name, rest.pop(name))
        self.extra = rest

    def to_json(self, verdicts: bool = True) -> dict[str, Any]:
        """summary.json (the keys before this type existed stay as they were)."""
        out: dict[str, Any] = {
            "command": self.command.value,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(self.started)),
            "started_epoch": self.started,
            "elapsed_seconds": self.elapsed or round(time.time() - self.started, 3),
            "finished": self.finished,
            "interrupted": self.interrupted,
            "exit_code": self.exit_code,
            "counts": self.counts(),
            "lost": self.lost,
            "meta": self.meta,
        }
        if verdicts:
            out["verdicts"] = [v.to_json() for v in self.verdicts]
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RunResult:
        run = cls(Command(d.get("command", Command.RUN)), started=d.get("started_epoch", 0.0),
                  elapsed=d.get("elapsed_seconds", 0.0), finished=d.get("finished", False),
                  interrupted=d.get("interrupted", False),
                  verdicts=[Verdict.from_json(v) for v in d.get("verdicts", [])])
        run.set_meta(d.get("meta", {}))
        if run.interrupted:
            run.signal_exit = d.get("exit_code")
        return run
