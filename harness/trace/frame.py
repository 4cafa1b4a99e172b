r"""Console framing of trace records: encode, and decode from a shared console.

The guest agent writes its records to a serial console that the kernel also
prints on (``pmisc 141: suicide: ...``, ``sdE0: ...``).  Kernel text can land
between frames or in the middle of one.  Framing makes sure such text never
corrupts a record silently or fakes one: a damaged frame is reported as a
*transport error*, never decoded as a record, and never as a divergence.

Byte format (version 1)
=======================

One frame is one line, written by the agent with ONE ``write()`` call::

    SOH "NH1" SP PROC SP SEQ SP LEN SP PAYLOAD SP CRC STX LF

=========  ==================================================================
``SOH``    the byte 0x01 (start marker; together with ``NH1 ``)
``NH1``    the three ASCII bytes ``N`` ``H`` ``1`` (frame format version 1)
``SP``     exactly one byte 0x20
``PROC``   the writer: the record's process name (``main``, ``s12``);
           1 to 32 bytes of ``[A-Za-z0-9_.-]``
``SEQ``    decimal, no sign, no leading zeros (``0`` is ``0``), at most 10
           digits: the writer's frame number, 0 for its first frame, +1 for
           each next one.  The agent uses the record's own ``seq``: records
           are counted per process and an exec'd agent continues the count.
``LEN``    decimal, no leading zeros, 1 to 7 digits: the payload's length in
           bytes, at most ``MAX_PAYLOAD`` (1000000)
``PAYLOAD`` exactly LEN bytes, each in 0x20..0x7e: one JSON object (the
           record, schema v1), ASCII only - every other character escaped
           as ``\uXXXX`` (so the payload never holds SOH, STX, CR or LF)
``CRC``    8 lowercase hex digits: CRC-32/IEEE (the zlib/PNG/Ethernet CRC:
           reflected polynomial 0xEDB88320, initial value 0xFFFFFFFF, final
           XOR 0xFFFFFFFF; ``crc("123456789") = cbf43926``) of every byte
           after SOH up to and including the last payload byte, i.e. of
           ``NH1 PROC SEQ LEN PAYLOAD`` - the header is covered too
``STX``    the byte 0x02 (end marker)
``LF``     0x0a.  The console may turn it into CR LF or CR CR LF; the
           decoder swallows CRs and one LF after a frame.
=========  ==================================================================

Example (payload shortened)::

    \x01NH1 main 3 52 {"args":["i:20"],"err":null,...} 1c291ca3\x02\n

In Plan 9 C (sketch; ``crc32`` is the usual 256-entry table loop)::

    n = snprint(buf, sizeof buf, "\001NH1 %s %lud %d ", proc, seq, len);
    memmove(buf+n, payload, len); n += len;
    crc = crc32(buf+1, n-1);
    n += snprint(buf+n, sizeof buf-n, " %.8lux\002\n", crc);
    write(1, buf, n);

Decoding rules (``FrameDecoder``)
=================================

* Bytes outside frames are console text (``Text`` events), kept for the
  console log.  The line end right after a frame is not reported.
* A frame begins at SOH, which nothing but a frame ever writes; ``NH1 SP`` and
  everything up to its STX must parse exactly as above; otherwise the decoder emits a ``TransportError`` and
  resumes scanning at the byte after the SOH, so the damaged frame's bytes
  (and the kernel text that broke it) go to the console text and a frame that
  starts inside the damaged region is still found.
* A payload may not contain LF or SOH: a kernel line inserted into a frame
  (it ends in LF) is detected as soon as it arrives, without waiting for LEN
  bytes.  The STX must sit exactly at the position LEN implies, and the CRC
  must match: kernel text has no STX, so no insertion can produce a frame.
* Sequence numbers are checked per writer: the first frame of a writer must be
  0, every next one the previous + 1.  A jump is a ``sequence-gap`` error (the
  frame itself is still delivered), a repeat or step back ``out-of-order``.
* ``finish()`` at the end of the stream reports a frame left incomplete as
  ``eof``.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import overload

from harness.errors import TraceError
from harness.trace.schema import Record

SOM = b"\x01NH1 "  # start marker
EOM = b"\x02"  # end marker
MAX_PAYLOAD = 1_000_000
MAX_PROC = 32
_PROC_RE = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
# The header after SOM: PROC SP SEQ SP LEN SP (bytes regex, anchored).
_HEADER_RE = re.compile(rb"([A-Za-z0-9_.-]{1,32}) (0|[1-9][0-9]{0,9}) ([1-9][0-9]{0,6}) ")
_HEADER_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.- ")
_MAX_HEADER = MAX_PROC + 1 + 10 + 1 + 7 + 1
_CRC_RE = re.compile(rb"[0-9a-f]{8}")
_TRAILER = 1 + 8 + len(EOM)  # SP CRC STX

# Transport error kinds.
BAD_HEADER = "bad-header"
BAD_LENGTH = "bad-length"
BAD_PAYLOAD = "bad-payload"
BAD_CHECKSUM = "bad-checksum"
TRUNCATED = "truncated"
SEQUENCE_GAP = "sequence-gap"
OUT_OF_ORDER = "out-of-order"
EOF = "eof"
BAD_RECORD = "bad-record"  # a valid frame whose payload is not a record (decode_records)


def crc32(data: bytes) -> int:
    """CRC-32/IEEE, as the agent computes it."""
    return zlib.crc32(data) & 0xFFFFFFFF


@overload
def encode(seq: Record) -> bytes: ...
@overload
def encode(seq: int, payload: str, proc: str = "main") -> bytes: ...
def encode(seq: int | Record, payload: str | None = None, proc: str = "main") -> bytes:
    """One frame.  ``encode(record)`` frames a record with its own proc and seq."""
    if isinstance(seq, Record):
        rec = seq
        return encode(rec.seq, record_payload(rec), rec.proc)
    if payload is None:
        raise TypeError("encode(seq, payload, proc): payload missing")
    if not _PROC_RE.match(proc):
        raise ValueError(f"frame writer name {proc!r} is not 1-32 of [A-Za-z0-9_.-]")
    if not 0 <= seq < 10**10:
        raise ValueError(f"frame sequence number {seq} out of range")
    data = payload.encode("ascii")  # raises for non-ASCII: escape with record_payload
    if not data or len(data) > MAX_PAYLOAD or any(b < 0x20 or b > 0x7E for b in data):
        raise ValueError("frame payload must be 1..1000000 printable ASCII bytes")
    body = b"NH1 %s %d %d %s" % (proc.encode(), seq, len(data), data)
    return b"\x01" + body + b" %08x" % crc32(body) + EOM + b"\n"


def record_payload(rec: Record) -> str:
    """The record as the payload: compact JSON, ASCII only."""
    text = json.dumps(rec.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    # ensure_ascii leaves DEL alone; it can only occur inside a JSON string.
    return text.replace("\x7f", "\\u007f")


@dataclass(frozen=True)
class Frame:
    proc: str
    seq: int
    payload: str
    offset: int  # stream offset of its SOH


@dataclass(frozen=True)
class Text:
    data: bytes
    offset: int


@dataclass(frozen=True)
class TransportError:
    kind: str
    message: str
    offset: int
    raw: bytes = b""  # the start of the damaged bytes, for the log

    def __str__(self) -> str:
        return f"{self.kind} at console byte {self.offset}: {self.message}"


Event = Frame | Text | TransportError


@dataclass
class FrameDecoder:
    """Incremental decoder: ``feed(chunk)`` any byte chunks, then ``finish()``."""

    expect_start_at_zero: bool = True
    _buf: bytearray = field(default_factory=bytearray)
    _base: int = 0  # stream offset of _buf[0]
    _after_frame: bool = False  # swallow the CR/LF that ends a frame
    _next_seq: dict[str, int] = field(default_factory=dict)

    def feed(self, chunk: bytes) -> list[Event]:
        self._buf += chunk
        out: list[Event] = []
        self._scan(out, final=False)
        return out

    def finish(self) -> list[Event]:
        out: list[Event] = []
        self._scan(out, final=True)
        if self._buf:
            out.append(self._text(len(self._buf)))
        return out

    # -- internals ------------------------------------------------------

    def _text(self, n: int) -> Text:
        ev = Text(bytes(self._buf[:n]), self._base)
        self._consume(n)
        return ev

    def _consume(self, n: int) -> None:
        del self._buf[:n]
        self._base += n

    def _swallow_line_end(self) -> bool:
        """After a frame drop CRs and one LF; False while more bytes are needed."""
        i = 0
        while i < len(self._buf) and self._buf[i] == 0x0D:
            i += 1
        if i == len(self._buf):
            return False
        if self._buf[i] == 0x0A:
            i += 1
        self._consume(i)
        self._after_frame = False
        return True

    def _scan(self, out: list[Event], final: bool) -> None:
        while self._buf:
            if self._after_frame and not self._swallow_line_end():
                if not final:
                    return
                self._consume(len(self._buf))  # only CRs left at the end
                return
            if not self._buf:
                return
            # SOH only ever comes from a frame: one not followed by "NH1 " is a damaged frame.
            i = self._buf.find(SOM[:1])
            if i < 0:
                out.append(self._text(len(self._buf)))
                return
            if i > 0:
                out.append(self._text(i))
            head = bytes(self._buf[: len(SOM)])
            if not SOM.startswith(head) and not head.startswith(SOM):
                self._fail(out, BAD_HEADER, f"frame start marker damaged: {head!r}", len(head))
                continue
            if len(head) < len(SOM):
                if final:
                    self._fail(out, EOF, "stream ended inside a frame start marker", len(head))
                    continue
                return
            status = self._try_frame(out, final)
            if status == "wait":
                return

    def _fail(self, out: list[Event], kind: str, msg: str, seen: int) -> str:
        out.append(TransportError(kind, msg, self._base, bytes(self._buf[: min(seen, 200)])))
        out.append(self._text(1))  # the SOH; the rest is rescanned as text
        return "error"

    def _try_frame(self, out: list[Event], final: bool) -> str:
        """_buf starts with SOM.  Returns 'frame', 'error' or 'wait'."""
        buf = self._buf
        h0 = len(SOM)
        avail = bytes(buf[h0 : h0 + _MAX_HEADER])
        m = _HEADER_RE.match(avail)
        if m is None:
            bad = any(b not in _HEADER_BYTES for b in avail) or avail.count(b" ") >= 3
            if bad or len(avail) >= _MAX_HEADER:
                return self._fail(out, BAD_HEADER, f"malformed frame header {avail[:40]!r}", h0 + len(avail))
            if final:
                return self._fail(out, EOF, "stream ended inside a frame header", len(buf))
            return "wait"
        proc, seq, length = m.group(1).decode(), int(m.group(2)), int(m.group(3))
        if length > MAX_PAYLOAD:
            return self._fail(out, BAD_LENGTH, f"payload length {length} exceeds {MAX_PAYLOAD}", h0 + m.end())
        p0 = h0 + m.end()
        end = p0 + length + _TRAILER
        region = bytes(buf[p0 : min(end, len(buf))])
        # A line end or a new frame before the end: the frame was cut by other output.
        for stop, what in ((b"\n", "a line end"), (b"\x01", "a frame start")):
            k = region.find(stop)
            if k >= 0 and k < length + _TRAILER:
                return self._fail(out, TRUNCATED, f"frame {proc}:{seq} broken by {what} {k} bytes into its payload "
                                  "(console output inserted, or bytes lost)", p0 + k)
        if len(buf) < end:
            if final:
                return self._fail(out, EOF, f"stream ended inside frame {proc}:{seq}", len(buf))
            return "wait"
        payload = region[:length]
        trailer = region[length:]
        if trailer[:1] != b" " or trailer[-1:] != EOM or not _CRC_RE.fullmatch(trailer[1:9]):
            return self._fail(out, BAD_LENGTH, f"frame {proc}:{seq}: no end marker where length {length} puts it", end)
        if any(b < 0x20 or b > 0x7E for b in payload):
            return self._fail(out, BAD_PAYLOAD, f"frame {proc}:{seq}: payload holds a non-printable byte", end)
        want = int(trailer[1:9], 16)
        got = crc32(bytes(buf[1 : p0 + length]))
        if want != got:
            return self._fail(out, BAD_CHECKSUM, f"frame {proc}:{seq}: checksum {got:08x}, frame says {want:08x}", end)
        offset = self._base
        self._check_seq(out, proc, seq, offset)
        out.append(Frame(proc, seq, payload.decode("ascii"), offset))
        self._consume(end)
        self._after_frame = True
        return "frame"

    def _check_seq(self, out: list[Event], proc: str, seq: int, offset: int) -> None:
        expected = self._next_seq.get(proc, 0 if self.expect_start_at_zero else seq)
        if seq > expected:
            gap = f"{expected}" if seq == expected + 1 else f"{expected}..{seq - 1}"
            out.append(TransportError(SEQUENCE_GAP, f"frames {proc}:{gap} missing before {proc}:{seq}", offset))
        elif seq < expected:
            out.append(TransportError(OUT_OF_ORDER, f"frame {proc}:{seq} after {proc}:{expected - 1}", offset))
        self._next_seq[proc] = max(expected, seq + 1)


def decode_events(data: bytes | Iterable[bytes]) -> list[Event]:
    """All events of a complete stream (bytes, or an iterable of chunks)."""
    dec = FrameDecoder()
    chunks = [data] if isinstance(data, bytes | bytearray) else data
    out: list[Event] = []
    for chunk in chunks:
        out += dec.feed(bytes(chunk))
    return out + dec.finish()


@dataclass
class Decoded:
    records: list[Record]
    errors: list[TransportError]
    text: bytes  # the console output that was not frames


def decode_stream(data: bytes | Iterable[bytes]) -> Decoded:
    """Frames -> records; payloads that are not records become ``bad-record`` errors."""
    records: list[Record] = []
    errors: list[TransportError] = []
    text = bytearray()
    for ev in decode_events(data):
        if isinstance(ev, Text):
            text += ev.data
        elif isinstance(ev, TransportError):
            errors.append(ev)
        else:
            rec_or_err = _record_of(ev)
            if isinstance(rec_or_err, Record):
                records.append(rec_or_err)
            else:
                errors.append(rec_or_err)
    return Decoded(records, errors, bytes(text))


def _record_of(fr: Frame) -> Record | TransportError:
    try:
        obj = json.loads(fr.payload)
        if not isinstance(obj, dict):
            raise TraceError("payload is not a JSON object")
        rec = Record.from_json(obj)
    except (json.JSONDecodeError, TraceError) as e:
        return TransportError(BAD_RECORD, f"frame {fr.proc}:{fr.seq}: {e}", fr.offset)
    if (rec.proc, rec.seq) != (fr.proc, fr.seq):
        return TransportError(BAD_RECORD, f"frame {fr.proc}:{fr.seq} carries record {rec.proc}:{rec.seq}", fr.offset)
    return rec


REPAIR_MAX_FRAME = 64 * 1024  # longer broken frames are not searched for repairs
REPAIR_MAX_LINES = 2  # at most this many inserted console lines per frame


def _single_frame(candidate: bytes) -> bool:
    """True when CANDIDATE decodes as exactly one valid frame and nothing else."""
    dec = FrameDecoder()
    dec.expect_start_at_zero = False  # a lone frame: its writer's earlier frames are elsewhere
    evs = dec.feed(candidate + b"\n") + dec.finish()
    frames = [e for e in evs if isinstance(e, Frame)]
    return len(frames) == 1 and not any(isinstance(e, TransportError) for e in evs)


def _cuts(span: bytes, lfs: list[int], k: int, want: int | None) -> Iterable[tuple[bytes, bytes]]:
    """Ways to cut k inserted lines out of SPAN: each ends at one of the LFs in LFS."""
    if k == 0:
        if want is None or len(span) == want:
            yield span, b""
        return
    j = lfs[-1]
    lo = lfs[-2] + 1 if len(lfs) > 1 else 1  # an inserted line holds no other LF; never the SOH
    for i in range(j, lo - 1, -1):
        head, cut, tail = span[:i], span[i : j + 1], span[j + 1 :]
        for rest, removed in _cuts(head, lfs[:-1], k - 1, None if want is None else want - len(tail)):
            yield rest + tail, removed + cut


def repair_frame(span: bytes) -> tuple[bytes, bytes] | None:
    """Recover a frame (SOH..STX) broken by console lines inserted into it.

    Kernel prints are text ending in LF and hold no SOH/STX; a frame holds no
    LF.  So the inserted text is found by cutting out runs that end at the
    frame's LFs, and a cut is accepted only when what remains is one frame
    whose length and CRC-32 verify: a repair can never fake or alter a record.
    Returns (frame, removed console text) or None.
    """
    if len(span) > REPAIR_MAX_FRAME or not span.startswith(b"\x01") or not span.endswith(EOM):
        return None
    lfs = [i for i, c in enumerate(span) if c == 0x0A]
    if not lfs or len(lfs) > REPAIR_MAX_LINES:
        return None
    m = _HEADER_RE.match(span, len(SOM))
    want = None
    if m is not None:  # the header is intact: the frame's exact length is known
        want = m.end() + int(m.group(3)) + _TRAILER
    # An insertion inside the header can make it parse with a wrong length:
    # then search again without the length constraint.
    for length in (want, None) if want is not None else (None,):
        for candidate, removed in _cuts(span, lfs, len(lfs), length):
            if _single_frame(candidate):
                return candidate, removed
    return None


def repair_stream(data: bytes) -> tuple[bytes, int]:
    """DATA with every repairable broken frame repaired; the count of repairs.

    Removed console text is kept, moved to just after its frame's line.
    """
    out = bytearray()
    pos = repaired = 0
    while True:
        soh = data.find(b"\x01", pos)
        if soh < 0:
            out += data[pos:]
            return bytes(out), repaired
        nxt = data.find(b"\x01", soh + 1)
        stx = data.find(EOM, soh + 1)
        end = len(data) if nxt < 0 else nxt
        if stx < 0 or stx > end:
            out += data[pos:end]
            pos = end
            continue
        span = data[soh : stx + 1]
        fixed = None if _single_frame(span) else repair_frame(span)
        out += data[pos:soh]
        if fixed is None:
            out += span
        else:
            out += fixed[0] + b"\n" + fixed[1]
            repaired += 1
        pos = stx + 1


def decode_records(data: bytes | Iterable[bytes]) -> tuple[list[Record], list[str]]:
    """The records of a console stream and its transport errors as one-line strings.

    Frames broken by console lines inserted into them are repaired first
    (``repair_frame``); what cannot be repaired stays a transport error.
    """
    raw = data if isinstance(data, bytes | bytearray) else b"".join(bytes(c) for c in data)
    d = decode_stream(bytes(raw))
    if d.errors:
        fixed, n = repair_stream(bytes(raw))
        if n:
            d = decode_stream(fixed)
    return d.records, [str(e) for e in d.errors]
