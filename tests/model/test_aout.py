"""The a.out loader: real Go-built binaries, hand-built headers, one case per sysexec check."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import pytest
from aoututil import header, magic, roundup

from harness.model.aout import is_binary, load_image, parse_header
from harness.model.arch import arch_for_magic, get_arch
from harness.model.errors import Ebadexec, Enovmem, KernelError
from harness.model.profiles import CURRENT, SEED, Profile, get_profile
from harness.model.symbols import load_symbols

SEEDP = get_profile(SEED)
CURP = get_profile(CURRENT)

# Text-end alignment per magic, as sysexec's switch sets it (seed sysproc.c 375-386).
ALIGN = {magic("S"): 2 << 20, magic("R"): 64 << 10, magic("V"): 16 << 10}


# --- real binaries -----------------------------------------------------------

@pytest.mark.go
@pytest.mark.parametrize("goarch,arch_name,letter", [("386", "386", "I"), ("amd64", "amd64", "S"), ("arm", "arm", "E")])
def test_go_binary_layout(go_binaries: dict[str, Any], goarch: str, arch_name: str, letter: str) -> None:
    data = go_binaries[goarch].data
    m, text, dsize, bss, syms, entry32, spsz, pcsz = struct.unpack(">8I", data[:32])
    assert m == magic(letter)
    hsize = 40 if m & 0x8000 else 32
    entry = struct.unpack(">Q", data[32:40])[0] if hsize == 40 else entry32
    # a.out(6): header, text, data, symbols, pc/sp, pc/line: nothing else in the file.
    assert hsize + text + dsize + syms + spsz + pcsz == len(data)

    arch = arch_for_magic(m)
    assert arch is not None and arch.name == arch_name
    img = load_image(data, arch, SEEDP)
    assert img.magic_name == letter and img.hdr_size == hsize and img.entry == entry
    align = ALIGN.get(m, arch.page_size)
    t = roundup(arch.utzero + hsize + text, align)
    assert (img.text.base, img.text.top) == (arch.utzero, t)
    assert (img.text.file_offset, img.text.file_length) == (0, hsize + text)
    assert (img.data.base, img.data.top) == (t, roundup(t + dsize, arch.page_size))
    assert (img.data.file_offset, img.data.file_length) == (hsize + text, dsize)
    assert (img.bss.base, img.bss.top) == (img.data.top, roundup(t + dsize + bss, arch.page_size))
    assert (img.stack.base, img.stack.top) == (arch.ustktop - arch.ustksize, arch.ustktop)
    assert img.commit_error is None and not img.file_short
    # Every other arch's kernel rejects it.
    for other in ("amd64", "arm64", "mips", "mipsle", "386"):
        if other != arch_name:
            with pytest.raises(KernelError) as e:
                load_image(data, get_arch(other), SEEDP)
            assert e.value.errstr == Ebadexec


@pytest.mark.go
@pytest.mark.parametrize("goarch", ["386", "amd64", "arm"])
def test_go_binary_symbols(go_binaries: dict[str, Any], goarch: str) -> None:
    data = go_binaries[goarch].data
    syms = load_symbols(go_binaries[goarch].path)
    hdr = parse_header(data)
    assert hdr is not None
    main = syms.find("main.main")
    assert main is not None and main.type == "T"
    assert syms.lookup(main.value) == ("main.main", 0)
    assert syms.lookup(main.value + 3) == ("main.main", 3)
    assert syms.lookup(hdr.entry) == (f"_rt0_{goarch}_plan9", 0)
    table = syms.find("main.table")
    assert table is not None and table.type in "Dd"
    arch = arch_for_magic(hdr.magic)
    assert arch is not None
    img = load_image(data, arch, SEEDP)
    assert img.data.base <= table.value < img.data.top
    assert syms.lookup(table.value + 8) == ("main.table", 8)
    assert syms.lookup(img.bss.top) is None
    assert syms.lookup(0) is None
    assert load_symbols(data).symbols == syms.symbols


# --- hand-built headers for the other magics ----------------------------------

@pytest.mark.parametrize(
    "arch_name,letter,profile",
    [("arm64", "R", SEEDP), ("mips", "V", SEEDP), ("mips", "M", SEEDP), ("mipsle", "N", CURP),
     ("mipsle", "P", SEEDP), ("mipsle", "P", CURP), ("386", "I", SEEDP), ("amd64", "S", CURP)],
    ids=lambda v: getattr(v, "name", v),
)
def test_hand_built_headers(arch_name: str, letter: str, profile: Profile) -> None:
    arch = get_arch(arch_name)
    text, dsize, bss = 0x12345, 0x1801, 0x5000
    hsize = 40 if letter in "SR" else 32
    entry = arch.utzero + hsize + 0x10
    data = header(letter, text, dsize, bss, entry, arch.utzero) + bytes(text + dsize)
    img = load_image(data, arch, profile)
    align = ALIGN.get(magic(letter), arch.page_size)
    if letter == "P" and profile.has("mips-spim-magic"):  # 6fe654f50: spim gets mips' 16K
        align = 16 << 10
    t = roundup(arch.utzero + hsize + text, align)
    assert img.entry == entry and img.text_align == align
    assert (img.text.top, img.data.top, img.bss.top) == (
        t, roundup(t + dsize, arch.page_size), roundup(t + dsize + bss, arch.page_size))
    assert img.data.file_offset == hsize + text and img.data.file_length == dsize
    assert is_binary(data, arch, profile)


def test_spim_alignment_is_the_switch() -> None:
    arch = get_arch("mipsle")
    data = header("P", 0x1000, 0x10, 0, None, arch.utzero)
    seed, cur = load_image(data, arch, SEEDP), load_image(data, arch, CURP)
    assert seed.text.top == roundup(arch.utzero + 32 + 0x1000, 4096)
    assert cur.text.top == roundup(arch.utzero + 32 + 0x1000, 16384)


# --- one case per check in sysexec ----------------------------------------------

@dataclass(frozen=True)
class Case:
    name: str
    line: str  # the seed sysproc.c line (or file) the case encodes
    arch: str
    data: bytes
    err: str | None


A64 = get_arch("amd64")
I386 = get_arch("386")
U6, U8 = A64.utzero, I386.utzero
LIM8 = I386.ustktop - I386.ustksize

CASES = [
    Case("empty", "357: n < sizeof(Exec) -> #! path -> shargs -1 -> 398", "amd64", b"", Ebadexec),
    Case("short3", "357 then shargs: not #!", "amd64", header("S")[:3], Ebadexec),
    Case("hashbang2", "shargs: n <= 2", "amd64", b"#!", Ebadexec),
    Case("trunchdr31", "357: 31 bytes is no header", "amd64", header("S")[:31], Ebadexec),
    Case("badmagic", "359: magic != AOUT_MAGIC -> not #!", "amd64", b"\x12\x34\x56\x78" + header("S")[4:], Ebadexec),
    Case("other-arch", "359: R_MAGIC on pc64", "amd64", header("R", utzero=U6), Ebadexec),
    Case("trunchdr36", "361: HDR_MAGIC header shorter than 40", "amd64", header("S", utzero=U6)[:36], Ebadexec),
    Case("hdr40-exact", "361: 40 bytes are enough", "amd64", header("S", utzero=U6), None),
    Case("lowentry", "369: entry < UTZERO+40", "amd64", header("S", entry=U6 + 39, utzero=U6), Ebadexec),
    Case("entry-at-text", "369: entry == UTZERO+40 is fine", "amd64", header("S", text=1, entry=U6 + 40, utzero=U6), None),
    Case("entryattextend", "372: text <= entry", "amd64", header("S", text=8, entry=U6 + 48, utzero=U6), Ebadexec),
    Case("text0", "372: empty text leaves entry == text", "amd64", header("S", text=0, utzero=U6), Ebadexec),
    Case("entry-last-byte", "372: entry < text", "amd64", header("S", text=8, entry=U6 + 47, utzero=U6), None),
    Case("hugetext", "372: 4 GiB of text is below the amd64 stack", "amd64", header("S", text=0xFFFFFF00, utzero=U6), None),
    Case("386-text-at-stack", "372: text >= USTKTOP-USTKSIZE", "386", header("I", text=LIM8 - U8 - 32, utzero=U8), Ebadexec),
    Case("386-t-at-stack", "420: text end rounds up into the stack", "386", header("I", text=LIM8 - U8 - 33, utzero=U8), Ebadexec),
    Case("386-text-fits", "420: t just below the stack", "386", header("I", text=LIM8 - U8 - 32 - 4096, utzero=U8), None),
    Case("386-data-at-stack", "420: d >= USTKTOP-USTKSIZE", "386", header("I", data=LIM8, utzero=U8), Ebadexec),
    Case("386-bss-at-stack", "420: b >= USTKTOP-USTKSIZE", "386", header("I", bss=LIM8, utzero=U8), Ebadexec),
    Case("hugebss", "420: bss below the stack is accepted", "amd64", header("S", bss=0xF0000000, utzero=U6), None),
    Case("script-is-not-an-image", "390/398: a #! file is no a.out", "amd64", b"#!/bin/rc\n", Ebadexec),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_sysexec_checks(case: Case) -> None:
    arch = get_arch(case.arch)
    for profile in (SEEDP, CURP):
        if case.err is None:
            img = load_image(case.data, arch, profile)
            assert img.text.base == arch.utzero and img.bss.top < arch.ustktop - arch.ustksize, case.line
        else:
            with pytest.raises(KernelError) as e:
                load_image(case.data, arch, profile)
            assert e.value.errstr == case.err, case.line


def test_hugetext_is_accepted_but_short() -> None:
    # probe exec.hugetext (amd64 seed): exec succeeds, demand load then fails.
    img = load_image(header("S", text=0xFFFFFF00, utzero=U6), A64, SEEDP)
    assert img.file_short and img.commit_error is None


def test_wrapped_data_size_fails_after_commit() -> None:
    # On 386 t+data wraps past 2^32: line 420 sees a small d, but newseg()
    # (port/segment.c) gets (d-t)>>PGSHIFT pages, far above SEGMAPSIZE*PTEPERTAB.
    data = header("I", text=0x100, data=0xFFFFF000, utzero=U8)
    img = load_image(data, I386, SEEDP)
    t = roundup(U8 + 32 + 0x100, 4096)
    assert img.data.base == t and img.bss.base == (t + 0xFFFFF000 + 4095) // 4096 * 4096 % 2**32
    assert img.commit_error == Enovmem


def test_no_wrap_on_64_bit() -> None:
    img = load_image(header("S", text=0x100, data=0xFFFFF000, bss=0xFFFFFFFF, utzero=U6), A64, SEEDP)
    assert img.commit_error is None
    assert img.bss.top == roundup(0x400000 + 0xFFFFF000 + 0xFFFFFFFF, 4096)


def test_parse_header_fields() -> None:
    raw = struct.pack(">8I", magic("I"), 1, 2, 3, 4, 5, 6, 7)
    h = parse_header(raw)
    assert h is not None and (h.text, h.data, h.bss, h.syms, h.entry, h.spsz, h.pcsz) == (1, 2, 3, 4, 5, 6, 7)
    assert h.hdr_size == 32 and h.syms_offset == 35 and h.magic_name == "I"
    s = parse_header(header("S", entry=0x1_0000_0000_0040))
    assert s is not None and s.entry == 0x1_0000_0000_0040 and s.hdr_size == 40
    assert parse_header(header("S")[:39]) is None and parse_header(b"") is None
