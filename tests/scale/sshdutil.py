"""A real OpenSSH sshd on loopback for the remote-host tests (Debian openssh-server).
(The fixture is in conftest.py.)

Started per test module on an unprivileged port of 127.0.0.1 with a generated host
key, a generated user key and its own authorized_keys file; root login by key only
(CI runs as root).  Missing sshd skips locally and fails in CI (`make sysdeps`
installs openssh-server)."""

from __future__ import annotations

import os
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

SSHD = "/usr/sbin/sshd"


def missing(msg: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(msg + " (CI is set: `make sysdeps` should have installed it)")
    pytest.skip(msg)


@dataclass
class Sshd:
    port: int
    dir: Path
    user: str
    user_key: Path
    known_hosts: Path
    host_pub: str
    proc: subprocess.Popen[bytes]

    @property
    def target(self) -> str:
        return f"{self.user}@127.0.0.1:{self.port}"

    def log(self) -> str:
        return (self.dir / "sshd.log").read_text(errors="replace")


def keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "nh-test", "-f", str(path)],
                   check=True, capture_output=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
