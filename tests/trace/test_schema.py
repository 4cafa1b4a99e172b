"""Trace files: write, read back, reject what is not a trace."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import TraceError
from harness.trace.schema import Header, Record, Trace, read_trace, write_trace


def _trace() -> Trace:
    recs = [
        Record(proc="main", seq=0, step=0, kind="start", op="start", out={"pid": 17}),
        Record(proc="main", seq=1, step=1, kind="call", op="rfork", args=["i:20"], ret=18),
        Record(proc="main", seq=2, step=2, kind="call", op="errstr", args=["b:e", "i:5"], ret=-1,
               err="bad arg in system call", out={"text": "αβ"}, nondet=["out.text"]),
    ]
    return Trace(Header("model", "demo", "amd64", "9front-2022.05", {"k": 1}), recs)


def test_write_then_read_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    write_trace(path, _trace())
    back = read_trace(path)
    assert back.header == _trace().header
    assert back.records == _trace().records
    assert not (tmp_path / "t.jsonl.tmp").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "no header line"),
        ('{"proc": "main"}\n', "no header line"),
        ('{"nhtrace": 9}\n', "schema v9"),
        ('{"nhtrace": 1}\nnot json\n', ":2: not JSON"),
        ('{"nhtrace": 1}\n{"proc": "main"}\n', "not of schema"),
        ('{"nhtrace": 1}\n{"proc":"m","seq":0,"step":0,"kind":"weird","op":"x"}\n', "unknown kind"),
    ],
)
def test_bad_traces_are_rejected_with_a_reason(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(TraceError) as exc:
        read_trace(path)
    assert message in str(exc.value)


def test_missing_trace_file(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="cannot read"):
        read_trace(tmp_path / "absent.jsonl")
