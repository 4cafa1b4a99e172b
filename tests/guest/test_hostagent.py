"""The host build of the guest agent reproduces traces it is answered from.

The agent's system calls are answered from a trace (compat/host.c); its own
framed output, decoded with harness.trace.frame, must be that trace again.
With the golden model's trace this runs the agent's parser, dispatch,
per-process state (rfork = real fork, exec = real exec) and framing on every
scenario in testcases/.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.guest.hostbuild import (
    answers_text,
    check_against_model,
    differences,
    render_segment_file,
    run_host_agent,
)
from harness.program import parse
from harness.scenario.compiler import compile_scenario, default_corpus
from harness.trace.schema import Record

# A hand-written answer source (not the model): a trace in the record
# conventions of harness/model/agent.py, for a program that forks, waits,
# swaps errstr, probes its segments and fails an open.
CANNED_PROGRAM = """nhprog 1
scenario canned
covers rfork await errstr open
buf wbuf 256
data seed 68690000
block main
1 rfork i:0x14 c:b2 >kid
3 await b:wbuf i:256
4 werrstr s:hello
5 errstr b:wbuf i:256
6 probe w:segments
7 open s:/nonexist i:0
8 probe w:buf b:seed
9 touch w:r a:kid+4
end
block b2
2 exits s:bye
end
"""
CANNED_RECORDS = [
    Record("main", 0, 0, "start", "start", [], None, None, {"pid": 100}),
    Record("main", 1, 1, "call", "rfork", ["i:0x14", "c:b2"], 101, None, {}),
    Record("s1", 0, 0, "start", "start", [], None, None, {"pid": 101}),
    Record("s1", 1, 2, "call", "exits", ["s:bye"], None, None, {}),
    Record("main", 2, 3, "call", "await", ["b:wbuf", "i:256"], 15, None, {"text": "101 0 0 0 'bye'"}),
    Record("main", 3, 4, "call", "werrstr", ["s:hello"], None, None, {}),
    Record("main", 4, 5, "call", "errstr", ["b:wbuf", "i:256"], 0, None, {"text": "hello"}),
    Record("main", 5, 6, "probe", "probe", ["w:segments"], None, None,
           {"segments": [["Stack", "", 0x7FFFFEFFF000, 0x7FFFFFFFF000, 1], ["Text", "R", 0x200000, 0x208000, 2]]}),
    Record("main", 6, 7, "call", "open", ["s:/nonexist", "i:0"], -1, "'/nonexist' file does not exist", {}),
    Record("main", 7, 8, "probe", "probe", ["w:buf", "b:seed"], None, None, {"hex": "68690000"}),
    Record("main", 8, 9, "action", "touch", ["w:r", "a:kid+4"], 0, None, {"value": -2}),
]


def test_canned_trace_is_reproduced(host_agent: Path, tmp_path: Path) -> None:
    run = run_host_agent(host_agent, CANNED_PROGRAM, CANNED_RECORDS, tmp_path)
    assert run.transport_errors == []
    assert "hostcompat" not in run.stderr
    assert differences(CANNED_RECORDS, run.records) == []
    # frames are written per process in order; the parent's and the child's interleave
    assert [r.seq for r in run.records if r.proc == "main"] == list(range(9))
    # main's last frame is the agent's own time (kind end), taken out of the records
    assert run.elapsed_ns is not None and run.elapsed_ns > 0
    assert b"\x01NH1 agent 0 " in (tmp_path / "trace.frames").read_bytes()


def test_a_wrong_answer_is_caught(host_agent: Path, tmp_path: Path) -> None:
    """The comparison has teeth: a trace the agent cannot have produced differs."""
    wrong = [Record(**{**r.__dict__}) for r in CANNED_RECORDS]
    wrong[4] = Record("main", 2, 3, "call", "sleep", ["i:1"], 0, None, {})  # the model 'slept' instead of await
    run = run_host_agent(host_agent, CANNED_PROGRAM, wrong, tmp_path)
    assert "agent performs await, model recorded call sleep" in run.stderr
    assert differences(wrong, run.records)


def test_segment_file_round_trip() -> None:
    rows = [["Stack", "", 0x7FFFFEFFF000, 0x7FFFFFFFF000, 1], ["Text", "R", 0x200000, 0x400000, 2]]
    text = render_segment_file(rows)
    assert text.splitlines()[1] == "Text   R    200000   400000    2"


def test_answer_file_has_one_line_per_record() -> None:
    lines = answers_text(CANNED_RECORDS).splitlines()
    assert len(lines) == len(CANNED_RECORDS)
    assert all(len(line.split(" ")) == 9 for line in lines)
    assert lines[1].split(" ")[-1] == "s1"  # the rfork names its child


def _corpus() -> list[Path]:
    return sorted(default_corpus().rglob("*.yaml"))


CORE = ["rfork/child-exits-await", "errstr/swap", "segments/segdetach", "exec/bad-magic",
        "notify/exit-handler", "fd/pipe", "rfork/rfnowait"]


@pytest.mark.parametrize("name", CORE)
def test_core_scenarios_match_the_model(host_agent: Path, tmp_path: Path, name: str) -> None:
    path = default_corpus() / f"{name}.yaml"
    if not path.exists():
        pytest.skip(f"scenario {name} is not in the corpus")
    sc = compile_scenario(path, "amd64")
    assert check_against_model(host_agent, sc.program, "amd64", workdir=tmp_path) == []


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_whole_corpus_matches_the_model(host_agent: Path, tmp_path: Path, arch: str) -> None:
    problems = {}
    for path in _corpus():
        sc = compile_scenario(path, arch)
        if not sc.runs_on(arch, "9front-2022.05"):
            continue
        d = check_against_model(host_agent, sc.program, arch, workdir=tmp_path / sc.name)
        if d:
            problems[sc.name] = d[:2]
    assert problems == {}


def test_exec_continues_in_a_new_image(host_agent: Path, tmp_path: Path) -> None:
    prog = parse("nhprog 1\nscenario x\nblock main\n1 exec s:$agent c:b n:\nend\n"
                 "block b\n2 probe w:args\n3 exits s:done\nend\n")
    recs = [
        Record("main", 0, 0, "start", "start", [], None, None, {"pid": 100}),
        Record("main", 1, 1, "call", "exec", ["s:$agent", "c:b", "n:"], 0, None, {"argv": ["nhagent-host"]}),
        Record("main", 2, 2, "probe", "probe", ["w:args"], None, None, {"args": ["nhagent-host"]}),
        Record("main", 3, 3, "call", "exits", ["s:done"], None, None, {}),
    ]
    run = run_host_agent(host_agent, prog, recs, tmp_path)
    # the host stands a nil argv in by the agent's path: only argv differs
    got = [(r.seq, r.op, r.kind) for r in run.records]
    assert got == [(0, "start", "start"), (1, "exec", "call"), (2, "probe", "probe"), (3, "exits", "call")]
    assert run.records[1].out["argv"] == run.records[2].out["args"]


def test_fd_probe_modes_and_paths(host_agent: Path, tmp_path: Path) -> None:
    """/proc/N/fd lines, including OEXEC's empty mode column and a blank in a path."""
    prog = "nhprog 1\nscenario f\nblock main\n1 probe w:fds i:8\nend\n"
    recs = [
        Record("main", 0, 0, "start", "start", [], None, None, {"pid": 100}),
        Record("main", 1, 1, "probe", "probe", ["w:fds", "i:8"], None, None,
               {"fds": [[0, "r", "/dev/cons"], [1, "rw", "#|/data1"], [3, "", "/tmp/a b"]]}),
    ]
    run = run_host_agent(host_agent, prog, recs, tmp_path)
    assert differences(recs, run.records) == []
