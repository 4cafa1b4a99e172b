"""The diff: pairing, masking, first divergence, text and HTML renderings."""

from __future__ import annotations

import copy
from html.parser import HTMLParser
from pathlib import Path

import click
import pytest

from harness.report.html import render_html
from harness.report.text import first_line, render_text
from harness.trace import frame
from harness.trace.diff import EXTRA, FIELD, MISSING, diff, diff_traces
from harness.trace.schema import Header, Record, Trace

SEGS = [["Stack", "", 0x7FFFFEFFF000, 0x7FFFFFFFF000, 1], ["Text", "R", 0x200000, 0x400000, 2],
        ["Data", "", 0x400000, 0x402000, 1], ["Bss", "", 0x402000, 0x41D000, 1]]


def _trace(source: str, pid: int, kid: int, t: int, msg: str = "fmt test") -> Trace:
    """A segattach-ronly-like run in the model's record conventions."""
    recs = [
        Record("main", 0, 0, "start", "start", out={"pid": pid}),
        Record("main", 1, 1, "call", "rfork", ["i:20", "c:b1"], ret=kid),
        Record("s1", 0, 0, "start", "start", out={"pid": kid}),
        Record("s1", 1, 2, "call", "werrstr", ["s:oops"], ret=0),
        Record("s1", 2, 3, "probe", "probe", ["w:segments"], out={"segments": SEGS}),
        Record("s1", 3, 4, "call", "exits", [f"s:{msg}"]),
        Record("main", 2, 5, "call", "await", ["b:wmsg", "i:256"], ret=30 + t,
               out={"str": f"{kid} {t} 0 {t * 3} 'agent {kid}: {msg}'"},
               nondet=["ret", "~times"] if source == "model" else []),
        Record("main", 3, 6, "call", "nsec", [], ret=1653700000000000000 + t, nondet=["ret"] if source == "model" else []),
        Record("main", 4, 7, "note", "note", [], out={"note": f"sys: trap: fault read addr=0x401000 pc={'PC' if source == 'model' else '0x2012a0'}"},
               nondet=["~pc"] if source == "model" else []),
    ]
    return Trace(Header(source, "ronly", "amd64", "9front-2022.05"), recs)


def test_model_and_guest_with_different_pids_times_pcs_are_identical() -> None:
    r = diff_traces(_trace("model", 101, 103, 0), _trace("guest", 1412, 1415, 7))
    assert r.identical, render_text(r)
    assert r.first is None and first_line(r) == "identical"
    assert (r.a_label, r.b_label) == ("model", "guest")
    assert r.masked["nondet"] == {"ret": 4}  # await and nsec ret, both sides
    assert r.rewritten["pids"]["out.pid"] == 4
    text = render_text(r)
    assert "identical: 9 records in 2 processes" in text
    for rule in ("nondet", "pc", "times", "pids", "noteids", "addresses"):
        assert f"  {rule}: " in text


def test_field_divergence_is_found_with_context() -> None:
    a, b = _trace("model", 101, 103, 0), _trace("guest", 1412, 1415, 7, msg="other")
    r = diff(a, b, "model", "guest")
    assert not r.identical
    fields = {(d.proc, d.field) for d in r.divergences}
    assert fields == {("s1", "args"), ("main", "out.str")}
    d = r.first
    assert d is not None and d.kind == FIELD
    assert (d.step, d.proc, d.seq_a, d.op, d.field) == (4, "s1", 3, "exits", "args")
    assert (d.a, d.b) == (["s:fmt test"], ["s:other"])
    assert [p.any.record.op for p in r.context(2)] == ["werrstr", "probe"]
    second = r.divergences[1]
    assert second.a == "<pid:s1> <t> <t> <t> 'agent <pid:s1>: fmt test'"
    assert second.raw_b == "1415 7 0 21 'agent 1415: other'"
    text = render_text(r, color=False, context=2)
    assert "first divergence: step 4, process s1, record 3, exits, field args" in text
    assert 'model: ["s:fmt test"]' in text and 'guest: ["s:other"]' in text
    assert "all divergences (2):" in text
    assert "\x1b[" not in text
    assert "\x1b[" in render_text(r, color=True)
    assert click.unstyle(render_text(r, color=True, context=2)) == text


def test_the_earliest_step_comes_first_whatever_the_process() -> None:
    a = _trace("model", 101, 103, 0)
    b = copy.deepcopy(_trace("guest", 1412, 1415, 7))
    b.records[8].out["note"] = "sys: trap: fault write addr=0x401000 pc=0x1"  # main, step 7
    b.records[3].ret = -1  # s1, step 2
    b.records[3].err = "bad arg in system call"
    r = diff(a, b)
    assert [(d.step, d.field) for d in r.divergences] == [(2, "ret"), (2, "err"), (7, "out.note")]


def test_masked_fields_never_diverge() -> None:
    a, b = _trace("model", 101, 103, 0), _trace("guest", 1412, 1415, 7)
    b.records[7].ret = -99  # nsec: masked by model's nondet and the times rule
    a.records[6].out["extra"] = 1  # a key the other side lacks, masked by nondet on one side
    a.records[6].nondet.append("out.extra")
    r = diff(a, b)
    assert r.identical, render_text(r)


