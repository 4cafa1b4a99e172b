"""Simulated-kernel files (SPEC 6.1): a test fixture accepted wherever a kernel is.

A kernel file whose first line is ``[simulated-kernel]`` is not a kernel: it is
TOML naming how a SIMULATED 9front console (harness/guest/simulator.py) should
behave::

    [simulated-kernel]
    arch = "amd64"
    profile = "9front-2022.05"            # the semantic profile it follows
    switches = ["+namec-error-suffix"]    # profile switches turned on (+) or off (-)
    faults = ["panic:cow", "flaky:short"] # KIND[:SCENARIO]; no scenario = every scenario

Fault kinds are the simulator's (panic, hang, flood, corrupt, exit) plus
``flaky``: the scenario diverges on its odd-numbered runs and behaves on the
even-numbered ones, counted in FILE.state beside the file (a flaky kernel needs
memory across machines; delete the state file to start the count again).

MINIMAL VERSION written on h/nightly to stay unblocked; h/bisect owns the real
one (same contract: ``is_simulated_kernel``, ``load``).
"""

from __future__ import annotations

import enum
import tomllib
from dataclasses import dataclass
from pathlib import Path

from harness.errors import InputError
from harness.model.profiles import PROFILES, SWITCHES, Profile

MARK = "[simulated-kernel]"


class FaultKind(enum.StrEnum):
    PANIC = "panic"
    HANG = "hang"
    FLOOD = "flood"
    CORRUPT = "corrupt"
    EXIT = "exit"
    FLAKY = "flaky"


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    scenario: str = ""  # "" = every scenario

    def applies(self, scenario: str) -> bool:
        return self.scenario in ("", scenario)

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.scenario}" if self.scenario else self.kind.value


@dataclass(frozen=True)
class SimKernel:
    path: Path
    arch: str
    profile: str
    switches: tuple[str, ...] = ()  # "+name" / "-name"
    faults: tuple[Fault, ...] = ()

    def kernel_profile(self) -> Profile:
        """The profile the simulated kernel behaves by: its base with the switches applied."""
        base = PROFILES[self.profile]
        on = set(base.switches)
        for s in self.switches:
            (on.add if s[0] == "+" else on.discard)(s[1:])
        name = self.profile + "".join(self.switches)
        return Profile(name, f"SIMULATED {base.description}", frozenset(on))

    @property
    def state_path(self) -> Path:
        return self.path.with_name(self.path.name + ".state")


def is_simulated_kernel(path: str | Path) -> bool:
    try:
        with open(path, "rb") as f:
            first = f.readline(64)
    except OSError:
        return False
    return first.strip() == MARK.encode()


def load(path: str | Path) -> SimKernel:
    """Parse and check a simulated-kernel file; every error names the file (InputError, exit 2)."""
    from harness.model.arch import ARCHES

    p = Path(path)
    where = str(p)
    try:
        doc = tomllib.loads(p.read_text())
    except OSError as e:
        raise InputError(f"{where}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{where}: not valid TOML: {e}") from None
    body = doc.get("simulated-kernel")
    if not isinstance(body, dict) or set(doc) != {"simulated-kernel"}:
        raise InputError(f"{where}:1: a simulated kernel is one [simulated-kernel] table")
    unknown = set(body) - {"arch", "profile", "switches", "faults"}
    if unknown:
        raise InputError(f"{where}: unknown key(s) {sorted(unknown)}; known: arch, profile, switches, faults")
    arch = body.get("arch")
    if arch not in ARCHES:
        raise InputError(f"{where}: arch must be one of {', '.join(ARCHES)} (got {arch!r})")
    profile = body.get("profile", "9front-2022.05")
    if profile not in PROFILES:
        raise InputError(f"{where}: unknown profile {profile!r} (known: {', '.join(PROFILES)})")
    switches = body.get("switches", [])
    if not isinstance(switches, list):
        raise InputError(f"{where}: switches is a list of \"+name\" / \"-name\"")
    for s in switches:
        if not isinstance(s, str) or s[:1] not in "+-" or s[1:] not in SWITCHES:
            raise InputError(f"{where}: switch {s!r}: \"+name\" or \"-name\", name one of {', '.join(SWITCHES)}")
    faults = body.get("faults", [])
    if not isinstance(faults, list):
        raise InputError(f"{where}: faults is a list of \"KIND[:SCENARIO]\"")
    parsed: list[Fault] = []
    for f in faults:
        kind, _, scenario = str(f).partition(":")
        try:
            parsed.append(Fault(FaultKind(kind), scenario))
        except ValueError:
            raise InputError(f"{where}: fault {f!r}: kind one of {', '.join(k.value for k in FaultKind)}") from None
    return SimKernel(p.resolve(), str(arch), str(profile), tuple(switches), tuple(parsed))
