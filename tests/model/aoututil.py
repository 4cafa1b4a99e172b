"""Test-side a.out header builder, written from a.out(6), independent of harness.model.aout."""

from __future__ import annotations

import struct

HDR_MAGIC = 0x8000


def magic(letter: str) -> int:
    b = {"I": 11, "V": 16, "M": 18, "E": 20, "N": 22, "P": 24, "S": 26, "R": 28, "K": 13}[letter]
    flag = HDR_MAGIC if letter in "SR" else 0
    return flag | (4 * b * b + 7)


def header(letter: str, text: int = 0x100, data: int = 0, bss: int = 0, entry: int | None = None,
           utzero: int = 0, syms: int = 0) -> bytes:
    """Header bytes; entry defaults to the first text byte after the header."""
    m = magic(letter)
    hsize = 40 if m & HDR_MAGIC else 32
    if entry is None:
        entry = utzero + hsize
    out = struct.pack(">8I", m, text, data, bss, syms, entry & 0xFFFFFFFF, 0, 0)
    if m & HDR_MAGIC:
        out += struct.pack(">Q", entry)
    return out


def roundup(v: int, a: int) -> int:
    return (v + a - 1) // a * a
