"""Symbol tables of Plan 9 a.out files (a.out(6)) and ELF files (pyelftools).

Used to name addresses (a fault pc, an entry point) in reports.  The Plan 9
table follows header, text and data in the file; each entry is a big-endian
value (8 bytes when the magic has HDR_MAGIC, else 4), a type byte with the
high bit set, and a NUL-terminated name, except that 'z'/'Z' (file history)
names are a 0 byte and then 16-bit path-component indexes ending in 0.
"""

from __future__ import annotations

import bisect
import io
import struct
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import InputError
from harness.model.aout import parse_header
from harness.model.arch import HDR_MAGIC, MAGIC_NAMES, arch_for_magic

TEXT_TYPES = frozenset("TtLl")
DATA_TYPES = frozenset("DdBb")
ADDRESS_TYPES = TEXT_TYPES | DATA_TYPES


@dataclass(frozen=True)
class Symbol:
    name: str
    value: int
    type: str  # a.out type letter (T t L l D d B b a p m f z Z ...); ELF: T/t, D/d, B/b
    size: int | None = None  # ELF st_size; a.out tables carry no sizes


@dataclass
class SymbolTable:
    symbols: list[Symbol]
    # Addresses at or past `end` name nothing (a.out: end of bss).
    end: int | None = None
    _sorted: list[Symbol] = field(init=False, repr=False)
    _keys: list[int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        addr = [s for s in self.symbols if s.type in ADDRESS_TYPES]
        self._sorted = sorted(addr, key=lambda s: s.value)
        self._keys = [s.value for s in self._sorted]

    def __len__(self) -> int:
        return len(self.symbols)

    def find(self, name: str) -> Symbol | None:
        for s in self.symbols:
            if s.name == name and s.type in ADDRESS_TYPES:
                return s
        return None

    def lookup(self, addr: int) -> tuple[str, int] | None:
        """(name, addr - value) of the text/data symbol at or below addr, or None."""
        if self.end is not None and addr >= self.end:
            return None
        i = bisect.bisect_right(self._keys, addr) - 1
        if i < 0:
            return None
        sym = self._sorted[i]
        if sym.size is not None and sym.size > 0 and addr >= sym.value + sym.size:
            return None
        return sym.name, addr - sym.value


def parse_aout_symbols(data: bytes) -> SymbolTable:
    hdr = parse_header(data)
    if hdr is None or hdr.magic not in MAGIC_NAMES:
        raise InputError("not a Plan 9 a.out file (bad or short header)")
    start = hdr.syms_offset
    table = data[start : start + hdr.syms]
    vsize = 8 if hdr.magic & HDR_MAGIC else 4
    syms = _parse_table(table, vsize)
    return SymbolTable(syms, end=_image_end(data, hdr.magic))


def _image_end(data: bytes, magic: int) -> int | None:
    """End of bss as exec lays the file out, if some arch's kernel would load it."""
    from harness.model.aout import load_image
    from harness.model.errors import KernelError
    from harness.model.profiles import CURRENT, get_profile

    arch = arch_for_magic(magic)
    if arch is None:
        return None
    try:
        return load_image(data, arch, get_profile(CURRENT)).bss.top
    except KernelError:
        return None


def _parse_table(table: bytes, vsize: int) -> list[Symbol]:
    syms: list[Symbol] = []
    i, n = 0, len(table)
    fmt = ">Q" if vsize == 8 else ">I"
    while i + vsize + 1 <= n:
        (value,) = struct.unpack(fmt, table[i : i + vsize])
        typ = table[i + vsize] & 0x7F
        i += vsize + 1
        if typ in (ord("z"), ord("Z")):
            # A 0 byte, then big-endian shorts up to a zero short.
            i += 1
            parts = []
            while i + 2 <= n and table[i : i + 2] != b"\0\0":
                parts.append(struct.unpack(">H", table[i : i + 2])[0])
                i += 2
            i += 2
            name = "/".join(str(p) for p in parts)
        else:
            j = table.find(b"\0", i)
            if j < 0:
                break  # truncated table: keep what was complete
            name = table[i:j].decode("utf-8", "replace")
            i = j + 1
        syms.append(Symbol(name, value, chr(typ)))
    return syms


def parse_elf_symbols(data: bytes) -> SymbolTable:
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    try:
        elf = ELFFile(io.BytesIO(data))
        syms: list[Symbol] = []
        for sec in elf.iter_sections():
            if not isinstance(sec, SymbolTableSection):
                continue
            for s in sec.iter_symbols():
                kind = s["st_info"]["type"]
                if not s.name or kind not in ("STT_FUNC", "STT_OBJECT") or s["st_shndx"] == "SHN_UNDEF":
                    continue
                letter = "T" if kind == "STT_FUNC" else "D"
                if s["st_info"]["bind"] == "STB_LOCAL":
                    letter = letter.lower()
                syms.append(Symbol(s.name, s["st_value"], letter, s["st_size"]))
    except (ELFError, ValueError, KeyError, struct.error) as e:
        raise InputError(f"unreadable ELF file: {e}") from None
    return SymbolTable(syms)


def load_symbols(source: str | Path | bytes) -> SymbolTable:
    """The symbol table of an a.out or ELF file (path or contents)."""
    if isinstance(source, bytes):
        data = source
    else:
        try:
            data = Path(source).read_bytes()
        except OSError as e:
            raise InputError(f"{source}: {e.strerror or e}") from None
    if data[:4] == b"\x7fELF":
        return parse_elf_symbols(data)
    return parse_aout_symbols(data)
