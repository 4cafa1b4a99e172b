"""The `harness run` pipeline end to end on the SIMULATED 9front console.

The simulator is a Python process speaking the boot dialogue and executing
programs through the model (harness/guest/simulator.py).  Through it these
tests drive the real console state machine, the framing and decoding, the
normaliser, the differ, the verdicts, the results directory and crash
recovery, with faults injected.  Real kernels are covered by tests/qemu and
by hand (README).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.report.result import Status
from harness.report.results import ResultsDir
from harness.run.backends.simulated import SimulatedBackend
from harness.run.pipeline import RunConfig, run_scenarios
from harness.scenario import compile_scenario

CORPUS = Path(__file__).resolve().parents[2] / "testcases"
SEED, CURRENT = "9front-2022.05", "9front-current"


def _scenarios(*names: str) -> list:
    return [compile_scenario(CORPUS / n, "amd64") for n in names]


def _run(tmp_path: Path, scs: list, sim_profile: str = SEED, model_profile: str = SEED,
         fault: str | None = None, jobs: int = 1) -> tuple[list, ResultsDir]:
    rd = ResultsDir.create(tmp_path, "t")
    cfg = RunConfig("amd64", model_profile, jobs=jobs, scenario_timeout=8)
    verdicts = run_scenarios(scs, cfg, lambda n, r: SimulatedBackend(n, r, RunConfig("amd64", sim_profile, fault=fault, scenario_timeout=8)), rd)
    return verdicts, rd


THREE = ("rfork/child-exits-await.yaml", "rfork/cow.yaml", "exits/short.yaml")


def test_identical_behaviour_passes_and_leaves_every_artefact(tmp_path: Path) -> None:
    verdicts, rd = _run(tmp_path, _scenarios(*THREE))
    assert [v.status for v in verdicts] == [Status.PASS] * 3
    for v in verdicts:
        for rel in v.files.values():
            assert (rd.root / rel).stat().st_size > 0
    summary = json.loads((rd.root / "summary.json").read_text())
    assert summary["finished"] is True and summary["counts"] == {"pass": 3} and summary["exit_code"] == 0
    log = (rd.root / "console.log").read_text()
    assert "Plan 9" in log and "SIMULATED" in log and "NH1" in log


def test_a_kernel_that_behaves_differently_is_a_divergence(tmp_path: Path) -> None:
    # The simulated kernel follows the current profile, the model the seed: the
    # errstr text format after a failed open changed between them.
    scs = _scenarios("errstr/after-failure-seed.yaml")
    verdicts, rd = _run(tmp_path, scs, sim_profile=CURRENT, model_profile=SEED)
    (v,) = verdicts
    assert v.status is Status.DIVERGED
    assert "err" in v.summary
    diff = (rd.root / v.files["diff"]).read_text()
    assert "does not exist" in diff
    assert (rd.root / v.files["diff_html"]).read_text().lstrip().lower().startswith("<!doctype html")


@pytest.mark.parametrize(
    ("fault", "status", "words"),
    [
        ("panic", Status.GUEST_CRASH, "panic: fault"),
        ("hang", Status.GUEST_CRASH, "hang"),
        ("exit", Status.GUEST_CRASH, "machine died"),
        ("corrupt", Status.INFRA_ERROR, "transport error"),
    ],
)
def test_faults_give_their_verdict_and_the_run_goes_on(tmp_path: Path, fault: str, status: Status, words: str) -> None:
    verdicts, rd = _run(tmp_path, _scenarios(*THREE), fault=f"{fault}:cow")
    by_name = {v.scenario: v for v in verdicts}
    assert by_name["cow"].status is status
    assert words in by_name["cow"].summary
    # the scenarios after the crash still ran on a recovered machine
    assert by_name["short"].status is Status.PASS
    assert by_name["child-exits-await"].status is Status.PASS


def test_kernel_prints_inside_records_do_not_change_the_verdict(tmp_path: Path) -> None:
    verdicts, _ = _run(tmp_path, _scenarios(*THREE), fault="flood:cow")
    assert {v.scenario: v.status for v in verdicts}["cow"] is Status.PASS


def test_two_guests_in_parallel_share_the_work(tmp_path: Path) -> None:
    names = ("rfork/child-exits-await.yaml", "rfork/cow.yaml", "exits/short.yaml",
             "exits/utf8.yaml", "rfork/bad-fdg-cfdg.yaml", "errstr/swap.yaml")
    verdicts, rd = _run(tmp_path, _scenarios(*names), jobs=2)
    assert [v.scenario for v in verdicts] == [compile_scenario(CORPUS / n).name for n in names]
    assert all(v.status is Status.PASS for v in verdicts)
    assert (rd.root / "console.log").exists() and (rd.root / "console-1.log").exists()


def test_harness_run_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["run", "--simulate", "--arch", "amd64", "--results", str(tmp_path), "--timeout", "8"]
    assert main([*base, str(CORPUS / "rfork/cow.yaml")]) == 0
    assert main([*base, "--fault", "panic", str(CORPUS / "rfork/cow.yaml")]) == 1
    assert main([*base, "--fault", "corrupt", str(CORPUS / "rfork/cow.yaml")]) == 3
    assert main(["run", "--fault", "panic"]) == 2
    assert main(["run", "--kernel", str(tmp_path / "nokernel"), "--arch", "amd64", "--agent", __file__]) == 2
    out = capsys.readouterr().out
    assert "guest-crash" in out and "infra-error" in out


def test_run_without_a_kernel_runs_the_model_and_says_how(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["run", "--results", str(tmp_path), str(CORPUS / "rfork/cow.yaml")])
    out = capsys.readouterr().out
    assert rc == 0
    assert "--kernel" in out and "make run ARCH=amd64 KERNEL=" in out
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["amd64", "arm64", "mips"]


def test_the_agents_own_time_and_the_runs_timings_are_in_the_summary(tmp_path: Path) -> None:
    assert main(["run", "--simulate", "--arch", "amd64", "--results", str(tmp_path), "--timeout", "8",
                 *(str(CORPUS / n) for n in THREE)]) == 0
    (run,) = tmp_path.iterdir()
    summary = json.loads((run / "summary.json").read_text())
    t = summary["timings"]
    assert t["compile_seconds"] >= 0 and t["boot_seconds"] > 0 and "restore_seconds" not in t
    assert 0 <= t["model_ahead_scenarios"] <= 3  # computed while the guest booted, the rest on demand
    for v in summary["verdicts"]:
        assert 0 < v["guest_seconds"] <= v["seconds"], v  # the agent's floor under the harness's wall
    # the END record is a timing: never in the guest trace, which stays identical to the model's
    guest = (run / "amd64" / "cow.guest.jsonl").read_text()
    assert '"kind": "end"' not in guest and '"agent_elapsed_ns": ' in guest
    assert "identical" in (run / "amd64" / "cow.diff.txt").read_text().lower()


def test_a_restore_is_timed(tmp_path: Path) -> None:
    verdicts, rd = _run(tmp_path, _scenarios(*THREE), fault="panic:cow")
    assert [v.status for v in verdicts] == [Status.PASS, Status.GUEST_CRASH, Status.PASS]
    t = json.loads((rd.root / "summary.json").read_text())["timings"]
    assert t["restores"] == 1 and t["restore_seconds"] > 0 and t["boot_seconds"] > 0
