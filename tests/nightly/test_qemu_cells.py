"""Cells on real QEMU: the amd64 boot fixture (not a kernel: it speaks the boot dialogue and
echoes commands, harness/qemu/fixtures) booted by the night's `harness run` children.

No 9front kernel may be in the repository, so these cells cannot pass: they prove that a
real machine that boots but runs no agent, and one that never prints its banner, are
infrastructure (exit 3), never kernel verdicts, and that a night killed while QEMU boots
leaves no QEMU running.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from nightlyutil import CORPUS, REPO, env, nightly, summary, write

pytestmark = [pytest.mark.qemu, pytest.mark.slow]

sys.path[:0] = [str(REPO / "tests" / "model"), str(REPO / "tests" / "qemu")]
from aoututil import header  # noqa: E402  (the a.out header builder of the loader tests)
from qemutestutil import missing, qemu_processes_in  # noqa: E402  (skip locally, fail in CI; our QEMUs)


@pytest.fixture(scope="module")
def machines(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from harness.errors import HarnessError
    from harness.qemu.fixture import build_fixture

    if not shutil.which("qemu-system-x86_64"):
        missing("qemu-system-x86_64 is not installed")
    d = tmp_path_factory.mktemp("qemu-cells")
    try:
        talks, silent = build_fixture("amd64", d), build_fixture("amd64", d, silent=True)
    except HarnessError as e:
        missing(str(e))
    agent = d / "nhagent.6"  # a valid amd64 a.out for the model's side; the fixture never runs it
    agent.write_bytes(header("S", text=0x100, utzero=0x200000) + bytes(0x100))
    return {"talks": talks, "silent": silent, "agent": agent, "dir": d}


def _cell(name: str, kernel: Path, agent: Path, **extra: object) -> str:
    lines = ["[[cell]]", f'name = "{name}"', 'arch = "amd64"', f'kernel = "{kernel}"', f'agent = "{agent}"',
             f'scenarios = ["{CORPUS / "exits" / "short.yaml"}", "{CORPUS / "rfork" / "cow.yaml"}"]']
    return "\n".join(lines + [f"{k} = {v}" for k, v in extra.items()]) + "\n"


def test_real_machines_without_an_agent_are_infrastructure(machines: dict[str, Path], tmp_path: Path) -> None:
    matrix = write(tmp_path / "m.toml", _cell("talks", machines["talks"], machines["agent"], timeout=20),
                   _cell("silent", machines["silent"], machines["agent"], boot_scale=0.1))
    r = nightly("--matrix", matrix, "--out", tmp_path / "n", "--jobs", "2")
    assert r.returncode == 3, r.stderr
    s = summary(tmp_path / "n")
    assert not s["simulated"]
    cells = {c["name"]: c for c in s["cells"]}
    assert cells["talks"]["state"] == "infra" and "the guest agent wrote no records" in cells["talks"]["message"]
    assert cells["silent"]["state"] == "infra" and "waiting for the kernel banner" in cells["silent"]["message"]
    for c in cells.values():
        run = tmp_path / "n" / c["run_dir"]
        assert "qemu-system-x86_64" in (run / "qemu-command.txt").read_text()  # a real machine was booted
    assert {o["verdict"] for o in s["outcomes"]} == {"infra"} and s["new_failures"] == []
    assert qemu_processes_in(tmp_path) == []


def test_a_night_killed_while_qemu_boots_leaves_no_qemu(machines: dict[str, Path], tmp_path: Path) -> None:
    # the silent machine waits the whole firmware timeout for a banner: time enough to kill the night
    matrix = write(tmp_path / "m.toml", _cell("silent", machines["silent"], machines["agent"]))
    proc = subprocess.Popen([sys.executable, "-m", "harness", "nightly", "--matrix", str(matrix), "--out",
                             str(tmp_path / "n")], cwd=REPO, env=env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not qemu_processes_in(tmp_path):
        assert proc.poll() is None and time.monotonic() < deadline, "QEMU never started"
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 30
    while (left := qemu_processes_in(tmp_path)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left == []
    assert summary(tmp_path / "n")["finished"] is False  # and the partial night is still a night
