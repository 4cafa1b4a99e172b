"""Fixtures for the guest agent tests: the host build of agent.c."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.guest.hostbuild import build_host_agent, compiler


@pytest.fixture(scope="session")
def host_agent(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """agent.c + compat/host.c built with gcc -Wall -Wextra -Werror."""
    if compiler() is None:
        if os.environ.get("CI"):
            pytest.fail("gcc is required in CI to build the host agent (make sysdeps installs it)")
        pytest.skip("no gcc: cannot build the host agent")
    return build_host_agent(tmp_path_factory.mktemp("hostagent"))
