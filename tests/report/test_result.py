"""One result type for `harness model` and `harness run`, and the formats that register."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import ExitCode
from harness.report.formats import diff_formats, run_formats
from harness.report.result import Command, RunResult, Status, Verdict, exit_code_for

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("statuses", "code"), [
    ([], 0), ([Status.PASS], 0), ([Status.PASS, Status.INFRA_ERROR], 3), ([Status.INTERNAL_ERROR], 3),
    ([Status.INFRA_ERROR, Status.DIVERGED], 1), ([Status.MISMATCH], 1), ([Status.BOOT_CRASH], 1),
    ([Status.GUEST_CRASH, Status.PASS], 1),
])
def test_exit_codes_follow_the_worst_verdict(statuses: list[Status], code: int) -> None:
    assert exit_code_for([Verdict("s", "amd64", "p", st) for st in statuses]) == code


def test_every_status_has_an_exit_code_and_kernel_faults_are_never_infra() -> None:
    assert {st.exit_code for st in Status} == {ExitCode.OK, ExitCode.DIVERGED, ExitCode.INFRA}
    assert Status.BOOT_CRASH.exit_code == Status.GUEST_CRASH.exit_code == ExitCode.DIVERGED


def test_a_run_round_trips_through_its_summary() -> None:
    run = RunResult(Command.RUN, arch="arm64", profile="9front-current", kernel="/k/9qemu", simulated=False,
                    scenarios=2, extra={"agent": "nhagent.7", "ktrace": True})
    run.verdicts.append(Verdict("a", "arm64", "9front-current", Status.DIVERGED, summary="x", files={"diff": "d"},
                                ktrace={"line": "ktrace: ok"}))
    run.finish()
    back = RunResult.from_json(json.loads(json.dumps(run.to_json())))
    assert back.to_json() == run.to_json()
    # one of two scenarios lost counts as infrastructure, and a divergence outranks it (like infra-error)
    assert back.exit_code == 1 and back.lost == 1
    assert back.meta == {"arch": "arm64", "profile": "9front-current", "kernel": "/k/9qemu", "simulated": False,
                         "scenarios": 2, "agent": "nhagent.7", "ktrace": True}


def test_harness_model_writes_the_same_summary_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    summary = tmp_path / "model.json"
    rc = main(["model", "testcases/exits", "--arch", "amd64,mips", "-o", str(tmp_path / "t"), "-q",
               "--summary", str(summary)])
    s = json.loads(summary.read_text())
    assert rc == s["exit_code"] == 0
    assert s["command"] == "model" and s["finished"] is True and s["meta"]["arch"] == "amd64,mips"
    n = len(list((REPO / "testcases" / "exits").glob("*.yaml")))  # each runs on both arches
    assert s["counts"] == {"pass": len(s["verdicts"])} and len(s["verdicts"]) == 2 * n
    v = s["verdicts"][0]
    assert Path(v["files"]["model"]).is_file() and v["records"] > 0 and v["status"] == "pass"


def test_formats_register_themselves() -> None:
    assert [(f.key, f.suffix) for f in diff_formats()] == [("diff", ".diff.txt"), ("diff_html", ".diff.html")]
    assert "summary.json" in [f.filename for f in run_formats()]


def test_discovery_finds_formats_nobody_imported() -> None:
    import subprocess
    import sys

    code = ("import sys; from harness.report.formats import diff_formats, run_formats; "
            "assert 'harness.report.html' not in sys.modules; "
            "print(sorted(f.key for f in diff_formats()), sorted(f.filename for f in run_formats()))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['diff', 'diff_html'] ['junit.xml', 'summary.json']"


def test_a_registered_format_is_written_by_the_pipeline_with_no_other_change(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.report import formats
    from harness.report.results import ResultsDir
    from harness.run.backends.simulated import SimulatedBackend
    from harness.run.pipeline import RunConfig, run_scenarios
    from harness.scenario import compile_scenario
    from harness.trace.diff import DiffResult

    monkeypatch.setattr(formats, "_DIFF", dict(formats._DIFF))
    monkeypatch.setattr(formats, "_RUN", dict(formats._RUN))

    @formats.diff_format("diff_count", ".diff.count")
    def count(result: DiffResult) -> str:
        return f"{len(result.divergences)}\n"

    @formats.run_format("verdicts.count")
    def run_count(run: RunResult) -> str:
        return f"{len(run.verdicts)}\n"

    rd = ResultsDir.create(tmp_path, "t")
    sc = compile_scenario(REPO / "testcases/exits/short.yaml", "amd64")
    [v] = run_scenarios([sc], RunConfig("amd64", "9front-2022.05", scenario_timeout=30),
                        lambda n, r: SimulatedBackend(n, r, RunConfig("amd64", "9front-2022.05")), rd)
    assert v.status is Status.PASS and v.files["diff_count"] == "amd64/short.diff.count"
    assert (rd.root / "amd64/short.diff.count").read_text() == "0\n"
    assert (rd.root / "verdicts.count").read_text() == "1\n"
