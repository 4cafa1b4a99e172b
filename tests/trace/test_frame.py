"""Console framing: round trips, kernel prints anywhere, damaged frames."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.trace import frame as fr
from harness.trace.schema import Record

# Real kernel prints from shared/observations/probes/amd64-seed.console.txt, as the
# serial console delivers them (CR CR LF line ends).
KERNEL_LINES = [
    b"pmisc 141: suicide: invalid address 0x1000/4 in sys call pc=0x205d04\r\r\n",
    b"pseg 133: suicide: sys: trap: fault write addr=0x30000000 pc=0x201bd2\r\r\n",
    b"pmisc 148: call to noted() when not notified\r\r\n",
]


def _records() -> list[Record]:
    return [
        Record("main", 0, 0, "start", "start", out={"pid": 140}),
        Record("main", 1, 1, "call", "rfork", ["i:20", "c:b1"], ret=141),
        Record("s1", 0, 0, "start", "start", out={"pid": 141}),
        Record("s1", 1, 2, "call", "exits", ["s:fmt test"]),
        Record("main", 2, 3, "call", "await", ["b:wmsg", "i:256"], ret=28,
               out={"text": "141 0 0 0 'nhagent 141: fmt test'"}, nondet=["out.text"]),
        Record("main", 3, 4, "call", "errstr", ["b:e", "i:64"], ret=0,
               out={"text": "ünïcödé ☺ \x01\x02\n\r\t\x7f"}),  # control bytes and non-ASCII in a record
        Record("main", 4, 5, "probe", "probe", ["w:segments"],
               out={"segments": [["Stack", "", 0x7FFFFEFFF000, 0x7FFFFFFFF000, 1]]}),
    ]


def _stream(recs: list[Record]) -> bytes:
    return b"".join(fr.encode(r) for r in recs)


def test_crc_is_crc32_ieee() -> None:
    assert fr.crc32(b"123456789") == 0xCBF43926


def test_frame_bytes_follow_the_documented_format() -> None:
    data = fr.encode(7, '{"a":1}', "s12")
    body = b'NH1 s12 7 7 {"a":1}'
    assert data == b"\x01" + body + b" %08x\x02\n" % fr.crc32(body)
    assert re.fullmatch(rb"\x01NH1 [A-Za-z0-9_.-]+ \d+ \d+ [ -~]+ [0-9a-f]{8}\x02\n", data)


def test_payload_is_printable_ascii_json() -> None:
    for rec in _records():
        data = fr.encode(rec)
        assert data.count(b"\n") == 1 and data.count(b"\x01") == 1 and data.count(b"\x02") == 1
        m = re.fullmatch(rb"\x01NH1 (\S+) (\d+) (\d+) (.*) [0-9a-f]{8}\x02\n", data, re.S)
        assert m is not None
        payload = m.group(4)
        assert len(payload) == int(m.group(3))
        assert all(0x20 <= b <= 0x7E for b in payload)
        assert Record.from_json(json.loads(payload)) == rec


def test_encode_refuses_what_the_format_cannot_carry() -> None:
    with pytest.raises(ValueError):
        fr.encode(0, "ü")
    with pytest.raises(ValueError):
        fr.encode(0, "a\nb")
    with pytest.raises(ValueError):
        fr.encode(0, "{}", "bad name")
    with pytest.raises(ValueError):
        fr.encode(-1, "{}")


def test_round_trip() -> None:
    recs = _records()
    records, errors = fr.decode_records(_stream(recs))
    assert errors == []
    assert records == recs


def test_round_trip_in_single_byte_chunks_and_crlf() -> None:
    recs = _records()
    data = _stream(recs).replace(b"\n", b"\r\r\n")
    events = fr.decode_events(data[i : i + 1] for i in range(len(data)))
    assert [e for e in events if not isinstance(e, fr.Frame)] == []
    assert [e.payload for e in events if isinstance(e, fr.Frame)] == [fr.record_payload(r) for r in recs]


def test_console_text_between_frames_is_kept() -> None:
    recs = _records()[:2]
    data = b"boot text\n" + fr.encode(recs[0]) + KERNEL_LINES[0] + fr.encode(recs[1]) + b"% "
    d = fr.decode_stream(data)
    assert d.records == recs and d.errors == []
    assert d.text == b"boot text\n" + KERNEL_LINES[0] + b"% "


def _check_insertion(frames: list[bytes], recs: list[Record], at: int, text: bytes) -> None:
    """TEXT inserted at byte AT of the concatenated frames."""
    data = b"".join(frames)
    d = fr.decode_stream(data[:at] + text + data[at:])
    originals = {(r.proc, r.seq): r for r in recs}
    # never a wrong record
    for r in d.records:
        assert originals[(r.proc, r.seq)] == r
    # a frame the text landed inside is an error, every other frame arrives
    start = 0
    damaged = None
    for i, f in enumerate(frames):
        end = start + len(f) - 1  # the LF after STX is not part of the frame proper
        if start < at < end and text:
            damaged = i
        start += len(f)
    want = [r for i, r in enumerate(recs) if i != damaged]
    assert d.records == want
    if damaged is not None:
        assert d.errors, "an insertion inside a frame must be reported"
        assert all(e.kind != fr.BAD_RECORD for e in d.errors)
    else:
        assert d.errors == []


@pytest.mark.parametrize("line", KERNEL_LINES[:2])
def test_kernel_line_at_every_offset(line: bytes) -> None:
    recs = _records()[:3]
    frames = [fr.encode(r) for r in recs]
    for at in range(len(b"".join(frames)) + 1):
        _check_insertion(frames, recs, at, line)


kernel_text = st.binary(min_size=1, max_size=40).map(
    lambda b: bytes(c for c in b if c not in (0x01, 0x02)) or b"x")
kernel_prints = st.one_of(st.sampled_from(KERNEL_LINES), kernel_text,
                          st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1,
                                  max_size=30).map(lambda s: s.encode()))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=kernel_prints)
def test_any_kernel_print_at_every_offset_never_makes_a_wrong_record(text: bytes) -> None:
    recs = _records()[:2]
    frames = [fr.encode(r) for r in recs]
    for at in range(len(b"".join(frames)) + 1):
        _check_insertion(frames, recs, at, text)


@settings(max_examples=100, deadline=None)
@given(cuts=st.lists(st.tuples(st.floats(0, 1), kernel_prints), max_size=5),
       chunk=st.integers(1, 64))
def test_many_insertions_any_chunking(cuts: list[tuple[float, bytes]], chunk: int) -> None:
    recs = _records()
    data = _stream(recs)
    for pos, text in sorted(cuts, reverse=True):
        at = int(pos * len(data))
        data = data[:at] + text + data[at:]
    d = fr.decode_stream(data[i : i + chunk] for i in range(0, len(data), chunk))
    originals = {(r.proc, r.seq): r for r in recs}
    for r in d.records:
        assert originals[(r.proc, r.seq)] == r
    if len(d.records) < len(recs):
        assert d.errors


def _kinds(data: bytes) -> list[str]:
    return [e.kind for e in fr.decode_stream(data).errors]


def test_flipped_payload_byte_is_a_checksum_error() -> None:
    f = fr.encode(_records()[1])
    mid = len(f) // 2
    bad = f[:mid] + bytes([f[mid] ^ 0x20]) + f[mid + 1 :]
    d = fr.decode_stream(bad)
    assert d.records == [] and [e.kind for e in d.errors] == [fr.BAD_CHECKSUM]


def test_header_is_covered_by_the_checksum() -> None:
    f = fr.encode(_records()[1])  # main 1
    assert _kinds(f.replace(b"NH1 main 1 ", b"NH1 main 2 ", 1)) == [fr.BAD_CHECKSUM]
    assert _kinds(f.replace(b"NH1 main 1 ", b"NH1 maim 1 ", 1)) == [fr.BAD_CHECKSUM]


def test_wrong_length_is_an_error() -> None:
    f = fr.encode(0, '{"x":12345}')
    assert f.startswith(b"\x01NH1 main 0 11 ")
    assert fr.decode_stream(f.replace(b" 11 ", b" 10 ", 1)).errors[0].kind == fr.BAD_LENGTH
    longer = fr.decode_stream(f.replace(b" 11 ", b" 12 ", 1) + b"more text\n")
    assert longer.records == [] and longer.errors[0].kind in (fr.BAD_LENGTH, fr.TRUNCATED)


def test_bad_header_and_damaged_marker() -> None:
    f = fr.encode(0, "{}")
    assert _kinds(f.replace(b"NH1 main 0 ", b"NH1 main 00 ", 1)) == [fr.BAD_HEADER]
    assert _kinds(f.replace(b"NH1", b"NHx", 1)) == [fr.BAD_HEADER]
    assert _kinds(f.replace(b" 2 ", b" 9999999 ", 1)) == [fr.BAD_LENGTH]


def test_truncated_frame_then_good_frame() -> None:
    a, b = fr.encode(_records()[0]), fr.encode(_records()[1])
    d = fr.decode_stream(a[:30] + b)  # the writer's bytes were cut short
    assert d.records == [_records()[1]]
    assert [e.kind for e in d.errors] == [fr.TRUNCATED, fr.SEQUENCE_GAP]  # main:0 lost


def test_end_of_stream_inside_a_frame() -> None:
    f = fr.encode(_records()[0])
    for cut in (1, 3, 10, len(f) - 3):
        d = fr.decode_stream(f[:cut])
        assert d.records == [] and [e.kind for e in d.errors] == [fr.EOF], cut


def test_sequence_gap_and_out_of_order() -> None:
    r0, r1, _, _, r2 = _records()[:5]
    d = fr.decode_stream(fr.encode(r0) + fr.encode(r2))  # main 0, main 2
    assert d.records == [r0, r2]
    assert [e.kind for e in d.errors] == [fr.SEQUENCE_GAP]
    assert "main:1" in str(d.errors[0])
    d = fr.decode_stream(fr.encode(r0) + fr.encode(r1) + fr.encode(r1))
    assert [e.kind for e in d.errors] == [fr.OUT_OF_ORDER]
    assert [e.kind for e in fr.decode_stream(fr.encode(r1)).errors] == [fr.SEQUENCE_GAP]


def test_sequences_are_per_writer() -> None:
    recs = _records()  # main and s1 interleaved
    assert fr.decode_stream(_stream(recs)).errors == []


def test_valid_frame_that_is_not_a_record() -> None:
    d = fr.decode_stream(fr.encode(0, '{"proc": "main"}') + fr.encode(1, "not json"))
    assert d.records == [] and [e.kind for e in d.errors] == [fr.BAD_RECORD, fr.BAD_RECORD]
    rec = _records()[0]
    d = fr.decode_stream(fr.encode(0, fr.record_payload(rec), "s1"))  # frame says s1, record says main
    assert d.records == [] and [e.kind for e in d.errors] == [fr.BAD_RECORD]
