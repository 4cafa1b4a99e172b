"""The proof night shared by the nightly tests (run once per session: it is the slow part)."""

from __future__ import annotations

from typing import Any

import pytest
from nightlyutil import FLAKY, FLAKY_FILE, cell, nightly, simkernel, write


@pytest.fixture(scope="session")
def nights(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("night")
    seed = simkernel(d / "seed.kernel")
    current = simkernel(d / "current.kernel", switches=("+namec-error-suffix",),
                        faults=("panic:cow", f"flaky:{FLAKY}"))
    # jobs = 1 where the flaky scenario runs: one machine per run, so run index 0 is the first run
    matrix = write(d / "matrix.toml", cell("seed-amd64", seed, jobs=2),
                   cell("current-amd64", current, ("rfork/cow.yaml", FLAKY_FILE,
                                                   "errstr/after-failure-seed.yaml", "syscall:nsec")))
    baseline = write(d / "baseline.toml", """
[[known]]
scenario = "after-failure-*"
cell = "current-*"
reason = "namec error text order changed in 6eed7a478"
signature = "does not exist: '/tmp/nh"
link = "https://example.invalid/issue/1"

[[known]]
scenario = "no-such-scenario"
cell = "*"
reason = "stale on purpose"

[[known]]
scenario = "cow"
cell = "current-*"
reason = "a hang we know about: a panic is a different divergence"
signature = "re:^hang"
until = 2020-01-31
""")
    first = nightly("--matrix", matrix, "--out", d / "n1", "--baseline", baseline, "--history", d / "hist",
                    "--jobs", "3", "--retries", "2")
    # the next night: the panic is fixed, the switch still on
    simkernel(current, switches=("+namec-error-suffix",))
    second = nightly("--matrix", matrix, "--out", d / "n2", "--baseline", baseline, "--history", d / "hist",
                     "--jobs", "3", "--retries", "1")
    return {"dir": d, "first": first, "second": second, "n1": d / "n1", "n2": d / "n2"}


