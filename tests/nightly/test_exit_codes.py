"""Exit 3 when a cell cannot run at all; --flaky-fails; nothing new is exit 0."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree
from nightlyutil import FLAKY, FLAKY_FILE, XSD, cell, nightly, outcome, simkernel, summary, write

pytestmark = pytest.mark.slow


def test_a_cell_that_cannot_run_is_infrastructure_exit_3(tmp_path: Path) -> None:
    # every record of every scenario corrupted in transit: no kernel verdict at all;
    # and a kernel that hangs in a cell with a wall-clock limit shorter than its scenario timeout
    corrupt = simkernel(tmp_path / "corrupt.kernel", faults=("corrupt",))
    hangs = simkernel(tmp_path / "hangs.kernel", faults=("hang",))
    good = simkernel(tmp_path / "good.kernel")
    matrix = write(tmp_path / "m.toml", cell("garbled", corrupt, ("exits/short.yaml",)),
                   cell("stuck", hangs, ("exits/short.yaml",), timeout=60, cell_timeout=4),
                   cell("fine", good, ("exits/short.yaml",), jobs=8))
    r = nightly("--matrix", matrix, "--out", tmp_path / "n", "--jobs", "3")
    assert r.returncode == 3, r.stderr
    s = summary(tmp_path / "n")
    state = {c["name"]: (c["state"], c["message"]) for c in s["cells"]}
    assert state["fine"] == ("done", "")
    assert " --jobs 3 " in (tmp_path / "n" / "cells" / "fine" / "run.log").read_text()  # capped by the night's
    assert state["garbled"][0] == "infra" and "no scenario got a kernel verdict" in state["garbled"][1]
    assert state["stuck"][0] == "infra" and "cell_timeout" in state["stuck"][1]
    assert outcome(s, "garbled", "short")["verdict"] == "infra"
    assert "transport error" in outcome(s, "garbled", "short")["summary"]
    assert len(s["infra"]) == 2 and all("could not run" in x for x in s["infra"])
    assert "infrastructure problems (2):" in (tmp_path / "n" / "summary.txt").read_text()
    doc = etree.parse(str(tmp_path / "n" / "junit" / "stuck.xml"))
    assert etree.XMLSchema(etree.parse(str(XSD))).validate(doc)
    assert doc.find(".//testcase/error") is not None and "cell_timeout" in (doc.findtext(".//system-err") or "")


def test_flaky_fails_makes_a_flaky_scenario_fail_the_night(tmp_path: Path) -> None:
    flaky = simkernel(tmp_path / "flaky.kernel", faults=(f"flaky:{FLAKY}",))
    matrix = write(tmp_path / "m.toml", cell("c", flaky, (FLAKY_FILE,)))
    r = nightly("--matrix", matrix, "--out", tmp_path / "n", "--retries", "1", "--flaky-fails")
    assert r.returncode == 1, r.stderr
    o = outcome(summary(tmp_path / "n"), "c", FLAKY)
    assert o["verdict"] == "new" and [a["status"] for a in o["attempts"]] == ["guest-crash", "pass"]
    doc = etree.parse(str(tmp_path / "n" / "junit" / "c.xml"))
    fail = doc.find(".//testcase/failure")
    assert fail is not None and fail.get("type") == "flaky"
    assert doc.find(".//testcase/flakyFailure") is not None
    # the same kernel (from run index 0 again) without --flaky-fails
    r2 = nightly("--matrix", matrix, "--out", tmp_path / "n2", "--retries", "1")
    assert r2.returncode == 0, r2.stderr
    assert outcome(summary(tmp_path / "n2"), "c", FLAKY)["verdict"] == "flaky"


def test_without_retries_a_flaky_kernel_is_just_a_divergence(tmp_path: Path) -> None:
    flaky = simkernel(tmp_path / "flaky.kernel", faults=(f"flaky:{FLAKY}",))
    matrix = write(tmp_path / "m.toml", cell("c", flaky, (FLAKY_FILE, "rfork/cow.yaml")))
    r = nightly("--matrix", matrix, "--out", tmp_path / "n", "--retries", "0")
    assert r.returncode == 1
    s = summary(tmp_path / "n")
    assert outcome(s, "c", FLAKY)["verdict"] == "new" and outcome(s, "c", "cow")["verdict"] == "pass"
    assert s["new_failures"][0].startswith(f"c: {FLAKY}: guest-crash: panic")


def test_a_kernel_that_panics_while_booting_is_the_kernels_verdict(tmp_path: Path) -> None:
    dead = simkernel(tmp_path / "dead.kernel", faults=("panic-at-boot",))
    matrix = write(tmp_path / "m.toml", cell("dead", dead, ("exits/short.yaml", "rfork/cow.yaml")))
    r = nightly("--matrix", matrix, "--out", tmp_path / "n", "--retries", "0")
    assert r.returncode == 1, r.stderr  # a kernel crash, not infrastructure
    s = summary(tmp_path / "n")
    assert s["cells"][0]["state"] == "done"
    assert {(o["status"], o["verdict"]) for o in s["outcomes"]} == {("boot-crash", "new")}
    assert all("panicked while booting" in o["summary"] for o in s["outcomes"])
