"""Bad input: one line, exit 2, before anything runs (no results directory, no process)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from faultutil import CORPUS, THREE, corpus, run_harness

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "model"))
from aoututil import header  # noqa: E402

SIM = ["run", "--simulate", "--arch", "amd64"]
ONE = corpus("rfork/child-exits-await.yaml")


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    d = tmp_path / "in"
    d.mkdir()
    (d / "text").write_text("this is not a kernel\n")
    (d / "empty").write_bytes(b"")
    (d / "arm64.aout").write_bytes(header("R", text=0x100, utzero=0x10000) + bytes(0x100))
    (d / "amd64.aout").write_bytes(header("S", text=0x100, utzero=0x200000) + bytes(0x100))
    for sub in ("a", "b"):
        (d / sub).mkdir()
        shutil.copy(CORPUS / "rfork/cow.yaml", d / sub / "same.yaml")
    bad = d / "mixed"
    bad.mkdir()
    shutil.copy(CORPUS / "rfork/cow.yaml", bad / "good.yaml")
    (bad / "broken.yaml").write_text("name: broken\ncovers: [rfork]\nsteps:\n  - call: nosuchcall\n")
    return {p.name: p for p in d.iterdir()}


CASES = {
    "--timeout 0": (SIM + ["--timeout", "0"], "--timeout"),
    "--timeout -1": (SIM + ["--timeout", "-1"], "--timeout"),
    "--timeout nan": (SIM + ["--timeout", "nan"], "--timeout"),
    "--boot-scale 0": (SIM + ["--boot-scale", "0"], "--boot-scale"),
    "--boot-scale -1": (SIM + ["--boot-scale", "-1"], "--boot-scale"),
    "--fault nope": (SIM + ["--fault", "nope"], "unknown fault 'nope'"),
    "--fault hang:nosuch": (SIM + ["--fault", "hang:nosuch"], "no scenario 'nosuch'"),
    "--simulate --arch 386": (["run", "--simulate", "--arch", "386"], "--arch 386"),
    "--simulate --arch arm": (["run", "--simulate", "--arch", "arm"], "--arch arm"),
    "--agent TEXTFILE": (SIM + ["--agent", "{text}"], "not a Plan 9 a.out for amd64"),
    "--agent arm64 a.out": (SIM + ["--agent", "{arm64_aout}"], "not a Plan 9 a.out for amd64"),
    "--kernel TEXTFILE": (["run", "--arch", "amd64", "--kernel", "{text}", "--agent", "{amd64_aout}"],
                          "is a text file"),
    "--kernel EMPTY": (["run", "--arch", "amd64", "--kernel", "{empty}", "--agent", "{amd64_aout}"],
                       "is an empty file"),
    "--kernel arm64 a.out (wrong arch)": (["run", "--arch", "amd64", "--kernel", "{arm64_aout}",
                                           "--agent", "{amd64_aout}"], "a Plan 9 a.out for arm64"),
    "--kernel amd64 a.out on arm64": (["run", "--arch", "arm64", "--kernel", "{amd64_aout}"],
                                      "a Plan 9 a.out for amd64"),
    "--kernel /dev/zero": (["run", "--arch", "amd64", "--kernel", "/dev/zero", "--agent", "{amd64_aout}"],
                           "not a regular file"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_flags_are_bad_input(tmp_path: Path, files: dict[str, Path], case: str) -> None:
    args, words = CASES[case]
    args = [a.format(**{k.replace(".", "_"): str(v) for k, v in files.items()}) for a in args]
    o = run_harness(f"bad input: {case}", [*args, *ONE], tmp_path / "r", timeout=60)
    _refused(o, words)


def _refused(o: object, words: str) -> None:
    from faultutil import Outcome, assert_nothing_left, record_row

    assert isinstance(o, Outcome)
    assert o.rc == 2, (o.out, o.err)
    lines = [line for line in o.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("harness: ") and words in lines[0], o.err
    assert o.roots == [], "a results directory was made before the input was checked"
    assert_nothing_left([], o.before)
    record_row(o)


def test_duplicate_scenario_names(tmp_path: Path, files: dict[str, Path]) -> None:
    a, b = files["a"] / "same.yaml", files["b"] / "same.yaml"
    o = run_harness("bad input: two scenarios named alike", [*SIM, str(a), str(b)], tmp_path / "r", timeout=60)
    _refused(o, "two scenarios are named")
    assert str(a) in o.err and str(b) in o.err


def test_malformed_scenario_inside_a_directory(tmp_path: Path, files: dict[str, Path]) -> None:
    o = run_harness("malformed scenario inside a directory", [*SIM, str(files["mixed"])], tmp_path / "r", timeout=60)
    _refused(o, "broken.yaml:")


def test_internal_error_in_a_worker_is_a_verdict(tmp_path: Path) -> None:
    """An unexpected exception (a harness bug) becomes that scenario's internal-error
    verdict, the others still run, and the run exits 3, never 0."""
    from harness.report.result import exit_code_for
    from harness.report.results import ResultsDir
    from harness.run.backends import GuestRun
    from harness.run.backends.simulated import SimulatedBackend
    from harness.run.config import RunConfig
    from harness.run.pipeline import run_scenarios
    from harness.scenario import compile_scenario

    class Buggy(SimulatedBackend):
        def run_scenario(self, scenario: str, timeout: float) -> GuestRun:
            if scenario == "cow":
                raise ZeroDivisionError("a bug")
            return super().run_scenario(scenario, timeout)

    cfg = RunConfig("amd64", "9front-2022.05", scenario_timeout=10)
    scs = [compile_scenario(Path(p), "amd64") for p in corpus(*THREE)]
    rd = ResultsDir.create(tmp_path, "t")
    rd.meta["scenarios"] = 3
    verdicts = run_scenarios(scs, cfg, lambda n, r: Buggy(n, r, cfg), rd)
    assert [v.status.value for v in verdicts] == ["pass", "internal-error", "pass"]
    assert "ZeroDivisionError" in verdicts[1].summary
    assert "ZeroDivisionError" in (rd.root / "internal-errors.txt").read_text()
    assert exit_code_for(verdicts, 3) == 3
    assert exit_code_for(verdicts[:1], 3) == 3  # a verdict missing: never 0
