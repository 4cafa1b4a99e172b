"""The kernel's string formatting as user space sees it (libc fmt, utfecpy, %q)."""

from __future__ import annotations


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


def text(b: bytes) -> str:
    """A C string as a record shows it: up to the NUL, invalid UTF-8 as U+FFFD."""
    return b.split(b"\0", 1)[0].decode("utf-8", "replace")


def raw(s: str) -> bytes:
    """Model strings carry raw bytes as lone surrogates: back to the bytes."""
    return s.encode("utf-8", "surrogateescape")


def unraw(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")
