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
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from harness.errors import ExitCode


class Status(enum.StrEnum):
    PASS = "pass"
    KNOWN = "known"  # diverged as a --baseline entry explains (a known kernel divergence): not a failure
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
    Status.KNOWN: ExitCode.OK,
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
    BISECT = "bisect"  # no verdicts of its own: answer.json, steps.jsonl (harness.bisect)


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
    # the guest agent's own time for the program (its END record), against
    # ``seconds``, the harness's wall time for the scenario; None: not reported
    guest_seconds: float | None = None

    def describe(self) -> str:
        head = f"{self.status.value:11} {self.arch:6} {self.scenario}"
        note = f" [{self.ktrace['line']}]" if self.ktrace else ""
        return head + (f": {self.summary}" if self.summary else "") + note

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["status"] = self.status.value
        for optional in ("ktrace", "records", "guest_seconds"):
            if d[optional] is None:
                del d[optional]
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Verdict:
        """A verdict of summary.json or the journal; keys a newer harness added are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known and k != "status"}, status=Status(d["status"]))


# what each status makes of a run's exit code, as sets (the table above)
KERNEL_VERDICTS = frozenset(st for st, code in _EXIT.items() if code == ExitCode.DIVERGED)
HARNESS_FAULTS = frozenset(st for st, code in _EXIT.items() if code == ExitCode.INFRA)


def exit_code_for(verdicts: list[Verdict], expected: int | None = None) -> int:
    """0 all pass, 1 divergence or kernel crash, 3 infrastructure or internal failure.

    A run with fewer (or more) verdicts than EXPECTED scenarios lost some: never 0."""
    codes = {v.status.exit_code for v in verdicts}
    if ExitCode.DIVERGED in codes:
        return ExitCode.DIVERGED
    if ExitCode.INFRA in codes or (expected is not None and len(verdicts) != expected):
        return ExitCode.INFRA
    return ExitCode.OK


# summary.json "meta" keys that are fields of RunResult; the others stay in RunResult.extra
_META_FIELDS = ("arch", "profile", "kernel", "simulated", "scenarios")


class MetaView(MutableMapping[str, Any]):
    """summary.json's "meta" of a run, read and written through to its fields
    (``results.meta["scenarios"] = 1`` sets ``RunResult.scenarios``)."""

    def __init__(self, run: RunResult) -> None:
        self.run = run

    def __getitem__(self, key: str) -> Any:
        return getattr(self.run, key) if key in _META_FIELDS else self.run.extra[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if key in _META_FIELDS:
            setattr(self.run, key, value)
        else:
            self.run.extra[key] = value

    def __delitem__(self, key: str) -> None:
        if key in _META_FIELDS:
            raise KeyError(f"{key} is a field of the run, not removable")
        del self.run.extra[key]

    def __iter__(self) -> Iterator[str]:
        return iter([*_META_FIELDS, *self.run.extra])

    def __len__(self) -> int:
        return len(_META_FIELDS) + len(self.run.extra)


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
    finished: bool = False  # every planned scenario ran
    ended: bool = False  # the final summary: finished, interrupted or stopped by an error
    interrupted: bool = False  # cut short by SIGINT, SIGTERM or SIGHUP
    # the code the harness exits with when the run ended early: the signal's (130 SIGINT,
    # 143 SIGTERM, 129 SIGHUP), or the error's that stopped it; None: the verdicts decide
    final_exit: int | None = None
    run_id: str = ""  # the run the directory belongs to (shards of one run share it)
    shard: dict[str, Any] | None = None  # {index, count, plan, scenarios} of a sharded run
    extra: dict[str, Any] = field(default_factory=dict)  # agent, ktrace, ...: summary.json's meta
    # seconds spent where (issue 11): compile (before the first boot), boot (to a
    # ready guest, summed over guests), restore (summed), model_while_booting
    timings: dict[str, float] = field(default_factory=dict)

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
        if self.final_exit is not None:
            return self.final_exit
        if self.interrupted:
            return 130
        return exit_code_for(self.verdicts, self.scenarios if self.finished else None)

    def finish(self, interrupted: bool = False, exit_code: int | None = None, completed: bool | None = None) -> None:
        """The run is over: completed (by default when not INTERRUPTED), or cut short
        by a signal or an error whose EXIT_CODE the harness exits with."""
        self.elapsed = round(time.time() - self.started, 3)
        self.ended = True
        self.interrupted = interrupted
        self.finished = not interrupted if completed is None else completed
        if exit_code is not None:
            self.final_exit = int(exit_code)
        elif interrupted:
            self.final_exit = 130

    @property
    def meta(self) -> MetaView:
        return MetaView(self)

    def set_meta(self, meta: Mapping[str, Any]) -> None:
        """Take summary.json's meta: the known keys into fields, the rest into extra."""
        self.extra = {}
        for key, value in meta.items():
            self.meta[key] = value

    def to_json(self, verdicts: bool = True) -> dict[str, Any]:
        """summary.json (the keys before this type existed stay as they were)."""
        out: dict[str, Any] = {
            "command": self.command.value,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(self.started)),
            "started_epoch": self.started,
            "elapsed_seconds": self.elapsed if self.ended else round(time.time() - self.started, 3),
            "finished": self.finished,
            "interrupted": self.interrupted,
            "ended": self.ended,
            "run_id": self.run_id,
            "shard": self.shard,
            "exit_code": self.exit_code,
            "counts": self.counts(),
            "lost": self.lost,
            "meta": dict(self.meta),
            "timings": dict(self.timings),
        }
        if verdicts:
            out["verdicts"] = [v.to_json() for v in self.verdicts]
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RunResult:
        run = cls(Command(d.get("command", Command.RUN)), started=d.get("started_epoch", 0.0),
                  elapsed=d.get("elapsed_seconds", 0.0), finished=d.get("finished", False),
                  interrupted=d.get("interrupted", False), ended=d.get("ended", False),
                  run_id=d.get("run_id", ""), shard=d.get("shard"),
                  verdicts=[Verdict.from_json(v) for v in d.get("verdicts", [])])
        run.set_meta(d.get("meta", {}))
        run.timings = {k: float(v) for k, v in (d.get("timings") or {}).items() if isinstance(v, int | float)}
        if run.ended and not run.finished and isinstance(d.get("exit_code"), int):
            run.final_exit = d["exit_code"]  # the code of a run cut short: not recomputable
        return run
