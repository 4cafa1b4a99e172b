"""The nightly matrix: one [[cell]] per kernel x arch x profile x scenario set.

Everything is checked before anything runs (exit 2 with file:line): names,
arches, profiles, that exactly one kernel source is given and exists, that the
scenarios exist, compile and apply to the cell.  Relative paths are relative to
the matrix file's directory, then to the current directory.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, InputError
from harness.nightly.tomlfile import TomlTables

KERNEL_KEYS = ("kernel", "image", "simulated-kernel")
KEYS = ("name", "arch", "profile", "scenarios", "jobs", "timeout", "cell_timeout", "boot_scale", "agent",
        "qemu_profile", *KERNEL_KEYS)
SYSCALL_PREFIX = "syscall:"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


@dataclass(frozen=True)
class CellScenario:
    name: str
    path: Path
    covers: tuple[str, ...]


@dataclass
class Cell:
    name: str
    arch: str
    profile: str
    kernel_key: str  # which of KERNEL_KEYS gave the kernel
    kernel: str  # a path (kernel, simulated-kernel) or an image name
    scenarios: list[CellScenario]
    jobs: int = 1
    timeout: float = 120.0  # seconds per scenario (harness run --timeout)
    cell_timeout: float | None = None  # seconds for the whole cell; then it is stopped: infrastructure
    boot_scale: float = 1.0
    agent: str | None = None
    qemu_profile: str | None = None
    line: int = 0
    simulated: bool = False

    def run_args(self) -> list[str]:
        """The `harness run` flags that run this cell (scenario files last)."""
        args = ["--arch", self.arch, "--profile", self.profile, "--jobs", str(self.jobs),
                "--timeout", str(self.timeout), "--boot-scale", str(self.boot_scale)]
        args += ["--image", self.kernel] if self.kernel_key == "image" else ["--kernel", self.kernel]
        if self.agent:
            args += ["--agent", self.agent]
        if self.qemu_profile:
            args += ["--qemu-profile", self.qemu_profile]
        return args

    def describe(self) -> str:
        sim = " SIMULATED" if self.simulated else ""
        return f"{self.name}: {self.arch} {self.profile}{sim}, {len(self.scenarios)} scenarios, {self.jobs} job(s)"


@dataclass
class Matrix:
    path: Path
    cells: list[Cell] = field(default_factory=list)


def load_matrix(path: str | Path) -> Matrix:
    p = Path(path)
    tables = TomlTables(p, "cell")
    entries = tables.entries()
    if not entries:
        raise InputError(f"{p}: no [[cell]] tables")
    matrix = Matrix(p.resolve())
    seen: dict[str, int] = {}
    for i, entry in enumerate(entries):
        cell = _cell(tables, i, entry)
        if cell.name in seen:
            raise tables.error(i, "name", f"name {cell.name!r} already used by the cell at line {seen[cell.name]}")
        seen[cell.name] = cell.line
        matrix.cells.append(cell)
    return matrix


def _resolve(base: Path, value: str) -> Path:
    p = Path(value).expanduser()
    if p.is_absolute():
        return p
    return base / p if (base / p).exists() else Path.cwd() / p


def _cell(t: TomlTables, i: int, e: dict[str, Any]) -> Cell:
    from harness.model.arch import ARCHES
    from harness.model.profiles import PROFILES
    from harness.run.modelrun import default_profile

    unknown = sorted(set(e) - set(KEYS))
    if unknown:
        raise t.error(i, unknown[0], f"unknown key(s) {unknown}; known: {', '.join(KEYS)}")
    name = e.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise t.error(i, "name", "name: required, letters, digits and . _ + - (it names files)")
    arch = e.get("arch")
    if arch not in ARCHES:
        raise t.error(i, "arch", f"arch: one of {', '.join(ARCHES)} (got {arch!r})")
    profile = e.get("profile", default_profile(arch))
    if profile not in PROFILES:
        raise t.error(i, "profile", f"unknown profile {profile!r} (known: {', '.join(PROFILES)})")
    cell = Cell(name, arch, profile, "", "", [], line=t.line(i))
    _kernel(t, i, e, cell)
    for key, lo in (("jobs", 1), ("timeout", 0), ("cell_timeout", 0), ("boot_scale", 0)):
        if key in e:
            v = e[key]
            ok = isinstance(v, int) if key == "jobs" else isinstance(v, int | float)
            if isinstance(v, bool) or not ok or v < lo or (lo == 0 and v == 0):
                raise t.error(i, key, f"{key}: a positive {'integer' if key == 'jobs' else 'number'} (got {v!r})")
            setattr(cell, key, v if key == "jobs" else float(v))
    for key in ("agent", "qemu_profile"):
        if key in e:
            if not isinstance(e[key], str):
                raise t.error(i, key, f"{key}: a string")
            setattr(cell, key, str(_resolve(t.path.parent, e[key])) if key == "agent" else e[key])
    if cell.agent and not Path(cell.agent).is_file():
        raise t.error(i, "agent", f"agent {cell.agent}: no such file")
    if not cell.simulated:
        _qemu(t, i, cell)
    cell.scenarios = _scenarios(t, i, e.get("scenarios"), cell)
    return cell


def _qemu(t: TomlTables, i: int, cell: Cell) -> None:
    """The cell's QEMU profile exists and boots 9front kernels (mips does not): else exit 2 now."""
    from harness.qemu.profiles import get_profile as get_qemu_profile
    from harness.run.backends.qemu import check_kernel

    try:
        if cell.kernel_key == "kernel":
            check_kernel(cell.arch, Path(cell.kernel), cell.qemu_profile)
        else:  # an image is fetched (and checked) by the run
            get_qemu_profile(cell.qemu_profile or cell.arch)
    except HarnessError as err:
        raise t.error(i, "qemu_profile" if cell.qemu_profile else "arch", str(err)) from None


