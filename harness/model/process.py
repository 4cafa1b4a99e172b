"""Processes and their groups (port/proc.c, port/pgrp.c, sysproc.c:sysrfork)."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from harness.model.segments import NSEG, Segment

ERRMAX = 128
NNOTE = 5  # port/portdat.h
NUSER, NEXIT, NDEBUG = 0, 1, 2  # note flags (portdat.h)


@dataclass(eq=False)
class Fgrp:
    fds: dict[int, Any] = field(default_factory=dict)  # fd -> fs.Chan
    # close-on-exec is a flag of the fd, not of the chan (sysfile.c: f->flag[fd]):
    # a dup of an OCEXEC fd survives exec.
    cexec: set[int] = field(default_factory=set)


@dataclass(eq=False)
class Pgrp:
    """The name space: the model only tracks what RFNOMNT/RFCNAMEG change."""

    nomnt: bool = False
    empty: bool = False  # RFCNAMEG: a clean name space (only # devices resolve)


@dataclass(eq=False)
class Egrp:
    env: dict[str, bytes] = field(default_factory=dict)


@dataclass(eq=False)
class Rgrp:
    waiting: dict[int, Proc] = field(default_factory=dict)  # tag -> sleeper (FIFO by insertion)


@dataclass
class Note:
    msg: str
    flag: int


@dataclass(eq=False)
class Proc:
    pid: int
    name: str  # symbolic: main, s<STEP>
    text: str  # up->text, the wait message's first field
    user: str
    segs: list[Segment | None] = field(default_factory=lambda: [None] * NSEG)
    fgrp: Fgrp = field(default_factory=Fgrp)
    pgrp: Pgrp = field(default_factory=Pgrp)
    egrp: Egrp = field(default_factory=Egrp)
    rgrp: Rgrp = field(default_factory=Rgrp)
    noteid: int = 0
    parent: Proc | None = None
    ppid: int = 0
    nchild: int = 0
    await_order_unknown: bool = False  # an earlier await had several children to choose from
    waitq: list[str] = field(default_factory=list)  # wait messages: (pid, msg) pairs as text
    waitpids: list[int] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    notify: str | None = None  # handler mode, None = no handler
    notified: bool = False
    lastnote: Note | None = None
    errstr: bytes = b""  # what errstr(2) hands out: the last error
    argv: list[str] = field(default_factory=list)
    args: bytes = b""  # /proc/N/args text (up->args, NUL separated)
    setargs: bool = False
    alarm: int = 0  # virtual-ms deadline, 0 = none
    dot: str = "/"
    # execution state
    block: str = "main"
    pc: int = 0
    vars: dict[str, int] = field(default_factory=dict)
    seq: int = 0
    state: str = "ready"  # ready | running | wait | dead
    wake: Any = None  # what a waiting process waits for
    gen: Generator[Any, Any, None] | None = None
    pending_interrupt: bool = False
    exitmsg: str | None = None


def wait_message(text: str, pid: int, msg: str) -> str:
    """pexit: "%s %lud: %s" into Waitmsg.msg[ERRMAX] (empty for a clean exit)."""
    if not msg:
        return ""
    return fmt_trunc(f"{text} {pid}: {msg}".encode("utf-8", "surrogateescape"), ERRMAX - 1).decode(
        "utf-8", "surrogateescape"
    )


def fmt_s(b: bytes) -> bytes:
    """The kernel fmt's %s of bytes: a trailing partial rune is dropped, an
    invalid byte with enough bytes after it becomes U+FFFD (libc fmt _fmtcpy)."""
    out = bytearray()
    i, n = 0, len(b)
    while i < n:
        c = b[i]
        if c < 0x80:
            out.append(c)
            i += 1
            continue
        need = 2 if c >= 0xC0 and c < 0xE0 else 3 if c >= 0xE0 and c < 0xF0 else 4 if c >= 0xF0 else 0
        if n - i < 4 and need and n - i < need:
            break  # not a full rune and not enough bytes to judge: stop
        seq = b[i : i + need] if need else b""
        try:
            if not need:
                raise UnicodeDecodeError("utf-8", b, i, i + 1, "bad")
            seq.decode("utf-8")
            out += seq
            i += need
        except UnicodeDecodeError:
            out += "\ufffd".encode()
            i += 1
    return bytes(out)


def fmt_trunc(b: bytes, limit: int) -> bytes:
    """snprint into limit+1 bytes: stop before a rune that does not fit."""
    b = fmt_s(b)
    if len(b) <= limit:
        return b
    end = limit
    while end > 0 and (b[end] & 0xC0) == 0x80:
        end -= 1
    return b[:end]


def utfecpy(src: bytes, nbuf: int) -> bytes:
    """libc utfecpy into nbuf bytes: a string that does not fit is cut at a
    rune boundary (the last lead byte at or before nbuf-1 becomes the NUL)."""
    if nbuf <= 0:
        return b""
    nul = src.find(b"\0")
    if nul >= 0:
        src = src[:nul]
    if len(src) < nbuf:
        return src
    end = nbuf
    while end > 0:
        end -= 1
        if (src[end] & 0xC0) != 0x80:
            break
    return src[:end]


def quote(s: str) -> str:
    """%q: quote when empty or holding blanks, controls or quotes (libc quote.c)."""
    if s and not any(c <= " " or c == "'" for c in s):
        return s
    return "'" + s.replace("'", "''") + "'"
