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


def _repairable(text: bytes) -> bool:
    """Kernel-print shaped: ends in a line end, few lines, no frame markers."""
    return (text.endswith(b"\n") and text.count(b"\n") <= fr.REPAIR_MAX_LINES
            and b"\x01" not in text and b"\x02" not in text)


def _check_insertion(frames: list[bytes], recs: list[Record], at: int, text: bytes) -> None:
    """TEXT inserted at byte AT of the concatenated frames."""
    data = b"".join(frames)
    d = fr.decode_stream(data[:at] + text + data[at:])
    originals = {(r.proc, r.seq): r for r in recs}
    # never a wrong record
    for r in d.records:
        assert originals[(r.proc, r.seq)] == r
    # which frame the text landed inside, if any
    start = 0
    damaged = None
    for i, f in enumerate(frames):
        end = start + len(f) - 1  # the LF after STX is not part of the frame proper
        if start < at < end and text:
            damaged = i
        start += len(f)
    if damaged is None:
        assert d.records == recs and d.errors == [] and d.repaired == []
    elif _repairable(text):
        # a kernel print inside a frame is cut out again: the record arrives, the text is console text
        assert d.records == recs and d.errors == []
        assert len(d.repaired) == 1 and d.repaired[0].frame.seq == recs[damaged].seq
        assert sorted(d.repaired[0].text) == sorted(text)  # the same bytes (equal neighbours may swap)
        if text.count(b"\n") == 1:
            assert d.repaired[0].text == text and text in d.text
    else:
        # every other frame arrives; the damaged one only if a verified cut recovered it exactly
        assert [r for i, r in enumerate(recs) if i != damaged] == [r for r in d.records if r != recs[damaged]]
        if recs[damaged] not in d.records:
            assert d.errors, "an insertion inside a frame must be reported"
            assert all(e.kind != fr.BAD_RECORD for e in d.errors)
        else:
            assert d.errors == [] and len(d.repaired) == 1


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


# -- repair of frames broken by kernel prints ---------------------------------

kernel_lines = st.tuples(
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60),
    st.sampled_from([b"\n", b"\r\n", b"\r\r\n"]),
).map(lambda t: t[0].encode() + t[1])


def _frame_events(data: bytes, chunk: int) -> list[fr.Event]:
    return fr.decode_events(data[i : i + chunk] for i in range(0, len(data), chunk))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(line=kernel_lines, chunk=st.sampled_from([5, 10_000]))
def test_one_kernel_line_at_every_offset_of_a_frame_is_cut_out(line: bytes, chunk: int) -> None:
    _check_cut_out(line, chunk)


def test_one_real_kernel_line_at_every_offset_fed_byte_by_byte() -> None:
    _check_cut_out(KERNEL_LINES[1], 1)


def _check_cut_out(line: bytes, chunk: int) -> None:
    r5 = _records()[5]
    rec = Record("main", 0, r5.step, r5.kind, r5.op, r5.args, r5.ret, out=r5.out)  # escapes in its payload
    f = fr.encode(rec)
    for at in range(1, len(f) - 1):  # after SOH .. before STX
        data = f[:at] + line + f[at:]
        evs = _frame_events(data, chunk)
        rep = [e for e in evs if isinstance(e, fr.Repaired)]
        assert [e for e in evs if isinstance(e, fr.TransportError | fr.Frame)] == [], at
        assert len(rep) == 1 and rep[0].text == line and rep[0].frame.payload == fr.record_payload(rec)
        assert [(t.data, t.offset) for t in rep[0].removed] == [(line, at)]
        assert b"".join(e.data for e in evs if isinstance(e, fr.Text)) == line
        records, errors = fr.decode_records(data)
        assert (records, errors) == ([rec], [])


def test_print_after_the_start_marker_and_before_the_end_marker() -> None:
    rec = _records()[1]
    f = fr.encode(rec)
    line = KERNEL_LINES[0]
    stx = f.index(b"\x02")
    for at in (1, len(fr.SOM), f.index(b" ", len(fr.SOM)) + 1, stx - 9, stx):
        d = fr.decode_stream(f[:at] + line + f[at:] + fr.encode(_records()[4]))
        assert d.records == [rec, _records()[4]] and [e.kind for e in d.errors] == [fr.SEQUENCE_GAP], at
        assert [r.text for r in d.repaired] == [line] and d.text == line


@settings(max_examples=150, deadline=None)
@given(a=kernel_lines, b=kernel_lines, pa=st.floats(0, 1), pb=st.floats(0, 1), chunk=st.integers(1, 50))
def test_two_insertions_in_one_frame(a: bytes, b: bytes, pa: float, pb: float, chunk: int) -> None:
    rec = _records()[4]
    f = fr.encode(rec)
    i, j = sorted((1 + int(pa * (len(f) - 3)), 1 + int(pb * (len(f) - 3))))  # offsets in the frame proper
    data = f[:i] + a + f[i:j] + b + f[j:]
    evs = _frame_events(data + fr.encode(_records()[2]), chunk)
    rep = [e for e in evs if isinstance(e, fr.Repaired)]
    assert len(rep) == 1 and rep[0].frame.payload == fr.record_payload(rec)
    assert sorted(rep[0].text) == sorted(a + b)  # equal neighbouring bytes may make the cuts ambiguous
    assert [e.kind for e in evs if isinstance(e, fr.TransportError)] == [fr.SEQUENCE_GAP]  # main:0, main:1 missing


