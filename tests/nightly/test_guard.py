"""harness.nightly.guard: the command's exit status, and nothing it started left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

GUARD = [sys.executable, "-m", "harness.nightly.guard"]
REPO = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_exit_status_is_the_commands_and_orphans_are_swept(tmp_path: Path) -> None:
    pidfile = tmp_path / "orphan.pid"
    # the orphan starts a session of its own, as pexpect does for QEMU
    script = f"setsid sh -c 'echo $$ > {pidfile}; exec sleep 300' & sleep 0.5; exit 7"
    r = subprocess.run([*GUARD, "sh", "-c", script], cwd=REPO, timeout=60)
    assert r.returncode == 7
    orphan = int(pidfile.read_text())
    assert not _alive(orphan)


def test_sigterm_stops_the_command_and_everything_under_it(tmp_path: Path) -> None:
    pidfile = tmp_path / "inner.pid"
    proc = subprocess.Popen([*GUARD, "sh", "-c", f"setsid sh -c 'echo $$ > {pidfile}; exec sleep 300' & sleep 300"],
                            cwd=REPO)
    deadline = time.monotonic() + 30
    while not pidfile.exists() or not pidfile.read_text().strip():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    inner = int(pidfile.read_text())
    assert _alive(inner)
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(30) == 128 + signal.SIGTERM
    assert not _alive(inner)
