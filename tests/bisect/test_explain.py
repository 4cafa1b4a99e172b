"""`harness explain`: the profile switch that makes the model reproduce a guest trace."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main

ROOT = Path(__file__).resolve().parents[2]
QUOTE = ROOT / "testcases" / "exec" / "script-quote-seed.yaml"


def _guest_trace(tmp_path: Path, switches: str, name: str) -> Path:
    """A guest trace of script-quote-seed from a real run on a SIMULATED kernel."""
    k = tmp_path / f"k-{name}"
    k.write_text(f'[simulated-kernel]\narch = "amd64"\nswitches = {switches}\n')
    main(["run", "--kernel", str(k), str(QUOTE), "--results", str(tmp_path / name)])
    (run,) = (tmp_path / name).iterdir()
    trace = run / "amd64" / "script-quote-seed.guest.jsonl"
    assert trace.is_file()
    return trace


@pytest.fixture(scope="module")
def traces(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("explain")
    return {"tokenize": _guest_trace(d, '["+shebang-tokenize"]', "tokenize"), "seed": _guest_trace(d, "[]", "seed")}


def test_explain_names_the_switch_turned_on(traces: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", str(traces["tokenize"])]) == 0
    out = capsys.readouterr().out
    assert "explained by switch shebang-tokenize turned on (9front-2022.05 +shebang-tokenize)" in out
    assert "520a39efc" in out


def test_explain_names_a_switch_turned_off(traces: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", str(traces["seed"]), "--profile", "9front-current"]) == 0
    assert "explained by switch shebang-tokenize turned off (9front-current -shebang-tokenize)" in capsys.readouterr().out


def test_a_trace_the_base_reproduces_needs_no_switch(traces: dict[str, Path],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", str(traces["seed"])]) == 0
    assert "already reproduces these traces: no switch needed" in capsys.readouterr().out


def test_a_change_no_switch_knows_is_said_plainly(traces: dict[str, Path], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    lines = traces["tokenize"].read_text().splitlines()
    rec = json.loads(lines[4])  # the exec record: the kernel passed other arguments
    rec["out"]["argv"] = ["s_quote", "something", "else"]
    lines[4] = json.dumps(rec)
    odd = tmp_path / "script-quote-seed.guest.jsonl"
    odd.write_text("\n".join(lines) + "\n")
    assert main(["explain", str(odd)]) == 1
    out = capsys.readouterr().out
    assert "no switch explains it" in out and "a change the profiles do not know yet" in out
    assert "out.argv" in out


def test_explain_reads_guest_traces_only(tmp_path: Path, traces: dict[str, Path],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    model = traces["seed"].with_name("script-quote-seed.model.jsonl")
    assert main(["explain", str(model)]) == 2
    assert "explain reads guest traces" in capsys.readouterr().err
    lines = traces["seed"].read_text().splitlines()
    head = json.loads(lines[0])
    head["scenario"], head["meta"]["scenario_path"] = "no-such-scenario", None
    lost = tmp_path / "lost.guest.jsonl"
    lost.write_text("\n".join([json.dumps(head), *lines[1:]]) + "\n")
    assert main(["explain", str(lost)]) == 2
    assert "cannot find scenario 'no-such-scenario'" in capsys.readouterr().err


def test_a_switch_explains_the_change_when_both_ends_differ_from_the_model(tmp_path: Path) -> None:
    # both kernels print namec errors the new way (a switch the base lacks); the bad one
    # also tokenizes #! lines: no single switch reproduces the bad end exactly, but
    # +shebang-tokenize changes the model exactly where the ends differ
    from harness.bisect.explain import ModelRun, explain_change
    from harness.scenario.compiler import compile_scenario
    from harness.trace.schema import read_trace

    sc_path = ROOT / "testcases" / "exec" / "script-limits-seed.yaml"
    runs = {}
    for name, switches in (("good", '["+namec-error-suffix"]'), ("bad", '["+namec-error-suffix", "+shebang-tokenize"]')):
        k = tmp_path / name
        k.write_text(f'[simulated-kernel]\narch = "amd64"\nswitches = {switches}\n')
        main(["run", "--kernel", str(k), str(sc_path), "--results", str(tmp_path / f"r-{name}")])
        (run,) = (tmp_path / f"r-{name}").iterdir()
        trace = read_trace(run / "amd64" / "script-limits-seed.guest.jsonl")
        runs[name] = [ModelRun(compile_scenario(sc_path, "amd64"), trace)]
    e = explain_change(runs["good"], runs["bad"], "amd64", "9front-2022.05")
    assert e.switches == ["+shebang-tokenize"] and e.relative and not e.base_reproduces
    assert "the model under 9front-2022.05 does not reproduce the ends themselves" in "\n".join(e.lines())
