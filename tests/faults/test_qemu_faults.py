"""Fault rows on real QEMU processes booting the amd64 boot FIXTURE's fault variants
(harness/qemu/fixtures/README.md: not kernels; they print a 9front-style boot and
imitate rc).  The agent given is a minimal amd64 a.out: the fixture never runs it,
it only has to pass the harness's checks and the model's loader."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from faultutil import (
    Outcome,
    assert_nothing_left,
    check_directory,
    console_has,
    corpus,
    record_row,
    run_harness,
    stdout_has,
)

from harness.errors import HarnessError
from harness.qemu.fixture import build_fixture
from harness.qemu.profiles import check_qemu, get_profile

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "model"))
from aoututil import header  # noqa: E402

TWO = ("rfork/cow.yaml", "exits/short.yaml")
AGENT_RUNNING = console_has("/tmp/nh/nhagent -k ")  # the agent command reached the guest


def _missing(msg: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(msg + " (CI is set: `make sysdeps` should have installed it)")
    pytest.skip(msg)


@pytest.fixture(scope="module")
def kernels(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    try:
        check_qemu(get_profile("amd64"))
    except HarnessError as e:
        _missing(str(e))
    out = tmp_path_factory.mktemp("fixtures")
    built: dict[str, Path] = {}

    def get(variant: str) -> Path:
        if variant not in built:
            try:
                built[variant] = build_fixture("amd64", out, variant=variant)
            except HarnessError as e:
                _missing(str(e))
        return built[variant]

    return get


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("agent") / "nhagent.6"
    path.write_bytes(header("S", text=0x100, utzero=0x200000) + b"\xcc" * 0x100)
    return path


def _qemu(row: str, tmp_path: Path, kernel: Path, agent: Path | None, *extra: str, **kw: Any) -> Outcome:
    args = ["run", "--arch", "amd64", "--kernel", str(kernel), *(["--agent", str(agent)] if agent else []),
            *extra, *corpus(*TWO)]
    return run_harness(row, args, tmp_path / "r", env={"NINE_HARNESS_CACHE": str(tmp_path / "cache")}, **kw)


def test_guest_panic_mid_scenario(tmp_path: Path, kernels: Callable[[str], Path], agent: Path) -> None:
    o = _qemu("guest panic mid-scenario (QEMU)", tmp_path, kernels("agent-panic"), agent, "--timeout", "20")
    # each scenario panics; the snapshot restore brings the machine back for the next
    o.check(1, {"cow": "guest-crash", "short": "guest-crash"})
    assert "panic" in o.out


def test_guest_panic_during_boot(tmp_path: Path, kernels: Callable[[str], Path], agent: Path) -> None:
    o = _qemu("guest panic during boot (QEMU)", tmp_path, kernels("boot-panic"), agent)
    o.check(1, {"cow": "boot-crash", "short": "boot-crash"})


def test_silence_mid_scenario(tmp_path: Path, kernels: Callable[[str], Path], agent: Path) -> None:
    o = _qemu("silence mid-scenario (QEMU)", tmp_path, kernels("agent-hang"), agent, "--timeout", "3")
    o.check(1, {"cow": "guest-crash", "short": "guest-crash"})
    assert (o.root / "vm0" / "hang-cow" / "registers.txt").stat().st_size > 0  # QMP's hang report


def test_silence_before_the_banner(tmp_path: Path, kernels: Callable[[str], Path], agent: Path) -> None:
    o = _qemu("silence during boot, before the banner (QEMU)", tmp_path, kernels("silent"), agent,
              "--boot-scale", "0.05")
    o.check(3, {"cow": "infra-error", "short": "infra-error"})


def test_silence_after_the_banner(tmp_path: Path, kernels: Callable[[str], Path], agent: Path) -> None:
    o = _qemu("silence during boot, after the banner (QEMU)", tmp_path, kernels("boot-hang"), agent,
              "--boot-scale", "0.05")
    o.check(1, {"cow": "boot-crash", "short": "boot-crash"})


def _sigkill_qemu(base: Path) -> None:
    for f in base.rglob("qemu.pid"):
        os.kill(int(f.read_text().split()[-1]), signal.SIGKILL)


def test_qemu_killed_with_sigkill(tmp_path: Path, kernels: Callable[[str], Path], agent: Path) -> None:
    o = _qemu("QEMU killed with SIGKILL mid-scenario", tmp_path, kernels("agent-hang"), agent, "--timeout", "6",
              when=AGENT_RUNNING, action=_sigkill_qemu)
    # not the kernel's doing: infrastructure; the next scenario runs on a fresh boot (and hangs there)
    o.check(1, {"cow": "infra-error", "short": "guest-crash"})
    assert "killed by SIGKILL" in o.out
    assert len((o.root / "vm0" / "qemu.pid").read_text().split()) == 2  # rebooted once


def test_delivery_disk_truncated(tmp_path: Path, kernels: Callable[[str], Path], agent: Path) -> None:
    import time

    from harness.report.result import exit_code_for
    from harness.report.results import ResultsDir
    from harness.run.backends.qemu import QemuBackend
    from harness.run.config import RunConfig
    from harness.run.pipeline import run_scenarios
    from harness.scenario import compile_scenario

    class Truncating(QemuBackend):
        def prepare(self, programs: dict[str, str]) -> None:
            super().prepare(programs)
            with open(self.disk_image, "r+b") as f:
                f.truncate(4096)  # cut the qcow2 delivery disk short

    cfg = RunConfig("amd64", "9front-2022.05", backend="qemu", kernel=kernels("agent-hang"), agent=agent,
                    agent_image=agent.read_bytes(), scenario_timeout=5)
    scs = [compile_scenario(Path(p), "amd64") for p in corpus(*TWO)]
    rd = ResultsDir.create(tmp_path / "r", "amd64")
    rd.meta["scenarios"] = len(scs)
    rd.write_versions(["qemu-system-x86_64"])
    t0 = time.monotonic()
    verdicts = run_scenarios(scs, cfg, lambda n, r: Truncating(n, r, cfg), rd)
    o = Outcome("delivery disk truncated (QEMU)", exit_code_for(verdicts, len(scs)), "", "",
                time.monotonic() - t0, rd.root.parent, [rd.root])
    assert [v.status.value for v in verdicts] == ["infra-error", "infra-error"]
    # QEMU opens the cut disk (its qcow2 header is intact) and fails on the first write
    assert "Input/output error" in verdicts[0].summary or "QEMU" in verdicts[0].summary
    check_directory(rd.root, False)
    assert o.rc == 3
    assert_nothing_left([rd.root])
    record_row(o)


SIGNALS = [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)]


@pytest.mark.parametrize(("sig", "rc"), SIGNALS)
def test_signal_during_boot(tmp_path: Path, kernels: Callable[[str], Path], agent: Path, sig: int, rc: int) -> None:
    o = _qemu(f"{signal.Signals(sig).name} during boot (QEMU)", tmp_path, kernels("boot-hang"), agent,
              when=console_has("Plan 9"), sig=sig, timeout=60)
    o.check(rc, None, interrupted=True)
    assert o.statuses() == {}


@pytest.mark.parametrize(("sig", "rc"), SIGNALS)
def test_signal_during_a_scenario(tmp_path: Path, kernels: Callable[[str], Path], agent: Path,
                                  sig: int, rc: int) -> None:
    o = _qemu(f"{signal.Signals(sig).name} during a scenario (QEMU)", tmp_path, kernels("agent-hang"), agent,
              "--timeout", "60", when=AGENT_RUNNING, sig=sig, timeout=60)
    o.check(rc, None, interrupted=True)
    assert o.statuses() == {}  # the scenario under way is not reported (no spurious infra-error)
    assert "infra-error" not in o.out


@pytest.mark.parametrize(("sig", "rc"), SIGNALS)
def test_signal_during_the_agent_build(tmp_path: Path, kernels: Callable[[str], Path], sig: int, rc: int) -> None:
    # no --agent: the harness boots the kernel to build one with the guest's compilers;
    # the fixture never answers the build command
    o = _qemu(f"{signal.Signals(sig).name} during the in-guest agent build (QEMU)", tmp_path,
              kernels("agent-hang"), None, when=stdout_has("agent: building"), sig=sig, timeout=60)
    o.check(rc, None, interrupted=True)
    assert list(o.root.rglob("agent-build/qemu.pid"))
