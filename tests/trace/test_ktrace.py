"""The kernel's own syscall trace (agent -t): parser and cross-check.

The fixtures in fixtures/ktrace/ are REAL console output of the agent run with
-t on 9front kernels (9pc64 and arm64 9qemu.u, 9front 027f579f4, under QEMU,
`harness run --ktrace`): the bytes between the command's begin and end markers, the
agent's framed records and the ktrace records of its tracers, with the
console's CRs (amd64-short-buffers-panic: up to the kernel's panic line).  No 9front code or binary is in them: only what the kernel
printed (port/syscallfmt.c's format) and the agent wrote.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from harness.report.results import ResultsDir
from harness.run.backends import GuestRun
from harness.run.pipeline import RunConfig, guest_trace, save_ktrace
from harness.scenario.compiler import compile_scenario
from harness.trace import frame
from harness.trace import ktrace as kt
from harness.trace.schema import KTRACE, Record

FIXTURES = Path(__file__).parent / "fixtures" / "ktrace"
CAPTURES = sorted(p for p in FIXTURES.glob("*.console") if not p.stem.endswith("-panic"))
# the scenarios the fixtures ran (testcases/rfork/child-exits-await.yaml, and the
# part of testcases/await/short-buffers.yaml before the panic), for the pipeline tests
CHILD_EXITS_AWAIT = """covers: [rfork, exits, await]
description: rfork returns the child's pid; await reports the child's exit string.
buffers:
  wmsg: 256
steps:
  - rfork: [RFPROC, RFFDG]
    child:
      - exits: childexit
  - await: [wmsg, 256]
"""
SHORT_AWAIT = """covers: [await]
description: await into a 0-byte buffer.
buffers:
  wmsg: {repeat: Z, times: 64}
steps:
  - rfork: [RFPROC, RFFDG]
    child:
      - exits: one
  - await: [wmsg+30, 0]
