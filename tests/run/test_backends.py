"""The guest backend registry (harness/run/backends), RunConfig, and the boot-failure table."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import BootCrash, BootTimeout, HarnessError, InfraError, UsageError
from harness.model.machine import Machine
from harness.qemu.console import BootState, GuestPanic, PanicEvent
from harness.report.result import Status
from harness.report.results import ResultsDir
from harness.run.backends import (
    Backend,
    GuestRun,
    backend_names,
    factory_for,
    get_backend,
    register,
)
from harness.run.backends.console import classify_boot_failure, new_frame_key
from harness.run.config import RunConfig
from harness.run.pipeline import run_scenarios
from harness.scenario import compile_scenario
from harness.trace.frame import encode

CORPUS = Path(__file__).resolve().parents[2] / "testcases"


def test_the_package_modules_register_themselves() -> None:
    assert {"qemu", "simulated"} <= set(backend_names())
    assert get_backend("simulated").simulated and not get_backend("qemu").simulated
    with pytest.raises(UsageError, match="no guest backend 'nosuch'"):
        get_backend("nosuch")


@register("test-model")
class ModelBackend(Backend):
    """A whole backend in a few lines: the golden model behind the interface, its
    records framed with the run's key as an agent would write them."""

    def __init__(self, n: int, results: ResultsDir, cfg: RunConfig) -> None:
        self.label, self.command, self.cfg, self.programs = f"model#{n}", [], cfg, {}
        self.launched = 0

    def prepare(self, programs: dict[str, str]) -> None:
        self.programs = programs

    def launch(self) -> None:
        self.launched += 1

    def run_scenario(self, scenario: str, timeout: float) -> GuestRun:
        from harness.program import parse

        key = new_frame_key()
        records = Machine(arch=self.cfg.arch, profile=self.cfg.profile).run(parse(self.programs[scenario]))
        return GuestRun(b"".join(encode(r, key=key) for r in records), "", frame_key=key)

    def restore(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_a_registered_backend_runs_the_pipeline(tmp_path: Path) -> None:
    cfg = RunConfig("amd64", "9front-2022.05", backend="test-model", jobs=2)
    scs = [compile_scenario(CORPUS / n, "amd64") for n in ("rfork/cow.yaml", "exits/short.yaml")]
    verdicts = run_scenarios(scs, cfg, factory_for(cfg), ResultsDir.create(tmp_path, "t"))
    assert [v.status for v in verdicts] == [Status.PASS, Status.PASS]


def test_two_backends_of_one_name_are_refused() -> None:
    with pytest.raises(RuntimeError, match="two guest backends"):
        register("test-model")(type("Other", (ModelBackend,), {}))


@pytest.mark.parametrize(("field", "value"), [("scenario_timeout", 0), ("scenario_timeout", -1),
                                              ("scenario_timeout", float("nan")), ("scenario_timeout", float("inf")),
                                              ("boot_scale", 0), ("boot_scale", -1), ("jobs", 0)])
def test_run_config_refuses_bad_values(field: str, value: float) -> None:
    with pytest.raises(UsageError):
        RunConfig("amd64", "9front-2022.05", **{field: value})  # type: ignore[arg-type]


PANIC = GuestPanic(PanicEvent("fault", None, (), "BANNER"))


@pytest.mark.parametrize(("error", "state", "reset", "kind"), [
    (PANIC, BootState.BANNER, False, BootCrash),
    (PANIC, BootState.FIRMWARE, False, BootCrash),  # a panic is the kernel's wherever it comes
    (BootTimeout("stuck"), BootState.FIRMWARE, False, BootTimeout),  # nothing from the kernel yet
    (BootTimeout("stuck"), BootState.UBOOT_PROMPT, False, BootTimeout),
    (BootTimeout("stuck"), BootState.BANNER, False, BootCrash),  # silent after its banner
    (BootTimeout("stuck"), BootState.BOOTARGS, False, BootCrash),
    (InfraError("console closed"), BootState.BANNER, True, BootCrash),  # the kernel reset the machine
    (InfraError("console closed"), BootState.BANNER, False, InfraError),  # QEMU killed or failed
    (InfraError("QEMU exited at start"), None, False, InfraError),
])
def test_boot_failures_are_classified(error: HarnessError, state: BootState | None, reset: bool,
                                      kind: type[HarnessError]) -> None:
    got = classify_boot_failure(error, state, reset)
    assert type(got) is kind
    assert got.exit_code == (1 if kind is BootCrash else 3)
