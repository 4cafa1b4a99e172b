"""Fault rows on the SIMULATED console (harness/guest/simulator.py --fault)."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Any

import pytest
from faultutil import THREE, THREE_NAMES, Outcome, console_has, corpus, run_harness, stdout_has

SIM = ["run", "--simulate", "--arch", "amd64", "--timeout", "5"]


def _sim(row: str, tmp_path: Path, *extra: str, **kw: Any) -> Outcome:
    return run_harness(row, [*SIM, *extra, *corpus(*THREE)], tmp_path / "r", **kw)


def _all(status: str, **but: str) -> dict[str, str]:
    return {n: but.get(n.replace("-", "_"), status) for n in THREE_NAMES}


def test_guest_panic_mid_scenario(tmp_path: Path) -> None:
    o = _sim("guest panic mid-scenario (simulated)", tmp_path, "--fault", "panic:cow")
    o.check(1, _all("pass", cow="guest-crash"))
    assert "panic: fault" in json.dumps(o.summary()["verdicts"])


def test_guest_panic_during_boot(tmp_path: Path) -> None:
    o = _sim("guest panic during boot (simulated)", tmp_path, "--fault", "panic-at-boot")
    o.check(1, _all("boot-crash"))


def test_silence_mid_scenario(tmp_path: Path) -> None:
    o = _sim("silence mid-scenario (simulated)", tmp_path, "--fault", "hang:cow")
    o.check(1, _all("pass", cow="guest-crash"))


def test_silence_during_boot_before_the_banner(tmp_path: Path) -> None:
    o = _sim("silence during boot, before the banner (simulated)", tmp_path, "--fault", "silent-at-boot",
             "--boot-scale", "0.05")
    o.check(3, _all("infra-error"))


def test_silence_during_boot_after_the_banner(tmp_path: Path) -> None:
    o = _sim("silence during boot, after the banner (simulated)", tmp_path, "--fault", "hang-at-boot",
             "--boot-scale", "0.05")
    o.check(1, _all("boot-crash"))


def test_console_flood(tmp_path: Path) -> None:
    o = _sim("console flood inside a record (simulated)", tmp_path, "--fault", "flood:cow")
    o.check(0, _all("pass"))


def test_corrupt_record(tmp_path: Path) -> None:
    o = _sim("corrupt record (simulated)", tmp_path, "--fault", "corrupt:cow")
    o.check(3, _all("pass", cow="infra-error"))


def test_forged_record_stays_console_text(tmp_path: Path) -> None:
    o = _sim("forged record (simulated)", tmp_path, "--fault", "forge:cow")
    o.check(0, _all("pass"))
    guest = (o.root / "amd64" / "cow.guest.jsonl").read_text()
    assert "forged" not in guest and "4242" not in guest
    assert "forged" in (o.root / "console.log").read_text()  # it was on the console, as text


def test_machine_gone_mid_scenario(tmp_path: Path) -> None:
    o = _sim("machine exits mid-scenario (simulated)", tmp_path, "--fault", "exit:cow")
    o.check(1, _all("pass", cow="guest-crash"))


@pytest.mark.parametrize(("sig", "rc"), [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_signal_during_a_scenario(tmp_path: Path, sig: int, rc: int) -> None:
    o = _sim(f"{signal.Signals(sig).name} during a scenario (simulated)", tmp_path, "--fault", "hang:cow",
             "--timeout", "60", when=stdout_has("child-exits-await"), sig=sig, timeout=60)
    o.check(rc, None, interrupted=True)
    summary = o.summary()
    assert summary["finished"] is False
    assert set(o.statuses()) <= {"child-exits-await"}  # what ran before; nothing recorded after


@pytest.mark.parametrize(("sig", "rc"), [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_signal_during_boot(tmp_path: Path, sig: int, rc: int) -> None:
    o = _sim(f"{signal.Signals(sig).name} during boot (simulated)", tmp_path, "--fault", "hang-at-boot",
             when=console_has("Plan 9"), sig=sig, timeout=60)
    o.check(rc, None, interrupted=True)
    assert o.statuses() == {}  # no scenario ran, none is reported


def test_two_runs_into_one_results_directory(tmp_path: Path) -> None:
    base = tmp_path / "shared"
    outs: list[Outcome] = []

    def one(i: int) -> None:
        outs.append(run_harness(f"run {i}", [*SIM, *corpus(*THREE)], base))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    roots = sorted(p for p in base.iterdir() if p.is_dir())
    assert len(roots) == 2, roots  # one directory each, nothing shared
    for o in outs:
        assert o.rc == 0, o.err
    o = outs[0]
    o.row, o.roots = "two runs into one results directory (simulated)", roots
    o.check(0, _all("pass"))
    for root in roots:
        assert json.loads((root / "summary.json").read_text())["counts"] == {"pass": 3}


@pytest.mark.parametrize("limit", [3000, 1800])
def test_disk_full_while_writing_results(tmp_path: Path, limit: int) -> None:
    # ulimit -f: the console log (3000) or the summary itself (1800) stops taking writes
    o = _sim(f"disk full while writing results (ulimit -f {limit} bytes)", tmp_path, file_limit=limit)
    assert o.rc == 3, (o.out, o.err)
    assert "File too large" in o.out + o.err
    for root in o.roots:
        json.loads((root / "summary.json").read_text())  # the last good summary, whole
        assert not list(root.rglob("*.tmp"))
    from faultutil import assert_nothing_left, record_row

    assert_nothing_left(o.roots, o.before)
    record_row(o)
