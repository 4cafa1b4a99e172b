"""SIMULATED kernel files: a test fixture that stands wherever a kernel is accepted (SPEC 6.1).

A kernel file whose first line is ``[simulated-kernel]`` is not a kernel: it is
TOML telling the SIMULATED console (harness/guest/simulator.py) which behaviour
to simulate::

    [simulated-kernel]
    arch = "amd64"
    profile = "9front-2022.05"          # the behaviour it simulates
    switches = ["+shebang-tokenize"]    # profile switches turned on (+) or off (-)
    faults = ["panic:child-exits-await"]

Faults are ``KIND[:SCENARIO]`` (without a scenario: every scenario):

* ``panic``, ``hang``, ``flood``, ``corrupt``, ``exit``: as ``--simulate --fault``;
* ``panic-at-boot``, ``hang-at-boot``: the kernel dies or stops after its banner,
  before the rc prompt (a boot crash, the kernel's verdict); no scenario;
* ``flaky``: the scenario panics half-way on some runs only, chosen by a
  deterministic pseudo-random pattern of the run index (``flaky_misbehaves``).

Every output of a run on such a file says SIMULATED.
"""

from __future__ import annotations

import enum
import hashlib
import os
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import InputError, UsageError
from harness.model.profiles import PROFILES, SWITCHES, Profile, get_profile

MARKER = "[simulated-kernel]"
ARCHES = ("amd64", "arm64", "mips")  # the arches a guest run boots (harness.run.modelrun.QEMU_ARCHES)
KEYS = ("arch", "profile", "switches", "faults")
FLAKY_ONE_IN = 3  # a flaky scenario misbehaves on about one run in three


class FaultKind(enum.StrEnum):
    PANIC = "panic"
    HANG = "hang"
    FLOOD = "flood"
    CORRUPT = "corrupt"
    EXIT = "exit"
    FORGE = "forge"  # a frame-shaped buffer without the run's key written to the console
    PANIC_AT_BOOT = "panic-at-boot"  # after the banner: the kernel's verdict (boot-crash)
    HANG_AT_BOOT = "hang-at-boot"  # silent after the banner: boot-crash
    SILENT_AT_BOOT = "silent-at-boot"  # no banner at all, the kernel never ran: infrastructure
    FLAKY = "flaky"

    @property
    def at_boot(self) -> bool:
        return self in (FaultKind.PANIC_AT_BOOT, FaultKind.HANG_AT_BOOT, FaultKind.SILENT_AT_BOOT)


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    scenario: str = ""  # "" = every scenario

    @classmethod
    def parse(cls, text: str) -> Fault:
        """``KIND[:SCENARIO]``; raises ValueError with the reason."""
        name, _, scenario = text.partition(":")
        try:
            kind = FaultKind(name)
        except ValueError:
            raise ValueError(f"unknown fault {name!r} (known: {', '.join(k.value for k in FaultKind)})") from None
        if kind.at_boot and scenario:
            raise ValueError(f"fault {name} happens at boot: it takes no scenario")
        return cls(kind, scenario)

    def applies(self, scenario: str) -> bool:
        return not self.kind.at_boot and self.scenario in ("", scenario)

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.scenario}" if self.scenario else self.kind.value


@dataclass(frozen=True)
class SimulatedKernel:
    path: Path
    arch: str
    profile: str  # the base profile's name
    switches: tuple[str, ...]  # "+name" / "-name", in file order
    faults: tuple[Fault, ...]
    sha256: str

    def model_profile(self) -> Profile:
        """The behaviour simulated: the base profile with the switches applied."""
        return profile_with(self.profile, self.switches)

    @property
    def boot_fault(self) -> Fault | None:
        return next((f for f in self.faults if f.kind.at_boot), None)

    @property
    def label(self) -> str:
        extra = "".join(f" {s}" for s in self.switches)
        faults = f" faults={','.join(map(str, self.faults))}" if self.faults else ""
        return f"SIMULATED kernel {self.arch} {self.profile}{extra}{faults}"