def test_missing_and_extra_records() -> None:
    a, b = _trace("model", 101, 103, 0), _trace("guest", 1412, 1415, 7)
    del b.records[4]  # s1's probe never arrived
    b.records.append(Record("s2", 0, 0, "start", "start", out={"pid": 9}))
    for r_ in b.records:  # renumber s1 as the agent would
        if r_.proc == "s1" and r_.seq > 2:
            r_.seq -= 1
    r = diff(a, b, "model", "guest")
    kinds = [(d.kind, d.proc, d.op) for d in r.divergences]
    assert kinds == [("extra", "s2", "start"), ("missing", "s1", "probe")]
    assert r.counts() == {FIELD: 0, MISSING: 1, EXTRA: 1}
    # the alignment keeps the records after the gap paired: exits is not a divergence
    text = render_text(r)
    assert "missing in guest" in text and "extra in guest" in text


def test_header_differences_are_notes_not_divergences() -> None:
    a = _trace("model", 101, 103, 0)
    b = _trace("model", 101, 103, 0)
    b.header.profile = "9front-current"
    r = diff(a, b)
    assert r.identical and r.notes == ["profile differs: A '9front-2022.05', B '9front-current'"]
    assert "note: profile differs" in render_text(r)


def test_transport_round_trip_through_a_noisy_console() -> None:
    """Guest records framed, kernel prints in between and inside one frame, decoded, diffed."""
    guest = _trace("guest", 1412, 1415, 7)
    frames = [frame.encode(r) for r in guest.records]
    noise = b"pmisc 141: suicide: sys: bad address in syscall pc=0x205d04\r\r\n"
    console = b"".join(f + noise for f in frames)
    records, errors = frame.decode_records(console)
    assert errors == []
    assert diff_traces(_trace("model", 101, 103, 0), Trace(guest.header, records)).identical
    # A print inside a frame is cut out again (CRC-verified): nothing is lost.
    broken = console.replace(frames[4], frames[4][:20] + noise + frames[4][20:])
    records, errors = frame.decode_records(broken)
    assert errors == [] and len(records) == len(frames)
    # A frame that is damaged, not just interrupted, is lost and shows as missing.
    damaged = console.replace(frames[4], frames[4][:20] + b"X" + frames[4][21:])
    records, errors = frame.decode_records(damaged)
    assert errors and len(records) == len(frames) - 1
    r = diff_traces(_trace("model", 101, 103, 0), Trace(guest.header, records))
    assert [d.kind for d in r.divergences] == [MISSING]


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.tags: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.scripts += tag == "script"

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_parses_escapes_and_shows_the_divergence(tmp_path: Path) -> None:
    a = _trace("model", 101, 103, 0, msg="<script>alert(1)</script> & co")
    b = _trace("guest", 1412, 1415, 7, msg="plain")
    r = diff(a, b, "model", "guest")
    page = render_html(r)
    p = _Collect()
    p.feed(page)
    p.close()
    text = "".join(p.text)
    assert p.scripts == 0 and "<script>" not in page.split("<body>")[1]
    assert "First divergence" in text and "step 4, process s1, record 3, exits" in text
    assert "<script>alert(1)</script> & co" in text  # shown as text, after unescaping
    assert "All divergences (2)" in text and "Normalisation rules" in text
    assert {"html", "head", "style", "body", "table", "ol"} <= set(p.tags)
    same = render_html(diff(a, a))
    assert "identical" in same


@pytest.fixture(scope="module")
def model_runs() -> dict[str, Trace]:
    from harness.model.machine import Machine
    from harness.scenario.compiler import compile_scenario

    root = Path(__file__).resolve().parents[2] / "testcases"
    out = {}
    for name, path, profile in (("await-1", "await/raw-format.yaml", "9front-2022.05"),
                                ("await-2", "await/raw-format.yaml", "9front-2022.05"),
                                ("seed", "errstr/after-failure-seed.yaml", "9front-2022.05"),
                                ("current", "errstr/after-failure-seed.yaml", "9front-current")):
        sc = compile_scenario(root / path, "amd64")
        out[name] = Trace(Header("model", sc.name, "amd64", profile),
                          Machine(arch="amd64", profile=profile).run(sc.program))
    return out


def test_two_model_runs_of_the_same_program_are_identical(model_runs: dict[str, Trace]) -> None:
    r = diff(model_runs["await-1"], model_runs["await-2"])
    assert r.identical and sum(len(p) for p in r.aligned.values()) == len(model_runs["await-1"].records)


def test_two_profiles_diverge(model_runs: dict[str, Trace]) -> None:
    r = diff(model_runs["seed"], model_runs["current"], "seed", "current")
    assert not r.identical
    d = r.first
    assert d is not None and d.kind == FIELD and d.field == "err"
    assert "does not exist" in str(d.a) and d.a != d.b  # seed: "'NAME' does not exist" (chan.c:1065)
    assert "profile differs" in r.notes[0]
