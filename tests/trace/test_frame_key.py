"""The frame key (harness/trace/frame.py, "The frame key"): a scenario's own
console output can never pass for one of the agent's records."""

from __future__ import annotations

import zlib

from harness.trace import frame as fr
from harness.trace.schema import Record

KEY = "0123456789abcdef"


def _rec(seq: int = 0, op: str = "start") -> Record:
    return Record.from_json({"proc": "main", "seq": seq, "step": 0, "kind": "start", "op": op, "args": [],
                             "ret": None, "err": None, "out": {"pid": 1}, "nondet": []})


def test_the_key_is_covered_by_the_crc_and_never_written() -> None:
    assert fr.crc32(b"123456789") == 0xCBF43926  # no key: version 1's CRC, unchanged
    assert fr.crc32(b"NH1 x", KEY.encode()) == zlib.crc32(KEY.encode() + b"NH1 x")
    data = fr.encode(_rec(), key=KEY)
    assert KEY.encode() not in data
    records, errors = fr.decode_records(data, KEY)
    assert [r.op for r in records] == ["start"] and errors == []


def test_a_keyed_frame_does_not_verify_without_its_key() -> None:
    data = fr.encode(_rec(), key=KEY)
    assert fr.decode_records(data)[0] == []
    assert fr.decode_records(data, "fedcba9876543210")[0] == []


def test_a_forged_frame_is_console_text_not_a_record() -> None:
    forged = fr.encode(_rec(0, "forged"))  # well formed, but written without the run's key
    stream = b"kernel says hi\n" + forged + fr.encode(_rec(0), key=KEY) + fr.encode(_rec(1), key=KEY)
    d = fr.decode_stream(stream, KEY)
    assert [r.op for r in d.records] == ["start", "start"]
    assert d.errors == [] and d.foreign == 1
    assert b"forged" in d.text  # kept as console output


def test_a_frame_that_verifies_under_no_key_is_a_transport_error() -> None:
    data = bytearray(fr.encode(_rec(), key=KEY))
    data[-4] = ord("0") if data[-4] != ord("0") else ord("1")  # a CRC digit
    d = fr.decode_stream(bytes(data), KEY)
    assert d.records == [] and [e.kind for e in d.errors] == [fr.BAD_CHECKSUM]


def test_repair_uses_the_key() -> None:
    data = fr.encode(_rec(), key=KEY)
    mid = len(data) // 2
    broken = data[:mid] + b"sdE0: interrupt storm\r\n" + data[mid:]
    d = fr.decode_stream(broken, KEY)
    assert [r.op for r in d.records] == ["start"] and d.errors == [] and len(d.repaired) == 1
    assert fr.decode_stream(broken).records == []  # without the key the repaired frame does not verify