def profile_with(base: str, switches: tuple[str, ...] | list[str]) -> Profile:
    """BASE with each "+name" turned on and "-name" turned off, named after both."""
    prof = get_profile(base)
    on = set(prof.switches)
    for s in switches:
        sign, name = s[:1], s[1:]
        if sign not in ("+", "-") or name not in SWITCHES:
            raise UsageError(f"bad profile switch {s!r}: +NAME or -NAME, NAME one of {', '.join(SWITCHES)}")
        (on.add if sign == "+" else on.discard)(name)
    if not switches:
        return prof
    return Profile(base + "".join(switches), f"{prof.description}, switches {' '.join(switches)}", frozenset(on))


def is_simulated_kernel(path: str | Path) -> bool:
    """True when PATH is a regular file whose first line is the marker (reads only that line)."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    if not stat.S_ISREG(st.st_mode):
        return False
    try:
        with open(path, "rb") as f:
            first = f.readline(len(MARKER) + 8)
    except OSError:
        return False
    return first.rstrip(b"\r\n").strip() == MARKER.encode()


def load(path: str | Path) -> SimulatedKernel:
    """Parse and validate a simulated-kernel file; every problem is one line, exit 2."""
    p = Path(path)
    if not is_simulated_kernel(p):
        raise InputError(f"{p}: not a simulated-kernel file (first line must be {MARKER})")
    data = p.read_bytes()
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise InputError(f"{p}: bad simulated-kernel TOML: {e}") from None
    table = doc.get("simulated-kernel")
    if not isinstance(table, dict) or set(doc) != {"simulated-kernel"}:
        raise InputError(f"{p}: everything goes in the [simulated-kernel] table")
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise InputError(f"{p}: unknown key(s) {', '.join(unknown)} (known: {', '.join(KEYS)})")
    arch = _string(p, table, "arch", None)
    if arch not in ARCHES:
        raise InputError(f"{p}: unknown arch {arch!r} (known: {', '.join(ARCHES)})")
    profile = _string(p, table, "profile", "9front-2022.05")
    if profile not in PROFILES:
        raise InputError(f"{p}: unknown profile {profile!r} (known: {', '.join(PROFILES)})")
    switches = tuple(_strings(p, table, "switches"))
    try:
        profile_with(profile, switches)
    except UsageError as e:
        raise InputError(f"{p}: {e}") from None
    faults = []
    for text in _strings(p, table, "faults"):
        try:
            faults.append(Fault.parse(text))
        except ValueError as e:
            raise InputError(f"{p}: {e}") from None
    return SimulatedKernel(p.resolve(), arch, profile, switches, tuple(faults), hashlib.sha256(data).hexdigest())


def _string(p: Path, table: dict[str, Any], key: str, default: str | None) -> str:
    v = table.get(key, default)
    if not isinstance(v, str):
        raise InputError(f"{p}: {key} must be a string" + (" (it is required)" if v is None else ""))
    return v


def _strings(p: Path, table: dict[str, Any], key: str) -> list[str]:
    v = table.get(key, [])
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise InputError(f"{p}: {key} must be a list of strings")
    return list(v)


def flaky_misbehaves(scenario: str, run_index: int) -> bool:
    """Whether a ``flaky`` scenario misbehaves on run RUN_INDEX: a fixed pseudo-random
    pattern, so the same runs of the same kernel always behave the same."""
    digest = hashlib.sha256(f"flaky:{scenario}:{run_index}".encode()).digest()
    return digest[0] % FLAKY_ONE_IN == 0


def next_run_index(kernel: SimulatedKernel) -> int:
    """0, 1, 2, ... for successive runs of the same kernel file content when the
    caller does not number its runs (a counter in the cache directory)."""
    from harness.guest.build import cache_root

    counter = cache_root() / "simkernel-runs" / kernel.sha256
    counter.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(counter, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX)
        text = os.read(fd, 64).decode() or "0"
        n = int(text) if text.isdigit() else 0
        os.lseek(fd, 0, os.SEEK_SET)
        os.ftruncate(fd, 0)
        os.write(fd, str(n + 1).encode())
        return n
    finally:
        os.close(fd)
