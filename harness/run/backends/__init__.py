"""Guest backends: where a scenario's agent really runs, behind one small interface.

A backend is one class in one module of this package, registered by name::

    @register("qemu")
    class QemuBackend(Backend):
        ...

Adding one (a remote QEMU host over SSH, say) is one new file here: the
package's modules are imported on first use, so the decorator is all the
wiring there is.  The pipeline (harness.run.pipeline) drives every backend
through the same lifecycle, one instance per worker::

    check(cfg, names)       class-level, before anything runs: bad input (exit 2),
                            missing tools (exit 3)
    setup(cfg, results, say) class-level, once per run: e.g. build the agent
    prepare(programs)       the compiled programs (and the agent) for the guest
    launch()                boot to a ready machine (BootCrash: the kernel's verdict;
                            InfraError: ours)
    run_scenario(name, t)   one agent run -> GuestRun (raw console bytes, status)
    restore()               a crashed or hung machine back to its ready state
    close()                 stop; never leaves a process behind
    kill()                  from another thread, at interruption: end it now
"""

from __future__ import annotations

import importlib
import pkgutil
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, TypeVar

from harness.errors import UsageError
from harness.report.results import ResultsDir
from harness.run.config import RunConfig


@dataclass
class GuestRun:
    output: bytes  # what the agent command printed (framed records, interleaved kernel prints)
    status: str | None  # the agent's rc $status; None when the command never completed
    crash: str | None = None  # "panic: ...", "hang: ...", "machine died ..." when the machine died
    panic_pc: int | None = None
    frame_key: str = ""  # the run's secret frame key (harness.trace.frame): only its frames are records


class Backend(ABC):
    name: ClassVar[str] = ""
    simulated: ClassVar[bool] = False  # every output of a simulated run says SIMULATED

    label: str  # for logs: "amd64#0"
    command: list[str]  # the exact command line of the machine (for the results directory)

    @classmethod
    def check(cls, cfg: RunConfig, names: list[str]) -> None:
        """Refuse what cannot run, before anything runs (NAMES: the scenarios)."""
        return None

    @classmethod
    def setup(cls, cfg: RunConfig, results: ResultsDir, say: Callable[[str], None]) -> None:
        """Once per run, after the results directory exists (may fill in cfg.agent)."""
        return None

    @classmethod
    def tools(cls, cfg: RunConfig) -> list[str]:
        """Host binaries whose versions go into versions.json."""
        return []

    @abstractmethod
    def __init__(self, n: int, results: ResultsDir, cfg: RunConfig) -> None: ...

    @abstractmethod
    def prepare(self, programs: dict[str, str]) -> None: ...

    @abstractmethod
    def launch(self) -> None: ...

    @abstractmethod
    def run_scenario(self, scenario: str, timeout: float) -> GuestRun: ...

    @abstractmethod
    def restore(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    def kill(self) -> None:
        """From another thread, at an interruption: end the machine's processes now and
        touch nothing the worker thread may be using (its close() tidies up)."""
        self.close()


_REGISTRY: dict[str, type[Backend]] = {}
B = TypeVar("B", bound=type[Backend])


def register(name: str) -> Callable[[B], B]:
    def add(cls: B) -> B:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise RuntimeError(f"two guest backends named {name!r}")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return add


def _discover() -> None:
    for mod in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{mod.name}")


def backend_names() -> list[str]:
    _discover()
    return sorted(_REGISTRY)


def get_backend(name: str) -> type[Backend]:
    _discover()
    if name not in _REGISTRY:
        raise UsageError(f"no guest backend {name!r} (known: {', '.join(sorted(_REGISTRY))})")
    return _REGISTRY[name]


SessionFactory = Callable[[int, ResultsDir], Backend]


def factory_for(cfg: RunConfig) -> SessionFactory:
    cls = get_backend(cfg.backend)
    return lambda n, results: cls(n, results, cfg)
