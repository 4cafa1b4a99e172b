"""Repair of frames broken by kernel prints: exact records or nothing."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.trace.frame import decode_records, encode, repair_frame
from harness.trace.schema import Record

REC = Record(proc="main", seq=0, step=3, kind="call", op="rfork", args=["i:20", "c:b1"], ret=42, err=None)
REC2 = Record(proc="main", seq=1, step=4, kind="call", op="await", args=["b:w", "i:256"], ret=30,
              out={"text": "42 0 0 0 'nhagent 42: bye'"})
LINE = b"pexec 77: suicide: sys: trap: fault read addr=0x0 pc=0x2001\r\n"

_line_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7e), min_size=0, max_size=40)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_one_kernel_line_inside_a_frame_is_cut_out_exactly(data: st.DataObject) -> None:
    frame = encode(REC)
    at = data.draw(st.integers(min_value=1, max_value=len(frame) - 2))
    line = data.draw(_line_text).encode() + b"\n"
    broken = frame[:at] + line + frame[at:] + encode(REC2)
    records, errors = decode_records(broken)
    assert errors == []
    assert records == [REC, REC2]


def test_two_kernel_lines_inside_one_frame() -> None:
    frame = encode(REC)
    broken = frame[:10] + LINE + frame[10:40] + b"cpu0: x\n" + frame[40:]
    records, errors = decode_records(broken)
    assert (records, errors) == ([REC], [])


def test_a_flipped_byte_is_never_repaired_into_a_record() -> None:
    frame = bytearray(encode(REC))
    frame[30] ^= 0x01
    records, errors = decode_records(bytes(frame))
    assert records == [] and errors


def test_an_insertion_that_also_damages_the_frame_stays_an_error() -> None:
    frame = bytearray(encode(REC))
    frame[40] ^= 0x04
    broken = bytes(frame[:20]) + LINE + bytes(frame[20:])
    records, errors = decode_records(broken)
    assert REC not in records and errors


def test_repair_returns_the_removed_text() -> None:
    frame = encode(REC)
    span = (frame[:25] + LINE + frame[25:]).rstrip(b"\n")
    fixed = repair_frame(span)
    assert fixed is not None
    assert fixed[0] + b"\n" == frame and fixed[1] == LINE
