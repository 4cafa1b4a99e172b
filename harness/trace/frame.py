r"""Console framing of trace records: encode, and decode from a shared console.

The guest agent writes its records to a serial console that the kernel also
prints on (``pmisc 141: suicide: ...``, ``sdE0: ...``).  Kernel text can land
between frames or in the middle of one.  Framing makes sure such text never
corrupts a record silently or fakes one: a frame with console lines inserted
into it is repaired only when its length and CRC-32 verify after the cut;
any other damaged frame is reported as a *transport error*, never decoded as
a record, and never as a divergence.

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
           - and, when the run has a frame key, the key's bytes first (below)
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

The frame key
=============

A scenario can write anything to fd 1, which is the same console: a buffer
holding a well-formed frame would otherwise read as a record.  So each agent
run gets a secret *frame key* on its command line (``-k KEY``, fresh random
hex per run, never part of any scenario or program): the CRC is then computed
over ``KEY`` followed by the bytes above, i.e. ``crc32(KEY + "NH1 ..." )``.
The key itself is never written.  Scenario data, fixed before the key exists,
cannot carry a CRC that verifies under it; a scenario cannot compute one at
run time either (programs have no arithmetic over buffers).  The decoder
given the key treats a frame whose CRC verifies only without the key as what
it is, console text written by the scenario (counted as ``foreign``), and a
frame verifying under neither as a damaged frame.  With no key (``""``) the
CRC is the plain CRC-32 of version 1, so key-less streams decode as before.

Decoding rules (``FrameDecoder``)
=================================

* Bytes outside frames are console text (``Text`` events), kept for the
  console log.  The line end right after a frame is not reported.
* A frame begins at SOH, which nothing but a frame ever writes; ``NH1 SP`` and
  everything up to its STX must parse exactly as above, the STX must sit
  exactly where LEN puts it and the CRC must match.
* A frame that fails is *repaired* if it can be.  Kernel prints are lines or
  line fragments that end in LF (often CR CR LF) and hold no SOH or STX; a
  frame holds no CR or LF.  So the decoder waits for the frame's STX (the
  first one; an SOH first means the frame was cut short) and tries cutting
  out runs of bytes that each end at one of the LFs in it (one run per LF,
  each starting anywhere after the previous LF or the SOH - right after the
  start marker and right before the end marker included).  A cut is accepted
  only when what is left is one frame whose LEN and CRC-32 verify, so a
  repair can never fake or alter a record.  It is reported as a ``Repaired``
  event (kind ``repaired``, not an error) holding the frame and the cut-out
  text, and the cut-out text also follows as ``Text`` events.
* Otherwise the frame is a ``TransportError`` (bad-header, bad-length,
  bad-payload, bad-checksum, truncated, eof: what the strict parse found) and
  the decoder resumes scanning at the byte after the SOH, so the damaged
  frame's bytes (and the kernel text that broke it) go to the console text
  and a frame that starts inside the damaged region is still found.
* Repair is bounded: a broken frame is given up (reported as its error) as
  soon as it holds more than ``REPAIR_MAX_LINES`` LFs or runs past
  ``REPAIR_MAX_SPAN`` bytes (the longest frame plus ``REPAIR_MAX_INSERTED``),
  without waiting for an STX; the search stops after
  ``REPAIR_MAX_CANDIDATES`` steps or ``REPAIR_MAX_WORK`` bytes hashed.  One
  inserted print costs one candidate (LEN fixes the cut); several prints
  spread over one frame cost a search that may hit these limits.
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
from itertools import chain
from typing import ClassVar, overload

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
REPAIRED = "repaired"  # not an error: a frame recovered by cutting inserted console text out (Repaired)

# The longest valid frame, SOH..STX.
MAX_FRAME = len(SOM) + _MAX_HEADER + MAX_PAYLOAD + _TRAILER
# Repair limits: a broken frame is repaired only when it holds at most this
# many inserted line ends and bytes of inserted text, and the search stops
# after this many candidate steps and bytes hashed (then it stays an error).
REPAIR_MAX_LINES = 4
REPAIR_MAX_INSERTED = 8192
REPAIR_MAX_SPAN = MAX_FRAME + REPAIR_MAX_INSERTED
REPAIR_MAX_CANDIDATES = 50_000
REPAIR_MAX_WORK = 128 << 20


def crc32(data: bytes, key: bytes = b"") -> int:
    """CRC-32/IEEE of KEY + DATA, as the agent computes it."""
    return zlib.crc32(data, zlib.crc32(key)) & 0xFFFFFFFF


def _key(key: str | bytes) -> bytes:
    return key.encode("ascii") if isinstance(key, str) else key


@overload
def encode(seq: Record, *, key: str | bytes = "") -> bytes: ...
@overload
def encode(seq: int, payload: str, proc: str = "main", *, key: str | bytes = "") -> bytes: ...
def encode(seq: int | Record, payload: str | None = None, proc: str = "main", *, key: str | bytes = "") -> bytes:
    """One frame.  ``encode(record)`` frames a record with its own proc and seq."""
    if isinstance(seq, Record):
        rec = seq
        return encode(rec.seq, record_payload(rec), rec.proc, key=key)
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
    return b"\x01" + body + b" %08x" % crc32(body, _key(key)) + EOM + b"\n"


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


@dataclass(frozen=True)
class Repaired:
    """A frame broken by console text inserted into it, recovered by cutting that text out.

    Not an error: the frame left after the cut verified (length and CRC-32).
    ``removed`` is the cut-out console text; the decoder also emits it as
    ``Text`` events right after this event, so joining all ``Text`` events
    still gives the whole console output.  ``cause`` is what the frame looked
    like before the repair (the transport error it would have been).
    """

    frame: Frame
    removed: tuple[Text, ...]
    cause: TransportError
    kind: ClassVar[str] = REPAIRED

    @property
    def text(self) -> bytes:
        return b"".join(t.data for t in self.removed)

    def __str__(self) -> str:
        return (f"{self.kind} at console byte {self.frame.offset}: frame {self.frame.proc}:{self.frame.seq} "
                f"held {len(self.text)} bytes of console text {self.text[:200]!r}")


Event = Frame | Text | TransportError | Repaired


@dataclass
class FrameDecoder:
    """Incremental decoder: ``feed(chunk)`` any byte chunks, then ``finish()``."""

    expect_start_at_zero: bool = True
    key: bytes = b""  # the run's frame key: frames whose CRC verifies only without it are text
    foreign: list[int] = field(default_factory=list)  # offsets of such frames (a scenario's own output)
    _buf: bytearray = field(default_factory=bytearray)
    _base: int = 0  # stream offset of _buf[0]
    _after_frame: bool = False  # swallow the CR/LF that ends a frame
    _next_seq: dict[str, int] = field(default_factory=dict)
    # A frame at _buf[0] failed the strict parse: the error it is, unless a repair works.
    _pending: TransportError | None = None
    _searched: int = 0  # bytes of _buf already searched for the broken frame's end
    _lines: int = 0  # LFs seen in them

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
            if self._pending is not None:
                if self._resolve(out, final) == "wait":
                    return
                continue
            # SOH only ever comes from a frame: one not followed by "NH1 " is a damaged frame.
            i = self._buf.find(SOM[:1])
            if i < 0:
                out.append(self._text(len(self._buf)))
                return
            if i > 0:
                out.append(self._text(i))
            head = bytes(self._buf[: len(SOM)])
            if not SOM.startswith(head) and not head.startswith(SOM):
                self._broken(BAD_HEADER, f"frame start marker damaged: {head!r}", len(head))
                continue
            if len(head) < len(SOM):
                if final:
                    self._broken(EOF, "stream ended inside a frame start marker", len(head))
                    continue
                return
            if self._try_frame(out, final) == "wait":
                return

    def _broken(self, kind: str, msg: str, seen: int) -> str:
        """The frame at _buf[0] failed the strict parse: look for its end marker and try a repair."""
        self._pending = TransportError(kind, msg, self._base, bytes(self._buf[: min(seen, 200)]))
        self._searched, self._lines = 1, 0
        return "broken"

    def _give_up(self, out: list[Event]) -> str:
        assert self._pending is not None
        out.append(self._pending)
        self._pending = None
        out.append(self._text(1))  # the SOH; the rest is rescanned as text
        return "error"

    def _resolve(self, out: list[Event], final: bool) -> str:
        """Repair the broken frame at _buf[0] once its end marker is in; 'wait' until then.

        Inserted console text holds no SOH or STX, so the frame's end is the
        first STX, unless an SOH (a new frame: this one was cut short) comes first.
        """
        buf, lo = self._buf, self._searched
        stx, soh = buf.find(EOM, lo), buf.find(SOM[:1], lo)
        stop = min(x for x in (stx, soh, len(buf)) if x >= 0)
        self._lines += buf.count(b"\n", lo, stop)
        self._searched = stop
        if self._lines > REPAIR_MAX_LINES or stop >= REPAIR_MAX_SPAN:
            return self._give_up(out)  # too much in it to be one frame and a few kernel prints
        if stop == stx:
            span = bytes(buf[: stx + 1])
            fixed = _repair(span, self.key) if self._lines else None  # no LF: nothing was inserted
            if fixed is None:
                return self._give_up(out)
            self._repaired(out, span, *fixed)
            return "frame"
        if stop == soh or final:
            return self._give_up(out)
        return "wait"

    def _repaired(self, out: list[Event], span: bytes, parsed: _Parsed, cuts: list[tuple[int, int]]) -> None:
        assert self._pending is not None
        offset = self._base
        proc, seq, payload = parsed
        removed = tuple(Text(span[a:b], offset + a) for a, b in cuts)
        self._check_seq(out, proc, seq, offset)
        out.append(Repaired(Frame(proc, seq, payload.decode("ascii"), offset), removed, self._pending))
        out.extend(removed)
        self._pending = None
        self._consume(len(span))
        self._after_frame = True

    def _try_frame(self, out: list[Event], final: bool) -> str:
        """_buf starts with SOM.  Returns 'frame', 'broken' or 'wait'."""
        buf = self._buf
        h0 = len(SOM)
        avail = bytes(buf[h0 : h0 + _MAX_HEADER])
        m = _HEADER_RE.match(avail)
        if m is None:
            bad = any(b not in _HEADER_BYTES for b in avail) or avail.count(b" ") >= 3
            if bad or len(avail) >= _MAX_HEADER:
                return self._broken(BAD_HEADER, f"malformed frame header {avail[:40]!r}", h0 + len(avail))
            if final:
                return self._broken(EOF, "stream ended inside a frame header", len(buf))
            return "wait"
        proc, seq, length = m.group(1).decode(), int(m.group(2)), int(m.group(3))
        if length > MAX_PAYLOAD:
            return self._broken(BAD_LENGTH, f"payload length {length} exceeds {MAX_PAYLOAD}", h0 + m.end())
        p0 = h0 + m.end()
        end = p0 + length + _TRAILER
        region = bytes(buf[p0 : min(end, len(buf))])
        # A line end or a new frame before the end: the frame was cut by other output.
        for stop, what in ((b"\n", "a line end"), (b"\x01", "a frame start")):
            k = region.find(stop)
            if k >= 0 and k < length + _TRAILER:
                return self._broken(TRUNCATED, f"frame {proc}:{seq} broken by {what} {k} bytes into its payload "
                                    "(console output inserted, or bytes lost)", p0 + k)
        if len(buf) < end:
            if final:
                return self._broken(EOF, f"stream ended inside frame {proc}:{seq}", len(buf))
            return "wait"
        payload = region[:length]
        trailer = region[length:]
        if trailer[:1] != b" " or trailer[-1:] != EOM or not _CRC_RE.fullmatch(trailer[1:9]):
            return self._broken(BAD_LENGTH, f"frame {proc}:{seq}: no end marker where length {length} puts it", end)
        if any(b < 0x20 or b > 0x7E for b in payload):
            return self._broken(BAD_PAYLOAD, f"frame {proc}:{seq}: payload holds a non-printable byte", end)
        want = int(trailer[1:9], 16)
        got = crc32(bytes(buf[1 : p0 + length]), self.key)
        if want != got and self.key and crc32(bytes(buf[1 : p0 + length])) == want:
            self.foreign.append(self._base)  # well formed, but not from this run's agent
            out.append(self._text(end))
            self._after_frame = True
            return "frame"
        if want != got:
            return self._broken(BAD_CHECKSUM, f"frame {proc}:{seq}: checksum {got:08x}, frame says {want:08x}", end)
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


# -- repair ---------------------------------------------------------------
#
# A broken frame's span runs from its SOH to its STX.  Kernel prints hold no
# SOH, STX, and end in LF; the frame holds no LF.  So every LF in the span
# ends one inserted piece, which starts anywhere after the previous LF (or
# after the SOH).  For each way of choosing those starts, what is left must
# be one frame whose LEN and CRC-32 verify; the header fixes the frame's
# length, which fixes the last cut once the others are chosen, so with one
# insertion there is usually exactly one candidate to hash.

_Parsed = tuple[str, int, bytes]  # proc, seq, payload
_HEAD = len(SOM) + _MAX_HEADER  # a frame's header lies within its first _HEAD bytes
_PRINTABLE_RE = re.compile(rb"[\x20-\x7e]*")


class _Exhausted(Exception):
    pass


@dataclass
class _Budget:
    steps: int = REPAIR_MAX_CANDIDATES
    work: int = REPAIR_MAX_WORK

    def spend(self, nbytes: int) -> None:
        self.steps -= 1
        self.work -= nbytes
        if self.steps < 0 or self.work < 0:
            raise _Exhausted


def parse_frame(data: bytes, key: bytes = b"") -> _Parsed | None:
    """DATA (SOH..STX, no line end) as exactly one valid frame: (proc, seq, payload), else None."""
    if not data.startswith(SOM):
        return None
    m = _HEADER_RE.match(data, len(SOM))
    if m is None:
        return None
    p0, length = m.end(), int(m.group(3))
    if length > MAX_PAYLOAD or len(data) != p0 + length + _TRAILER:
        return None
    t = p0 + length
    if data[t : t + 1] != b" " or not data.endswith(EOM) or not _CRC_RE.fullmatch(data, t + 1, t + 9):
        return None
    if crc32(data[1:t], key) != int(data[t + 1 : t + 9], 16) or not _PRINTABLE_RE.fullmatch(data, p0, t):
        return None
    return m.group(1).decode(), int(m.group(2)), data[p0:t]


def _frame_length(head: bytes) -> int | None:
    """The length of a frame starting with HEAD: None while HEAD cannot tell, -1 if it is no frame."""
    if not (head.startswith(SOM) or SOM.startswith(head)):
        return -1
    m = _HEADER_RE.match(head, len(SOM))
    if m is not None:  # the header ends in SP: more bytes cannot change it
        length = int(m.group(3))
        return m.end() + length + _TRAILER if length <= MAX_PAYLOAD else -1
    rest = head[len(SOM) :]
    if len(head) >= _HEAD or any(b not in _HEADER_BYTES for b in rest) or rest.count(b" ") >= 3:
        return -1
    return None


def _repair(span: bytes, key: bytes = b"") -> tuple[_Parsed, list[tuple[int, int]]] | None:
    """The frame in SPAN once inserted console text is cut out, and the cuts (start, end)."""
    if not span.startswith(b"\x01") or not span.endswith(EOM) or len(span) > REPAIR_MAX_SPAN:
        return None
    if span.count(b"\x01") != 1 or span.count(EOM) != 1:
        return None
    lfs = [m.start() for m in re.finditer(b"\n", span)]
    if not lfs or len(lfs) > REPAIR_MAX_LINES:
        return None
    try:
        return _walk(span, lfs, 0, [], b"", None, _Budget(), key)
    except _Exhausted:
        return None


def _walk(span: bytes, lfs: list[int], m: int, kept: list[tuple[int, int]], head: bytes, want: int | None,
          budget: _Budget, key: bytes = b"") -> tuple[_Parsed, list[tuple[int, int]]] | None:
    """Choose where the cut ending at LF number M starts; KEPT holds the kept ranges so far.

    HEAD is the start of the kept bytes (up to _HEAD of them), WANT the frame
    length once the kept header tells it.
    """
    start = lfs[m - 1] + 1 if m else 0
    kept_len = sum(b - a for a, b in kept)
    if m == len(lfs):  # the rest of the span is the frame's tail
        total = kept_len + len(span) - start
        if want is None:
            want = _frame_length(head + span[start : start + _HEAD - len(head)])
        if want != total:
            return None
        pieces = [*kept, (start, len(span))]
        budget.spend(total)
        parsed = parse_frame(b"".join(span[a:b] for a, b in pieces), key)
        if parsed is None:
            return None
        return parsed, [(pieces[i][1], lfs[i] + 1) for i in range(len(lfs))]
    lo, hi = (1 if m == 0 else start), lfs[m]  # the cut is span[i : hi+1] for lo <= i <= hi; never the SOH
    # From some start on, the kept header is complete: its length then holds for every later i.
    known, decided = hi + 1, want
    if want is None:
        for n in range(min(_HEAD - len(head), hi - start) + 1):
            decided = _frame_length(head + span[start : start + n])
            if decided is not None:
                known = start + n
                break
    else:
        known = start
    starts: Iterable[int] = ()
    if decided is not None and decided >= 0:
        # The later cuts remove at least one byte each and at most up to the LF before them:
        # the bytes kept from here on must fit, which bounds this cut's start.
        later = len(lfs) - 1 - m
        most = lfs[-1] - hi
        tail = len(span) - hi - 1
        first = max(lo, known, decided - kept_len - tail + later + start)
        last = min(hi, decided - kept_len - tail + most + start)
        # Shortest cuts first; but a cut right after the previous one (a print of several lines) before all.
        starts = chain([lo] if m and first == lo <= last else [], range(last, max(first, lo + 1 if m else lo) - 1, -1))
    for i in chain(starts, range(min(known, hi + 1) - 1, lo - 1, -1)):
        budget.spend(0)
        new_head = head + span[start : min(i, start + _HEAD - len(head))]
        found = _walk(span, lfs, m + 1, [*kept, (start, i)], new_head, decided if i >= known else None, budget,
                      key)
        if found is not None:
            return found
    return None


def repair_frame(span: bytes, key: str | bytes = "") -> tuple[bytes, bytes] | None:
    """Recover a frame (SOH..STX) broken by console lines inserted into it.

    Returns (the frame, the removed console text), or None when no cut leaves
    a frame whose length and CRC-32 verify.
    """
    fixed = _repair(span, _key(key))
    if fixed is None:
        return None
    keep, pos = bytearray(), 0
    removed = bytearray()
    for a, b in fixed[1]:
        keep += span[pos:a]
        removed += span[a:b]
        pos = b
    return bytes(keep + span[pos:]), bytes(removed)


def decode_events(data: bytes | Iterable[bytes], key: str | bytes = "",
                  decoder: FrameDecoder | None = None) -> list[Event]:
    """All events of a complete stream (bytes, or an iterable of chunks)."""
    dec = decoder if decoder is not None else FrameDecoder(key=_key(key))
    chunks = [data] if isinstance(data, bytes | bytearray) else data
    out: list[Event] = []
    for chunk in chunks:
        out += dec.feed(bytes(chunk))
    return out + dec.finish()


@dataclass
class Decoded:
    records: list[Record]
    errors: list[TransportError]
    text: bytes  # the console output that was not frames (including text cut out of repaired frames)
    repaired: list[Repaired] = field(default_factory=list)  # for the log; their records are in records
    foreign: int = 0  # well-formed frames not written with the run's key: console text (a scenario's output)


def decode_stream(data: bytes | Iterable[bytes], key: str | bytes = "") -> Decoded:
    """Frames -> records; payloads that are not records become ``bad-record`` errors."""
    d = Decoded([], [], b"")
    text = bytearray()
    dec = FrameDecoder(key=_key(key))
    for ev in decode_events(data, decoder=dec):
        if isinstance(ev, Text):
            text += ev.data
        elif isinstance(ev, TransportError):
            d.errors.append(ev)
        else:
            if isinstance(ev, Repaired):
                d.repaired.append(ev)
                ev = ev.frame
            rec_or_err = _record_of(ev)
            if isinstance(rec_or_err, Record):
                d.records.append(rec_or_err)
            else:
                d.errors.append(rec_or_err)
    d.text = bytes(text)
    d.foreign = len(dec.foreign)
    return d


def decode_records(data: bytes | Iterable[bytes], key: str | bytes = "") -> tuple[list[Record], list[str]]:
    """The records of a console stream (repaired frames included) and its transport errors as strings."""
    d = decode_stream(data, key)
    return d.records, [str(e) for e in d.errors]


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
