"""The fault-injection suite's session set-up: see faultutil.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from faultutil import become_subreaper, write_table


@pytest.fixture(scope="session", autouse=True)
def subreaper() -> Iterator[None]:
    if not become_subreaper():
        pytest.fail("prctl(PR_SET_CHILD_SUBREAPER) failed: leftovers could not be found by pid")
    yield
    write_table()
