"""Segments, the per-process segment table and paging (port/segment.c, sysproc.c).

Memory is modelled byte-exactly and sparsely: a segment owns a dict of
absolute page number -> bytearray.  A page that was never written reads as
zeros (zero-fill on demand).  fork copies private segments eagerly, which is
observably the same as copy-on-write; RFMEM and the shareable types share the
Segment object itself, so ``ref`` counts the sharers exactly as
/proc/N/segment prints it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from harness.model.arch import Arch
from harness.model.coverage import rule
from harness.model.errors import (
    Ebadarg,
    Einuse,
    Enovmem,
    Esoverlap,
    KernelError,
    ProcessKilled,
)

# port/portdat.h
SG_TYPE = 0o7
SG_TEXT, SG_DATA, SG_BSS, SG_STACK, SG_SHARED, SG_PHYSICAL, SG_FIXED, SG_STICKY = range(8)
SG_RONLY = 0o40
SG_CEXEC = 0o100
SG_FAULT = 0o200
SG_CACHED = 0o400
SG_DEVICE = 0o1000
SG_NOEXEC = 0o2000

# Segment slots (portdat.h): SSEG TSEG DSEG BSEG ESEG LSEG SEG1..SEG4, NSEG=10.
SSEG, TSEG, DSEG, BSEG, ESEG = 0, 1, 2, 3, 4
NSEG = 10

# port/devproc.c sname[]: the names /proc/N/segment prints.
SNAME = ("Text", "Data", "Bss", "Stack", "Shared", "Phys", "Fixed", "Sticky")

# port/segment.c physseg[]: the attachable classes (name -> type attr).
PHYSSEG = {"shared": SG_SHARED, "memory": SG_BSS}

BAD_ADDRESS_NOTE = "sys: bad address in syscall"
PC_MASK = "PC"  # the pc of a note is unknowable: written as pc=PC, nondet "~pc"
UNKNOWN_ADDR = "ADDR"  # a fault address the model cannot know (await marks its message nondet)


@dataclass(eq=False)
class Segment:
    type: int  # SG_* type and attribute bits
    base: int
    top: int
    ref: int = 1
    pages: dict[int, bytearray] = field(default_factory=dict)
    image: str | None = None  # image-cache key (text sharing across exec)
    # addresses of bytes whose value the model cannot know (pid and time
    # digits an await wrote): a raw probe of them is nondeterministic
    unknown: set[int] = field(default_factory=set)

    @property
    def kind(self) -> int:
        return self.type & SG_TYPE

    @property
    def ronly(self) -> bool:
        return bool(self.type & SG_RONLY)

    def row(self) -> list[str | int]:
        """One /proc/N/segment line: [name, flags, base, top, ref]."""
        flags = ("R" if self.ronly else "") + ("F" if self.type & SG_FAULT else "")
        return [SNAME[self.kind], flags, self.base, self.top, self.ref]

    def copy(self) -> Segment:
        """A private copy (dupseg's newseg + ptecpy, i.e. copy on write)."""
        pages = {k: bytearray(v) for k, v in self.pages.items()}
        return Segment(self.type, self.base, self.top, 1, pages, unknown=set(self.unknown))

    def free_pages(self, start: int, end: int, pgsize: int) -> None:
        """mfreeseg: drop the pages of [start, end); they read as zeros again."""
        if self.kind in (SG_PHYSICAL, SG_FIXED, SG_STICKY):
            return
        lo, hi = start // pgsize, end // pgsize
        for k in [k for k in self.pages if lo <= k < hi]:
            del self.pages[k]
        if self.unknown:
            self.unknown = {a for a in self.unknown if not lo * pgsize <= a < hi * pgsize}


def pground(addr: int, arch: Arch) -> int:
    return (addr + arch.page_size - 1) & ~(arch.page_size - 1) & arch.addr_mask


def newseg(type_: int, base: int, npages: int, arch: Arch) -> Segment:
    """port/segment.c newseg: size above SEGMAPSIZE*PTEPERTAB pages -> Enovmem."""
    if npages > arch.max_seg_pages:
        raise KernelError(Enovmem)
    return Segment(type_, base, (base + npages * arch.page_size) & arch.addr_mask)


def putseg(s: Segment | None) -> None:
    if s is not None:
        s.ref -= 1


def dupseg(segs: list[Segment | None], i: int, share: bool) -> Segment | None:
    """port/segment.c dupseg: which segments a child shares and which it copies."""
    s = segs[i]
    if s is None:
        return None
    k = s.kind
    if k in (SG_TEXT, SG_SHARED, SG_PHYSICAL, SG_FIXED, SG_STICKY) or (share and k in (SG_BSS, SG_DATA)):
        s.ref += 1
        return s
    return s.copy()


def seg_at(segs: list[Segment | None], addr: int) -> Segment | None:
    """port/segment.c seg(): the segment containing addr."""
    for s in segs:
        if s is not None and s.base <= addr < s.top:
            return s
    return None


def isoverlap(segs: list[Segment | None], va: int, length: int) -> Segment | None:
    newtop = va + length
    for s in segs:
        if s is not None and newtop > s.base and va < s.top:
            return s
    return None


def ibrk(segs: list[Segment | None], addr: int, segno: int, arch: Arch) -> int:
    """port/segment.c ibrk."""
    s = segs[segno]
    if s is None:
        raise KernelError(Ebadarg)
    if addr == 0:
        return s.base
    if addr < s.base:  # the bss may start overlapping the data
        d = segs[DSEG]
        if segno != BSEG or d is None or addr < d.base:
            raise KernelError(Enovmem)
        addr = s.base
    newtop = pground(addr, arch)
    newsize = ((newtop - s.base) & arch.addr_mask) // arch.page_size
    if newtop < s.top:
        if s.ref > 1:  # never shrink a segment another process shares
            raise KernelError(Einuse)
        s.free_pages(newtop, s.top, arch.page_size)
        s.top = newtop
        return 0
    for ns in segs:
        if ns is None or ns is s:
            continue
        if newtop > ns.base and s.base < ns.top:
            raise KernelError(Esoverlap)
    if newsize > arch.max_seg_pages:
        raise KernelError(Enovmem)
    s.top = newtop
    return 0


def segbrk(segs: list[Segment | None], addr: int, newaddr: int, arch: Arch) -> int:
    """sysproc.c:syssegbrk: text, data, stack, physical, fixed, sticky refuse."""
    for i, s in enumerate(segs):
        if s is None or addr < s.base or addr >= s.top:
            continue
        if s.kind in (SG_TEXT, SG_DATA, SG_STACK, SG_PHYSICAL, SG_FIXED, SG_STICKY):
            rule("sysproc.c:827")
            raise KernelError(Ebadarg)
        return ibrk(segs, newaddr, i, arch)
    rule("sysproc.c:832")
    raise KernelError(Ebadarg)


def segattach(segs: list[Segment | None], attr: int, name: str, va: int, length: int, arch: Arch) -> int:
    """port/segment.c segattach (no global segments in the model)."""
    pg = arch.page_size
    va &= arch.addr_mask
    if va != 0 and va >= arch.ustktop:
        raise KernelError(Ebadarg)
    sno = next((i for i in range(NSEG) if segs[i] is None and i != ESEG), NSEG)
    if sno == NSEG:
        raise KernelError(Enovmem)
    length = (length + (va & (pg - 1))) & arch.addr_mask
    length = pground(length, arch)
    if length == 0:
        raise KernelError(Ebadarg)
    if va == 0:  # find a hole below the stack, walking down
        os_ = segs[SSEG]
        while os_ is not None:
            va = os_.base
            if length >= va:
                raise KernelError(Enovmem)
            va -= length
            os_ = isoverlap(segs, va, length)
    va &= ~(pg - 1)
    if va == 0 or va + length > arch.ustktop or ((va + length) & arch.addr_mask) < va:
        raise KernelError(Ebadarg)
    if isoverlap(segs, va, length) is not None:
        raise KernelError(Esoverlap)
    if name not in PHYSSEG:
        raise KernelError(Ebadarg)
    if length > arch.segmap_size * arch.ptemapmem:  # ps->size = SEGMAXSIZE
        raise KernelError(Enovmem)
    attr &= ~(SG_TYPE | SG_CACHED | SG_DEVICE)
    attr |= PHYSSEG[name]
    segs[sno] = newseg(attr, va, length // pg, arch)
    return va


def segdetach(segs: list[Segment | None], addr: int) -> int:
    """sysproc.c:syssegdetach: the stack (slot SSEG) is refused."""
    for i, s in enumerate(segs):
        if s is None:
            continue
        if s.base <= addr < s.top or (s.top == s.base and addr == s.base):
            if i == SSEG:
                rule("sysproc.c:893")
                raise KernelError(Ebadarg)
            segs[i] = None
            putseg(s)
            return 0
    rule("sysproc.c:885")
    raise KernelError(Ebadarg)


def segfree(segs: list[Segment | None], frm: int, length: int, arch: Arch) -> int:
    """sysproc.c:syssegfree: len is a ulong; pages inside [from, from+len) are freed."""
    frm &= arch.addr_mask
    to = frm + (length & 0xFFFFFFFF)
    if to > arch.addr_mask:
        rule("sysproc.c:916")
        raise KernelError(Ebadarg)
    s = seg_at(segs, frm)
    if s is None:
        rule("sysproc.c:919")
        raise KernelError(Ebadarg)
    to &= ~(arch.page_size - 1)
    frm = pground(frm, arch)
    if frm >= to:
        return 0
    if to > s.top:
        rule("sysproc.c:928")
        raise KernelError(Ebadarg)
    s.free_pages(frm, to, arch.page_size)
    return 0


class Memory:
    """Byte access through a process's segment table, with the kernel's faults."""

    def __init__(self, segs: list[Segment | None], arch: Arch) -> None:
        self.segs = segs
        self.arch = arch

    def _seg(self, addr: int, write: bool) -> Segment | None:
        s = seg_at(self.segs, addr)
        if s is None or (write and s.ronly):
            return None
        return s

    def ok(self, addr: int, n: int, write: bool) -> bool:
        """okaddr (fault.c:340): every byte of [addr, addr+n) mapped (and
        writable); a negative length ((long)len < 0) never is, and even an
        empty range must start inside a segment."""
        addr &= self.arch.addr_mask
        if n < 0:
            return False
        if n == 0:
            return self._seg(addr, write) is not None
        end = addr + n
        while addr < end:
            s = self._seg(addr, write)
            if s is None:
                return False
            addr = s.top
        return True

    def validaddr(self, addr: int, n: int, write: bool) -> None:
        """validaddr: a bad pointer kills the process (a note, not an errstr)."""
        if not self.ok(addr, n, write):
            raise ProcessKilled(f"{BAD_ADDRESS_NOTE} pc={PC_MASK}")

    def fault(self, addr: int, n: int, write: bool) -> None:
        """A user-mode access: outside every segment or a write to R -> trap note."""
        a = addr & self.arch.addr_mask
        for i in range(max(n, 1)):
            if self._seg(a + i, write) is None:
                rw = "write" if write else "read"
                raise ProcessKilled(f"sys: trap: fault {rw} addr={a + i:#x} pc={PC_MASK}")

    def read(self, addr: int, n: int) -> bytes:
        pg = self.arch.page_size
        out = bytearray()
        a = addr & self.arch.addr_mask
        while n > 0:
            s = seg_at(self.segs, a)
            off = a % pg
            chunk = min(n, pg - off)
            page = s.pages.get(a // pg) if s is not None else None
            out += page[off : off + chunk] if page is not None else bytes(chunk)
            a += chunk
            n -= chunk
        return bytes(out)

    def write(self, addr: int, data: bytes, known: bool = True) -> None:
        """Store DATA; KNOWN false marks its bytes as ones the model cannot know."""
        pg = self.arch.page_size
        a = addr & self.arch.addr_mask
        i = 0
        while i < len(data):
            s = seg_at(self.segs, a)
            off = a % pg
            chunk = min(len(data) - i, pg - off)
            if s is not None:
                page = s.pages.setdefault(a // pg, bytearray(pg))
                page[off : off + chunk] = data[i : i + chunk]
                if not known:
                    s.unknown.update(range(a, a + chunk))
                elif s.unknown:
                    s.unknown.difference_update(range(a, a + chunk))
            a += chunk
            i += chunk

    def unknown_ranges(self, addr: int, n: int) -> list[tuple[int, int]]:
        """Offsets [a, b) within [addr, addr+n) of bytes the model cannot know."""
        a0 = addr & self.arch.addr_mask
        out: list[tuple[int, int]] = []
        for i in range(n):
            s = seg_at(self.segs, a0 + i)
            if s is None or a0 + i not in s.unknown:
                continue
            if out and out[-1][1] == i:
                out[-1] = (out[-1][0], i + 1)
            else:
                out.append((i, i + 1))
        return out

    def cstring(self, addr: int, limit: int) -> bytes | None:
        """The NUL-terminated string at addr (validaddr'd byte by byte), or None
        when no NUL comes within limit bytes (vmemchr)."""
        out = bytearray()
        a = addr
        while len(out) < limit:
            self.validaddr(a, 1, False)
            b = self.read(a, 1)[0]
            if b == 0:
                return bytes(out)
            out.append(b)
            a += 1
        return None

    def long(self, addr: int) -> int:
        raw = self.read(addr, 4)
        return int.from_bytes(raw, "big" if self.arch.big_endian else "little", signed=True)

    def set_long(self, addr: int, val: int) -> None:
        order: Literal["big", "little"] = "big" if self.arch.big_endian else "little"
        self.write(addr, (val & 0xFFFFFFFF).to_bytes(4, order))
