"""Strict scenarios (issue 10) and the v2 forms: repeat, patterns, ran: false.

Each malformed case must be refused with its file and line; each v2 form is
compiled and run on the model, and its expectation must both pass on the
right trace and fail on a wrong one (so no check here can pass vacuously).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import ScenarioError
from harness.run.modelrun import model_trace
from harness.scenario.compiler import Scenario, compile_scenario
from harness.scenario.expect import check

SEED = "9front-2022.05"


def _write(tmp_path: Path, text: str, name: str = "case.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text).lstrip("\n"))
    return p


def _compile(tmp_path: Path, text: str) -> Scenario:
    return compile_scenario(_write(tmp_path, text), "amd64")


def _reject(tmp_path: Path, text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        _compile(tmp_path, text)
    assert str(info.value).startswith(f"{tmp_path / 'case.yaml'}:{info.value.line}: ")
    return info.value


def _mismatches(sc: Scenario) -> list[str]:
    trace = model_trace(sc, "amd64", SEED, None)
    return [str(m) for m in check(sc, trace.records, "amd64", SEED)]


@pytest.mark.parametrize("body, line, words", [
    ("steps:\n  - close: 3\n    chlid: []\n", 4, "unknown step key(s) ['chlid']"),
    ("steps:\n  - close: 3\n    child: []\n", 4, "child: belongs to rfork, not close"),
    ("steps:\n  - close: 3\n    then: []\n", 4, "then: belongs to exec, not close"),
    ("steps:\n  - close: 3\n    expect: {out.text: x}\n", 5, "close reports no out.text"),
    ("steps:\n  - await: [b, 9]\n    expect: {out.txt: x}\n", 5, "await reports no out.txt (its out keys: out.hung, out.text)"),
    ("steps:\n  - probe: brk\n    expect: {out.segments: x}\n", 5, "probe reports no out.segments"),
    ("steps:\n  - close: 3\n    expect: {ret: '=>0'}\n", 5, "'=>0' is not a comparison"),
    ("steps:\n  - close: 3\n    expect: {ret: '==$nope'}\n", 5, "no earlier step is saved as 'nope'"),
    ("steps:\n  - close: 3\n    expect: {err: {re: '('}}\n", 5, "re: "),
    ("steps:\n  - close: 3\n    expect: {err: {maybe: x}}\n", 5, "exactly one of one_of, not, re, same_as"),
    ("steps:\n  - close: 3\n    expect: {ran: 0}\n", 5, "ran: true or false"),
    ("steps:\n  - close: 3\n    expect[vax]: {ret: 0}\n", 4, "expect[vax]: not a profile, an arch"),
    ("arches: [vax]\nsteps:\n  - close: 3\n", 3, "arches: unknown arch 'vax'"),
    ("profiles: [9front-1999]\nsteps:\n  - close: 3\n", 3, "profiles: unknown profile '9front-1999'"),
    ("steps:\n  - repeat: 2\n    index: pid\n    steps: [{close: 3}]\n", 4, "index 'pid' must be a new plain word"),
    ("steps:\n  - repeat: 2\n    step: []\n", 4, "repeat: unknown key(s) ['step']"),
    ("steps:\n  - repeat: -1\n    steps: [{close: 3}]\n", 4, "repeat: a count"),
])
def test_strict_errors_name_file_and_line(tmp_path: Path, body: str, line: int, words: str) -> None:
    text = "covers: [close]\nbuffers: {b: 64}\n" + body
    err = _reject(tmp_path, text)
    assert words in err.reason
    assert err.line == line  # the step's line, or its expect mapping's


def test_a_directory_is_checked_whole_and_nothing_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "dir"
    d.mkdir()
    _write(d, "covers: [close]\nsteps:\n  - close: 3\n", "good.yaml")
    _write(d, "covers: [close]\nsteps:\n  - close: 3\n    child: []\n", "bad1.yaml")
    _write(d, "covers: [close]\nsteps:\n  - close: 3\n    expect: {out.text: x}\n", "bad2.yaml")
    out = tmp_path / "out"
    for cmd in (["model", str(d), "-o", str(out)], ["compile", str(d)]):
        assert main(cmd) == 2
        err = capsys.readouterr().err.splitlines()
        assert any(f"{d / 'bad1.yaml'}:3: child:" in e for e in err), err
        assert any(f"{d / 'bad2.yaml'}:4: expect: close reports no out.text" in e for e in err), err
        assert err[-1] == "2 malformed scenarios: nothing was run"
    assert not out.exists()  # nothing ran: no trace written


def test_repeat_unrolls_with_its_index_in_numbers_strings_and_names(tmp_path: Path) -> None:
    sc = _compile(tmp_path, """
        covers: [dup, close]
        steps:
          - repeat: 3
            index: k
            steps:
              - dup: [0, -1]
                as: fd$k
                expect: {ret: ">=0"}
              - werrstr: "round $k"
          - close: $fd2
            expect: {ret: 0}
          - probe: errstr
            expect: {out.errstr: "round 2"}
          - dup: [0, -1]
            expect: {ret: "==$fd2"}
    """)
    main_block = sc.program.blocks["main"]
    assert [s.op for s in main_block] == ["dup", "werrstr"] * 3 + ["close", "probe", "dup"]
    assert [s.args[0].text for s in main_block if s.op == "werrstr"] == ["round 0", "round 1", "round 2"]
    assert {"fd0", "fd1", "fd2"} <= set(sc.labels)
    assert _mismatches(sc) == []


def test_comparison_with_an_earlier_step_can_fail(tmp_path: Path) -> None:
    sc = _compile(tmp_path, """
        covers: [dup]
        steps:
          - dup: [0, -1]
            as: first
          - dup: [0, -1]
            expect: {ret: "==$first"}
    """)
    bad = _mismatches(sc)
    assert len(bad) == 1 and "ret: expected '==$first'" in bad[0]


def test_alternation_negation_regex_and_same_as(tmp_path: Path) -> None:
    sc = _compile(tmp_path, """
        covers: [open, errstr]
        buffers: {e: 128}
        steps:
          - open: [/nonexistent/x, OREAD]
            as: o1
            expect:
              ret: {one_of: [-2, -1]}
              err: {not: "*permission*"}
          - open: [/nonexistent/y, OREAD]
            expect: {err: {re: "'/nonexistent(/[xy])?' (file )?does not exist"}, ret: {same_as: o1}}
          - probe: errstr
            expect: {out.errstr: {one_of: ["*exist*", "nope"]}}
    """)
    assert _mismatches(sc) == []
    wrong = _compile(tmp_path, """
        covers: [open]
        steps:
          - open: [/nonexistent/x, OREAD]
            expect: {ret: {not: -1}, err: {one_of: [a, b]}}
    """)
    bad = _mismatches(wrong)
    assert len(bad) == 2 and "ret:" in bad[0] and "err:" in bad[1]


def test_a_step_that_must_not_run(tmp_path: Path) -> None:
    sc = _compile(tmp_path, """
        covers: [exits]
        steps:
          - rfork: [RFPROC]
            child:
              - exits: bye
              - close: 3
                expect: {ran: false}
          - close: 3
            expect: {ran: true}
    """)
    assert _mismatches(sc) == []
    runs = _compile(tmp_path, """
        covers: [close]
        steps:
          - close: 3
            expect: {ran: false}
    """)
    bad = _mismatches(runs)
    assert len(bad) == 1 and "ran: expected False, got True" in bad[0]


def test_a_huge_value_is_cut_in_mismatch_lines(tmp_path: Path) -> None:
    from harness.scenario.expect import Mismatch

    text = str(Mismatch("s", 1, 2, "out.text", "x", "y" * (16 << 20)))
    assert len(text) < 400 and f"({(16 << 20) + 2} characters)" in text


def test_variables_inside_strings_become_f_arguments(tmp_path: Path) -> None:
    sc = _compile(tmp_path, """
        covers: [open]
        steps:
          - dup: [0, -1]
            as: fd
          - open: ["/fd/$fd", OREAD]
          - open: ["$dir/x${pid}y$", OREAD]
          - open: ["$agent", OREAD]
    """)
    toks = [s.args[0].token for s in sc.program.blocks["main"][1:]]
    assert toks == ["f:/fd/$fd", "f:$dir/x${pid}y$", "s:$agent"]
    err = _reject(tmp_path, """
        covers: [open]
        steps:
          - open: ["/proc/$kid/ctl", OREAD]
    """)
    assert err.line == 3 and "variable $kid is used before any step sets it" in err.reason


def test_f_strings_expand_in_the_model_and_parse_checks_their_variables() -> None:
    from harness.errors import ProgramError
    from harness.program import expand_vars, parse, string_vars

    assert string_vars("$dir/$a/${b}c/$agent/$") == ["a", "b"]
    assert expand_vars("/proc/$a/${b}x", {"a": 7, "b": -1}.__getitem__) == "/proc/7/-1x"
    with pytest.raises(ProgramError, match="variable 'kid' is never set"):
        parse("nhprog 1\nscenario x\nblock main\n1 open f:/proc/$kid/ctl i:0\nend\n")


def test_the_proc_var_scenario_reads_the_childs_own_file(tmp_path: Path) -> None:
    from harness.scenario.compiler import default_corpus

    sc = compile_scenario(default_corpus() / "fd" / "proc-var-path.yaml", "amd64")
    trace = model_trace(sc, "amd64", SEED, None)
    opens = [r for r in trace.records if r.op == "open"]
    kid = next(r.ret for r in trace.records if r.op == "rfork" and r.proc == "main")
    assert opens[0].ret >= 0 and opens[-1].err == f"'/proc/{kid}' file does not exist"
    assert check(sc, trace.records, "amd64", SEED) == []


def test_expectations_on_note_records(tmp_path: Path) -> None:
    from harness.scenario.compiler import default_corpus

    sc = compile_scenario(default_corpus() / "notify" / "postnote-self-repeat.yaml", "amd64")
    assert _mismatches(sc) == []
    wrong = _compile(tmp_path, """
        covers: [notify]
        steps:
          - notify: cont
          - postnote: [PNPROC, $pid, hello]
            expect: {notes: [{not: hello}]}
          - postnote: [PNPROC, $pid, again]
            expect: {notes: []}
    """)
    bad = _mismatches(wrong)
    assert len(bad) == 2 and "got ['hello']" in bad[0] and "got ['again']" in bad[1]
    err = _reject(tmp_path, "covers: [x]\nsteps:\n  - close: 3\n    expect: {notes: x}\n")
    assert "notes: a list of patterns" in err.reason


def test_variables_in_expected_strings_are_the_saved_rets(tmp_path: Path) -> None:
    sc = _compile(tmp_path, """
        covers: [await]
        buffers: {w: 256}
        steps:
          - dup: [0, -1]
            as: fd
          - rfork: [RFPROC, RFFDG]
            as: kid
            child:
              - exits: bye
          - await: [w, 256]
            expect: {out.text: "$kid * '* ${kid}: bye'"}
          - await: [w, 256]
            doc: none left
          - open: ["$dir/none", OREAD]
            expect: {err: "'$dir/none' *"}
    """)
    assert _mismatches(sc) == []
    wrong = _compile(tmp_path, """
        covers: [await]
        buffers: {w: 256}
        steps:
          - dup: [0, -1]
            as: fd
          - rfork: [RFPROC, RFFDG]
            as: kid
            child:
              - exits: bye
          - await: [w, 256]
            expect: {out.text: {re: "$fd .*"}}
    """)
    assert len(_mismatches(wrong)) == 1
    err = _reject(tmp_path, "covers: [x]\nsteps:\n  - close: 3\n    expect: {err: 'x $nope'}\n")
    assert "$nope: no earlier step is saved as 'nope'" in err.reason


def test_a_long_variable_name_inside_a_string_is_refused(tmp_path: Path) -> None:
    long = "v" * 64
    err = _reject(tmp_path, f"covers: [open]\nsteps:\n  - dup: [0, -1]\n    as: {long}\n"
                            f"  - open: [\"/fd/${long}\", OREAD]\n")
    assert err.line == 5 and "at most 63 characters" in err.reason
