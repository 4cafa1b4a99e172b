"""Simulated-kernel files (the minimal version on h/nightly): parsing and `harness run --kernel SIMFILE`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from nightlyutil import CORPUS, simkernel

from harness.cli import main
from harness.errors import InputError
from harness.guest.simkernel import FaultKind, is_simulated_kernel, load


def test_first_line_decides(tmp_path: Path) -> None:
    sk = simkernel(tmp_path / "k", switches=("+namec-error-suffix",), faults=("panic:cow", "flaky"))
    assert is_simulated_kernel(sk)
    (tmp_path / "elf").write_bytes(b"\x7fELF\x02\x01\x01")
    assert not is_simulated_kernel(tmp_path / "elf") and not is_simulated_kernel(tmp_path / "absent")
    k = load(sk)
    assert k.arch == "amd64" and [(f.kind, f.scenario) for f in k.faults] == [(FaultKind.PANIC, "cow"),
                                                                               (FaultKind.FLAKY, "")]
    prof = k.kernel_profile()
    assert prof.has("namec-error-suffix") and not prof.has("shebang-tokenize")
    assert prof.name == "9front-2022.05+namec-error-suffix"
    off = load(simkernel(tmp_path / "k2", switches=("-namec-error-suffix",), profile="9front-current"))
    assert not off.kernel_profile().has("namec-error-suffix") and off.kernel_profile().has("shebang-tokenize")


@pytest.mark.parametrize(("body", "words"), [
    ('arch = "vax"', "arch must be one of"),
    ('arch = "amd64"\nswitches = ["namec-error-suffix"]', '"+name" or "-name"'),
    ('arch = "amd64"\nswitches = ["+no-such-switch"]', "no-such-switch"),
    ('arch = "amd64"\nfaults = ["explode:cow"]', "kind one of"),
    ('arch = "amd64"\nprofile = "plan9-4e"', "unknown profile"),
    ('arch = "amd64"\ncolour = 1', "unknown key"),
])
def test_bad_files_name_themselves(tmp_path: Path, body: str, words: str) -> None:
    p = tmp_path / "k"
    p.write_text("[simulated-kernel]\n" + body + "\n")
    with pytest.raises(InputError, match="k: ") as e:
        load(p)
    assert words in str(e.value)


def test_harness_run_takes_a_simulated_kernel_with_its_switches(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    sk = simkernel(tmp_path / "k", switches=("+namec-error-suffix",))
    rc = main(["run", "--kernel", str(sk), "--results", str(tmp_path / "r"),
               str(CORPUS / "errstr" / "after-failure-seed.yaml"), str(CORPUS / "exits" / "short.yaml")])
    out = capsys.readouterr().out
    assert rc == 1 and "is a SIMULATED kernel" in out and "SIMULATED guest" in out
    (run,) = (tmp_path / "r").iterdir()
    s = json.loads((run / "summary.json").read_text())
    assert s["meta"]["simulated"] is True and s["meta"]["simulated_kernel"] == str(sk.resolve())
    by = {v["scenario"]: v for v in s["verdicts"]}
    assert by["after-failure-seed"]["status"] == "diverged" and by["short"]["status"] == "pass"
    assert "profile 9front-2022.05+namec-error-suffix" in (run / "console.log").read_text()
    excerpt = (run / by["short"]["files"]["console"]).read_text()
    assert "NH1 main" in excerpt and "Plan 9" not in excerpt  # the scenario's part of the console only


def test_harness_run_refuses_a_simulated_kernel_of_another_arch(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    sk = simkernel(tmp_path / "k")
    assert main(["run", "--kernel", str(sk), "--arch", "arm64", "--results", str(tmp_path / "r")]) == 2
    assert "a SIMULATED kernel for amd64, not arm64" in capsys.readouterr().err
