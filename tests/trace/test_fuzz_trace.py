"""Hostile trace files (issue 9): whatever a file holds, reading it and diffing it
give a trace or one TraceError, and `harness diff` exits 0, 1 or 2 with no traceback."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.cli import main
from harness.errors import TraceError
from harness.trace.schema import read_trace

GOOD_HEADER = {"nhtrace": 1, "source": "model", "scenario": "s", "arch": "amd64", "profile": "9front-2022.05"}
GOOD_RECORD = {"proc": "main", "seq": 0, "step": 0, "kind": "start", "op": "start", "out": {"pid": 1}}

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@st.composite
def records(draw: st.DrawFn) -> dict[str, object]:
    """A record with some fields replaced by anything JSON can hold."""
    rec: dict[str, object] = dict(GOOD_RECORD)
    for key in draw(st.lists(st.sampled_from([*GOOD_RECORD, "args", "ret", "err", "nondet", "x"]), max_size=3)):
        rec[key] = draw(JSON)
    return rec


@st.composite
def trace_texts(draw: st.DrawFn) -> str:
    header: object = dict(GOOD_HEADER)
    if draw(st.booleans()):
        header = {**GOOD_HEADER, draw(st.sampled_from([*GOOD_HEADER, "meta"])): draw(JSON)}
    lines = [json.dumps(header)] + [json.dumps(r) for r in draw(st.lists(records(), max_size=4))]
    if draw(st.booleans()):  # raw garbage, deep nesting or a cut line somewhere
        junk = draw(st.sampled_from(["[" * 5000, "{" * 3000, "not json", '{"proc": ', "\x00\xff"]))
        lines.insert(draw(st.integers(0, len(lines))), junk)
    return "\n".join(lines) + "\n"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trace_texts())
def test_reading_any_trace_file_is_a_trace_or_one_clean_error(text: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "t.jsonl"
        path.write_text(text, errors="surrogateescape")
        try:
            read_trace(path)
        except TraceError as e:
            assert str(e) and "\n" not in str(e).strip()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trace_texts(), trace_texts())
def test_diff_of_any_two_trace_files_exits_0_1_or_2(a: str, b: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        pa, pb = Path(d) / "a.jsonl", Path(d) / "b.jsonl"
        pa.write_text(a, errors="surrogateescape")
        pb.write_text(b, errors="surrogateescape")
        assert main(["diff", str(pa), str(pb)]) in (0, 1, 2)