"""


def scenario_file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / "testcases" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def load(name: str) -> tuple[list[Record], list[Record]]:
    recs, errs = frame.decode_records((FIXTURES / f"{name}.console").read_bytes())
    assert errs == []
    return kt.split_records(recs)


def pid_of(own: list[Record], proc: str) -> int:
    return next(int(r.out["pid"]) for r in own if r.proc == proc and r.kind == "start")


def test_fixtures_are_there() -> None:
    assert {p.stem for p in CAPTURES} >= {"amd64-child-exits-await", "amd64-rfnowait", "amd64-rfcfdg-child",
                                          "amd64-rfmem"}


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.stem)
def test_every_real_text_parses(path: Path) -> None:
    own, ktr = load(path.stem)
    assert ktr and all(r.kind == KTRACE and r.proc == f"kt{r.out['pid']}" for r in ktr)
    trace = kt.from_records(ktr)
    assert trace.errors == []
    perturbed = trace.perturbed
    assert (path.stem == "amd64-badptr") == bool(perturbed)
    for c in trace.calls:
        if c in perturbed:
            continue
        assert c.name in kt.SYSCALL_NAMES and c.name != "huh?", c
        assert c.procname == "nhagent"
        assert c.pc is not None and c.pc > 0
        if c.returned:
            assert c.start_ns is not None and c.stop_ns is not None and c.start_ns <= c.stop_ns
    # only the last call of a process may lack its return, and it is its Exits
    for pid, calls in trace.by_pid().items():
        assert all(c.returned for c in calls[:-1]), pid
        assert (calls[-1].name == "Exits" and not calls[-1].returned) or calls[-1] in perturbed
    # every process of the scenario was traced, children included
    assert {pid_of(own, r.proc) for r in own if r.kind == "start"} == set(trace.by_pid())


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_child_exits_await_in_detail(arch: str) -> None:
    own, ktr = load(f"{arch}-child-exits-await")
    trace = kt.from_records(ktr)
    main, child = pid_of(own, "main"), pid_of(own, "s1")
    calls = trace.by_pid()
    names = [c.name for c in calls[main]]
    # after the tracer lets main go: its start record, the program's rfork, await, exits
    assert names[-6:] == ["Pwrite", "Rfork", "Pwrite", "Await", "Pwrite", "Exits"]
    rf = calls[main][-5]
    assert rf.args == "0x14" and rf.ret == child and rf.err is None  # RFPROC|RFFDG
    aw = calls[main][-3]
    msg = next(r for r in own if r.op == "await").out["text"]
    assert aw.ret == len(msg) and f"nhagent {child}: childexit" in aw.data and msg in aw.data
    assert calls[main][-1].args == '0/""'  # exits(nil)
    # the child's tracer caught its very first call, the start record's write
    assert [c.name for c in calls[child]] == ["Pwrite", "Pwrite", "Exits"]
    assert kt.frame_write(calls[child][0]) == ("s1", 0)
    assert calls[child][-1].args.endswith('/"childexit"')


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_failed_calls_carry_the_kernel_errstr(arch: str) -> None:
    own, ktr = load(f"{arch}-rfcfdg-child")
    trace = kt.from_records(ktr)
    dup = next(c for c in trace.calls if c.name == "Dup" and c.pid == pid_of(own, "s1"))
    assert (dup.args, dup.ret, dup.err) == ("1 -1", -1, "fd out of range or not open")


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.stem)
def test_rendered_text_parses_back(path: Path) -> None:
    _, ktr = load(path.stem)
    items, _, _ = kt.texts_of(ktr)
    text = kt.render(items)
    assert text.count("\n") == len(kt.from_records(ktr).calls)
    again = kt.parse_lines(text)
    assert again.errors == []
    key = [(c.pid, c.name, c.args, c.data, c.ret, c.err, c.start_ns) for c in kt.from_records(ktr).calls]
    assert [(c.pid, c.name, c.args, c.data, c.ret, c.err, c.start_ns) for c in again.calls] == key


def test_parse_lines_of_a_return_without_its_entry() -> None:
    trace = kt.parse_lines('7 ... = 3 "" 10 20\n')
    assert trace.errors == [] and trace.calls[0].pid == 7 and trace.calls[0].ret == 3 and trace.calls[0].name == ""


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.stem)
def test_real_traces_cross_check_clean(path: Path) -> None:
    own, ktr = load(path.stem)
    cc = kt.cross_check(own, kt.from_records(ktr))
    syscalls = [r for r in own if r.kind == "call" and r.op in kt.OP_SYSCALLS]
    assert cc.ok, cc.mismatches
    assert cc.checked == len(syscalls) and cc.agreed + len(cc.perturbed) == cc.checked


def test_a_call_the_tracing_changed_is_marked() -> None:
    # exits(0x1): untraced, sysexits' own check gives "invalid exit string";
    # traced, syscallfmt's validaddr of the string faults first (observed on 9pc64)
    own, ktr = load("amd64-badptr")
    trace = kt.from_records(ktr)
    child = pid_of(own, "s1")
    [bad] = trace.perturbed
    assert (bad.pid, bad.ret, bad.err, bad.start_ns, bad.entry) == (child, -1, "bad arg in system call", 0, None)
    cc = kt.cross_check(own, trace)
    assert cc.ok and [(m.proc, m.op, m.what) for m in cc.perturbed] == [("s1", "exits", "perturbed")]
    assert "tracing changed 1 call" in cc.line()
    await_rec = next(r for r in own if r.op == "await")
    assert "sys: bad address in syscall" in await_rec.out["text"]  # what the traced child died of


def test_await_failure_is_a_note_not_a_mismatch() -> None:
    own, ktr = load("amd64-rfnowait")
    cc = kt.cross_check(own, kt.from_records(ktr))
    assert cc.ok
    assert any("no errstr for Await" in n for n in cc.notes)


def test_a_wrong_return_value_is_reported() -> None:
    own, ktr = load("amd64-child-exits-await")
    bad = copy.deepcopy(own)
    await_rec = next(r for r in bad if r.op == "await")
    await_rec.ret = 33  # the kernel says 37
    cc = kt.cross_check(bad, kt.from_records(ktr))
    assert [(m.proc, m.op, m.what, m.agent, m.kernel) for m in cc.mismatches] == [("main", "await", "ret", 33, 37)]
    assert "1 mismatch" in cc.line()


def test_a_wrong_errstr_is_reported() -> None:
    own, ktr = load("amd64-rfcfdg-child")
    bad = copy.deepcopy(own)
    dup = next(r for r in bad if r.op == "dup" and r.proc == "s1")
    dup.err = "something else"
    cc = kt.cross_check(bad, kt.from_records(ktr))
    assert [(m.proc, m.op, m.what, m.kernel) for m in cc.mismatches] == [
        ("s1", "dup", "err", "fd out of range or not open")]


def test_a_call_missing_from_the_kernel_trace_is_reported() -> None:
    own, ktr = load("amd64-child-exits-await")
    trace = kt.from_records(ktr)
    main = pid_of(own, "main")
    trace.calls = [c for c in trace.calls if not (c.pid == main and c.name == "Await")]
    cc = kt.cross_check(own, trace)
    assert [(m.op, m.what) for m in cc.mismatches] == [("await", "missing")]


def test_an_untraced_process_is_a_note() -> None:
    own, ktr = load("amd64-child-exits-await")
    child = pid_of(own, "s1")
    cc = kt.cross_check(own, kt.from_records([r for r in ktr if r.out["pid"] != child]))
    assert cc.ok and cc.skipped == 1 and any(n.startswith("s1: no kernel trace") for n in cc.notes)


def test_tracer_errors_are_kept() -> None:
    rec = Record("kt5", 0, 0, KTRACE, "syscall", out={"pid": 5, "error": "'/proc/5/ctl' file does not exist"})
    assert kt.from_records([rec]).errors == ["tracer of pid 5: '/proc/5/ctl' file does not exist"]


def test_pipeline_keeps_ktrace_out_of_the_guest_trace_and_saves_it(tmp_path: Path) -> None:
    data = (FIXTURES / "amd64-child-exits-await.console").read_bytes()
    sc = compile_scenario(scenario_file(tmp_path, "child-exits-await", CHILD_EXITS_AWAIT), "amd64")
    run = GuestRun(output=data, status="")
    cfg = RunConfig(arch="amd64", profile="9front-current", ktrace=True)
    guest, transport = guest_trace(sc, run, cfg)
    assert transport == [] and guest.records and all(r.kind != KTRACE for r in guest.records)
    results = ResultsDir.create(tmp_path / "results", "t")
    files: dict[str, str] = {}
    summary = save_ktrace(run, guest, results, "amd64/child-exits-await", files)
    assert summary["ok"] is True and summary["checked"] == 3
    raw = (results.root / files["ktrace"]).read_text()
    assert "Rfork" in raw and "Await" in raw and "nhagent Exits" in raw
    saved = json.loads((results.root / files["ktrace_json"]).read_text())
    assert saved["crosscheck"]["agreed"] == 3 and len(saved["calls"]) == raw.count("\n")


def test_the_trace_up_to_a_kernel_panic() -> None:
    # Observed on 9pc64 (027f579f4), traced runs only: await(buf, 0) fails (-1),
    # sysretfmt takes the unsigned ret for > 0 and formats buf as a string; buf
    # (64 x "Z", no NUL) runs to the end of the bss, the read faults outside any
    # error label, and the kernel panics "assert failed: up->nerrlab > 0".
    data = (FIXTURES / "amd64-short-buffers-panic.console").read_bytes()
    recs, errs = frame.decode_records(data)
    assert errs == []
    own, ktr = kt.split_records(recs)
    trace = kt.from_records(ktr)
    assert trace.errors == []
    last = trace.calls[-1]
    assert (last.name, last.args, last.returned) == ("Await", last.args.split(" ")[0] + " 0", False)
    assert b"panic: assert failed" in data and b"up->nerrlab > 0" in data
    # everything the agent reported before the panic agrees with the kernel's trace
    cc = kt.cross_check(own, trace)
    assert cc.ok and cc.checked == sum(1 for r in own if r.kind == "call" and r.op in kt.OP_SYSCALLS) > 0


def test_a_traced_crash_says_so(tmp_path: Path) -> None:
    from harness.report.result import Status
    from harness.run.pipeline import judge

    data = (FIXTURES / "amd64-short-buffers-panic.console").read_bytes()
    sc = compile_scenario(scenario_file(tmp_path, "short-buffers", SHORT_AWAIT), "amd64")
    run = GuestRun(output=data, status=None, crash="panic: assert failed at 0xffffffff80220a7a: up->nerrlab > 0")
    cfg = RunConfig(arch="amd64", profile="9front-current", ktrace=True)
    v = judge(sc, cfg, run, ResultsDir.create(tmp_path / "results", "t"))
    assert v.status is Status.GUEST_CRASH and v.summary.endswith("(in a traced run, -t)")
    assert v.ktrace is not None and "kernel calls before the guest crashed" in v.ktrace["line"]
    assert "Await" in v.ktrace["line"] and "[ktrace:" in v.describe()


def test_a_call_whose_return_the_kernel_never_showed_is_reported() -> None:
    own, ktr = load("amd64-child-exits-await")
    trace = kt.from_records(ktr)
    aw = next(c for c in trace.calls if c.name == "Await")
    aw.ret = None
    cc = kt.cross_check(own, trace)
    assert [(m.op, m.what) for m in cc.mismatches] == [("await", "no-return")]


def test_entry_parser_edge_cases() -> None:
    # a process name with spaces, a call without arguments, sysr1's sysctab name
    c = kt.parse_entry('12 my prog Open 20c4a1 0x40109f/"#c/cons" 0x1')
    assert c is not None and (c.procname, c.name, c.pc, c.args) == ("my prog", "Open", 0x20C4A1, '0x40109f/"#c/cons" 0x1')
    c = kt.parse_entry("12 nhagent _nsec 20c519")
    assert c is not None and (c.name, c.args) == ("_nsec", "")
    c = kt.parse_entry("12 nhagent Running 2033 0x0")
    assert c is not None and c.name == "Running"
    assert kt.parse_entry("not an entry") is None


def test_ktrace_needs_a_real_kernel(capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main

    assert main(["run", "--simulate", "--arch", "amd64", "--ktrace"]) == 2
    assert "--ktrace needs a real kernel" in capsys.readouterr().err