def test_three_lines_printed_at_once() -> None:
    f = fr.encode(_records()[2])
    burst = b"".join(KERNEL_LINES)
    d = fr.decode_stream(f[:40] + burst + f[40:])
    assert d.records == [_records()[2]] and d.errors == [] and d.text == burst


@settings(max_examples=60, deadline=None)
@given(pos=st.floats(0, 1), bit=st.integers(0, 7))
def test_a_corrupted_byte_is_still_an_error(pos: float, bit: int) -> None:
    f = fr.encode(_records()[1])
    k = 1 + int(pos * (len(f) - 3))  # a byte of the frame proper, not SOH, STX or LF
    bad = f[:k] + bytes([f[k] ^ (1 << bit)]) + f[k + 1 :]
    d = fr.decode_stream(bad)
    assert d.records == [] and d.repaired == [] and len(d.errors) == 1


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(line=kernel_lines, at=st.floats(0, 1), flip=st.floats(0, 1), bit=st.integers(0, 7))
def test_an_insertion_that_also_flips_a_byte_is_never_a_record(line: bytes, at: float, flip: float,
                                                                 bit: int) -> None:
    f = fr.encode(_records()[1])
    k = 1 + int(flip * (len(f) - 3))
    f = f[:k] + bytes([f[k] ^ (1 << bit)]) + f[k + 1 :]
    i = 1 + int(at * (len(f) - 2))
    for data in (f[:i] + line + f[i:], f + line):
        d = fr.decode_stream(data)
        if f[k] in (0x01, 0x02, 0x0A):  # the flip made a frame marker or line end: text may split differently
            assert d.records == []
        else:
            assert d.records == [] and d.repaired == [] and d.errors


def test_a_frame_holding_too_many_lines_is_an_error_before_its_end_arrives() -> None:
    f = fr.encode(_records()[0])
    dec = fr.FrameDecoder()
    evs = dec.feed(f[:20])
    for _ in range(fr.REPAIR_MAX_LINES + 1):
        evs += dec.feed(KERNEL_LINES[2])
    kinds = [e.kind for e in evs if isinstance(e, fr.TransportError)]
    assert kinds == [fr.TRUNCATED]  # reported without waiting for an end marker that may never come
    d = fr.decode_stream(f[:20] + KERNEL_LINES[2] * (fr.REPAIR_MAX_LINES + 1) + f[20:])
    assert d.records == [] and d.repaired == [] and len(d.errors) == 1


def test_a_frame_longer_than_the_largest_is_an_error() -> None:
    f = fr.encode(_records()[0])
    too_long = f[:30] + b"x" * fr.REPAIR_MAX_SPAN + b"\n" + f[30:]
    d = fr.decode_stream(too_long)
    assert d.records == [] and [e.kind for e in d.errors] == [fr.BAD_LENGTH]
    dec = fr.FrameDecoder()  # bounded: the decoder gives up without holding the whole stream
    evs = dec.feed(f[:30]) + dec.feed(b"x" * fr.REPAIR_MAX_SPAN)
    assert [e.kind for e in evs if isinstance(e, fr.TransportError)] == [fr.BAD_LENGTH]


def test_large_frame_with_an_insertion_is_repaired() -> None:
    rec = Record("main", 0, 0, "probe", "probe", ["w:blob"], out={"blob": "ab" * 200_000})
    f = fr.encode(rec)
    for at in (3, len(f) // 2, len(f) - 3):
        d = fr.decode_stream(f[:at] + KERNEL_LINES[1] + f[at:])
        assert d.records == [rec] and d.errors == [] and d.text == KERNEL_LINES[1]


def test_repaired_event_reports_the_cause_and_is_not_an_error() -> None:
    rec = _records()[1]
    f = fr.encode(_records()[0]) + fr.encode(rec)
    at = len(fr.encode(_records()[0])) + 25
    evs = fr.decode_events(f[:at] + KERNEL_LINES[0] + f[at:])
    rep = [e for e in evs if isinstance(e, fr.Repaired)]
    assert len(rep) == 1 and rep[0].kind == fr.REPAIRED and rep[0].cause.kind == fr.TRUNCATED
    assert str(rep[0]).startswith(f"repaired at console byte {rep[0].frame.offset}: frame main:1")
    assert rep[0].removed[0].offset == at
    assert not any(isinstance(e, fr.TransportError) for e in evs)
    assert fr.decode_records(f[:at] + KERNEL_LINES[0] + f[at:]) == (_records()[:2], [])
