"""What nightly takes from `harness run`: a SIMULATED kernel file with a switch on diverges,
and each scenario's own console excerpt is kept beside its traces (ARCH/NAME.console.txt)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from nightlyutil import CORPUS, simkernel

from harness.cli import main


def test_each_scenario_keeps_its_console_excerpt(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sk = simkernel(tmp_path / "k", switches=("+namec-error-suffix",))
    rc = main(["run", "--kernel", str(sk), "--results", str(tmp_path / "r"),
               str(CORPUS / "errstr" / "after-failure-seed.yaml"), str(CORPUS / "exits" / "short.yaml")])
    assert rc == 1 and "SIMULATED" in capsys.readouterr().out
    (run,) = (tmp_path / "r").iterdir()
    by = {v["scenario"]: v for v in json.loads((run / "summary.json").read_text())["verdicts"]}
    assert by["after-failure-seed"]["status"] == "diverged" and by["short"]["status"] == "pass"
    excerpt = (run / by["after-failure-seed"]["files"]["console"]).read_text()
    assert "does not exist: '/tmp/nh/nonexistent_zz'" in excerpt  # what this kernel printed for this scenario
    assert "Plan 9" not in excerpt and "abcdefghij" not in excerpt  # not the boot, not another scenario
    assert "abcdefghij" in (run / by["short"]["files"]["console"]).read_text()