def _kernel(t: TomlTables, i: int, e: dict[str, Any], cell: Cell) -> None:
    from harness.guest.simkernel import is_simulated_kernel
    from harness.guest.simkernel import load as load_simkernel

    given = [k for k in KERNEL_KEYS if k in e]
    if len(given) != 1:
        raise t.error(i, given[1] if len(given) > 1 else None,
                      f"give exactly one of {', '.join(KERNEL_KEYS)} (got {', '.join(given) or 'none'})")
    key = given[0]
    value = e[key]
    if not isinstance(value, str) or not value:
        raise t.error(i, key, f"{key}: a non-empty string")
    cell.kernel_key = key
    if key == "image":
        from harness.images import find_image

        try:
            img = find_image(value)
        except HarnessError as err:
            raise t.error(i, key, str(err)) from None
        if img.arch != cell.arch:
            raise t.error(i, key, f"image {value} is for {img.arch}, not {cell.arch}")
        cell.kernel = value
        return
    path = _resolve(t.path.parent, value)
    if not path.is_file():
        raise t.error(i, key, f"{key} {value}: no such file")
    cell.kernel = str(path.resolve())
    cell.simulated = is_simulated_kernel(path)
    if key == "simulated-kernel" and not cell.simulated:
        raise t.error(i, key, f"{value}: not a simulated kernel (first line must be [simulated-kernel])")
    if cell.simulated:
        try:
            sk = load_simkernel(path)
        except HarnessError as err:
            raise t.error(i, key, str(err)) from None
        if sk.arch != cell.arch:
            raise t.error(i, key, f"{value} is a SIMULATED kernel for {sk.arch}, not {cell.arch}")


@functools.cache
def _corpus_covers() -> tuple[tuple[Path, tuple[str, ...]], ...]:
    """What each corpus scenario covers, read once however many cells say "syscall:NAME"."""
    from harness.scenario.compiler import find_scenarios
    from harness.scenario.loader import load_yaml

    out = []
    for f in find_scenarios(None):
        doc = load_yaml(f)
        covers = doc.get("covers") if isinstance(doc, dict) else None
        out.append((f, tuple(str(c) for c in covers) if isinstance(covers, list) else ()))
    return tuple(out)


def _scenarios(t: TomlTables, i: int, value: Any, cell: Cell) -> list[CellScenario]:
    from harness.scenario.compiler import compile_scenario, find_scenarios

    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise t.error(i, "scenarios", 'scenarios: a non-empty list of paths or "syscall:NAME"')
    files: list[Path] = []
    for v in value:
        try:
            if v.startswith(SYSCALL_PREFIX):
                found = [f for f, covers in _corpus_covers() if v[len(SYSCALL_PREFIX):] in covers]
                if not found:
                    raise InputError(f"no scenario in the corpus covers {v[len(SYSCALL_PREFIX):]!r}")
            else:
                found = find_scenarios([str(_resolve(t.path.parent, v))])
        except HarnessError as err:
            raise t.error(i, "scenarios", f"scenarios: {err}") from None
        files += [f.resolve() for f in found if f.resolve() not in files]
    out: list[CellScenario] = []
    names: dict[str, Path] = {}
    for f in files:
        try:
            sc = compile_scenario(f, cell.arch)
        except HarnessError as err:
            raise t.error(i, "scenarios", f"scenarios: {err}") from None
        if not sc.runs_on(cell.arch, cell.profile):
            continue
        if sc.name in names:
            raise t.error(i, "scenarios", f"scenario name {sc.name!r} is both {names[sc.name]} and {f}")
        names[sc.name] = f
        out.append(CellScenario(sc.name, f, tuple(sc.covers)))
    if not out:
        raise t.error(i, "scenarios", f"none of the scenarios applies to {cell.arch} / {cell.profile}")
    return out
