"""Remote QEMU hosts over SSH (paramiko): the transport (ssh), processes that cannot
outlive the harness (process) and a QEMU machine run there (machine), which the
``ssh`` guest backend (harness/run/backends/ssh.py, `harness run --host`) drives.

paramiko is the optional ``[ssh]`` extra: this package's own import does not need it."""

from __future__ import annotations

import importlib.util

from harness.errors import InfraError


def require_ssh() -> None:
    """InfraError (exit 3, like a missing QEMU) unless paramiko is installed."""
    if importlib.util.find_spec("paramiko") is None:
        raise InfraError("--host needs paramiko: pip install 'nine-harness[ssh]'")
