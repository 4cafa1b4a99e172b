"""What sysexec does with a file: a.out header checks, segment layout, `#!` lines,
the new argv and the bytes exec reserves on the new stack.

Re-implemented from the behaviour of 9front's port/sysproc.c (sysexec, shargs;
seed e9bb7876e, and 520a39efc for the "shebang-tokenize" switch) and
port/segment.c (newseg).  Line numbers in comments are the seed's sysproc.c
(/work/shared/seeds/sysproc.c).  Every check raises KernelError with the
errstr the kernel would set, in the kernel's order; nothing else escapes for
any input bytes.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

from harness.libc import tokenize_bytes
from harness.model.arch import HDR_MAGIC, MAGIC_NAMES, Arch
from harness.model.coverage import rule
from harness.model.errors import Ebadarg, Ebadexec, Enovmem, KernelError
from harness.model.profiles import Profile, Sw

EXEC_SIZE = 32  # sizeof(Exec): 8 big-endian longs (sys/include/a.out.h)
EHDR_SIZE = 40  # sizeof(struct { Exec; uvlong hdr[1]; }) in sysexec
SEED_READ = EHDR_SIZE  # seed: one read of sizeof(ehdr) bytes serves header and #! line
TOKENIZE_READ = 256  # 520a39efc: the read is a 256-byte union, the #! line 256 bytes
TOKENIZE_MAXARGS = 32  # 520a39efc: progarg[32+1], tokenize(s, ap, nelem(progarg)-1)
PROCARGS_MAX = 128  # sysexec: "don't waste too much space on huge arg lists"
ULONG_MASK = 0xFFFFFFFF  # ulong is 32 bits on every Plan 9 arch

Arg = str | bytes


def _b(a: Arg) -> bytes:
    # Arguments are bytes in the kernel; str arguments are UTF-8, with lone
    # surrogates standing for raw bytes (as parse_shebang produces them).
    return a if isinstance(a, bytes) else a.encode("utf-8", "surrogateescape")


_DECODE = functools.partial(bytes.decode, encoding="utf-8", errors="surrogateescape")


def _s(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


def _strs(argv: Sequence[Arg]) -> list[str]:
    """[_s(_b(a)) for a in argv], at C speed when all are bytes (as sysexec's cstr gives them)."""
    try:
        return list(map(_DECODE, cast(Sequence[bytes], argv)))  # a str among them: TypeError
    except TypeError:
        return [_s(_b(a)) for a in argv]


def _lengths(args: Sequence[Arg]) -> list[int]:
    """[_blen(a) for a in args], at C speed for the usual all-ASCII str argv."""
    try:
        ascii_strs = all(map(str.isascii, cast(Sequence[str], args)))  # bytes among them: TypeError
    except TypeError:
        ascii_strs = False
    return list(map(len, args)) if ascii_strs else [_blen(a) for a in args]


def _blen(a: Arg) -> int:
    """len(_b(a)) without building the bytes where it need not (ASCII encodes 1:1)."""
    return len(a) if isinstance(a, bytes) or a.isascii() else len(_b(a))


def read_size(profile: Profile) -> int:
    """How many bytes sysexec's single read of the file asks for."""
    return TOKENIZE_READ if profile.has(Sw.SHEBANG_TOKENIZE) else SEED_READ


# --- the header -------------------------------------------------------------


@dataclass(frozen=True)
class AoutHeader:
    magic: int
    text: int
    data: int
    bss: int
    syms: int
    entry32: int  # the 32-bit entry field (reserved when HDR_MAGIC is set)
    spsz: int
    pcsz: int
    entry64: int | None  # the 64-bit entry after an HDR_MAGIC header

    @property
    def hdr_size(self) -> int:
        return EHDR_SIZE if self.magic & HDR_MAGIC else EXEC_SIZE

    @property
    def entry(self) -> int:
        return self.entry64 if self.entry64 is not None else self.entry32

    @property
    def magic_name(self) -> str | None:
        return MAGIC_NAMES.get(self.magic)

    @property
    def syms_offset(self) -> int:
        """File offset of the symbol table: header, text, data, then symbols (a.out(6))."""
        return self.hdr_size + self.text + self.data


def parse_header(data: bytes) -> AoutHeader | None:
    """The header fields, or None if data is too short to hold them."""
    if len(data) < EXEC_SIZE:
        return None
    magic, text, dsize, bss, syms, entry, spsz, pcsz = struct.unpack(">8I", data[:EXEC_SIZE])
    entry64 = None
    if magic & HDR_MAGIC:
        if len(data) < EHDR_SIZE:
            return None
        (entry64,) = struct.unpack(">Q", data[EXEC_SIZE:EHDR_SIZE])
    return AoutHeader(magic, text, dsize, bss, syms, entry, spsz, pcsz, entry64)


# --- the image ---------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    name: str  # as /proc/N/segment names it: Text, Data, Bss, Stack
    base: int
    top: int
    file_offset: int | None  # where the segment's initialised bytes start in the file
    file_length: int  # how many bytes come from the file (0: zero fill)


@dataclass(frozen=True)
class ExecImage:
    arch: str
    header: AoutHeader
    entry: int
    text_align: int  # the alignment applied to the end of text
    text: Segment
    data: Segment
    bss: Segment
    stack: Segment
    bssend: int  # t + data + bss before page rounding (wraps like the kernel's uintptr)
    # newseg() fails after exec has committed (old segments freed): the process
    # then exits with this errstr (pexit) instead of exec returning an error.
    commit_error: str | None
    file_size: int | None  # length of the bytes given, if known

    @property
    def magic_name(self) -> str:
        return self.header.magic_name or f"{self.header.magic:#x}"

    @property
    def hdr_size(self) -> int:
        return self.header.hdr_size

    @property
    def segments(self) -> tuple[Segment, ...]:
        """In the kernel's seg[] order (SSEG, TSEG, DSEG, BSEG), as /proc/N/segment lists them."""
        return (self.stack, self.text, self.data, self.bss)

    @property
    def file_short(self) -> bool:
        """Text+data reach past the end of the file: exec succeeds, demand load fails later."""
        if self.file_size is None:
            return False
        return self.data.file_length + (self.data.file_offset or 0) > self.file_size


@dataclass(frozen=True)
class _Binary:
    header: AoutHeader
    entry: int
    text: int  # UTZERO + header + text size (uintptr)
    align: int


def _check_binary(buf: bytes, arch: Arch, profile: Profile) -> _Binary | None:
    """The a.out branch of sysexec's loop (seed lines 357-388).

    buf is what the single read returned.  None: not an a.out for this
    kernel, so sysexec goes on to treat it as a #! file.
    """
    n = len(buf)
    mask = arch.addr_mask
    if n < EXEC_SIZE:  # 357: n >= sizeof(Exec)
        return None
    magic = struct.unpack(">I", buf[:4])[0]
    if magic not in arch.magics:  # 359: magic == AOUT_MAGIC (the port's dat.h)
        return None
    if magic & HDR_MAGIC:  # 360
        if n < EHDR_SIZE:  # 361: a truncated expanded header
            rule("sysproc.c:362")
            raise KernelError(Ebadexec)
        (entry,) = struct.unpack(">Q", buf[EXEC_SIZE:EHDR_SIZE])
        text = arch.utzero + EHDR_SIZE
    else:
        (entry,) = struct.unpack(">I", buf[20:24])
        text = arch.utzero + EXEC_SIZE
    entry &= mask
    if entry < text:  # 369: entry point inside the header or below text
        rule("sysproc.c:370")
        raise KernelError(Ebadexec)
    text = (text + struct.unpack(">I", buf[4:8])[0]) & mask  # 371
    if text <= entry or text >= arch.stack_base:  # 372: entry past text, text into the stack
        rule("sysproc.c:373")
        raise KernelError(Ebadexec)
    align = arch.text_align(magic, profile.has(Sw.MIPS_SPIM_MAGIC))  # 375-386
    header = parse_header(buf)
    assert header is not None
    return _Binary(header, entry, text, align)


def _layout(b: _Binary, arch: Arch, file_size: int | None) -> ExecImage:
    """Seed lines 412-421 (layout and its checks) and 552-575 (the segments)."""
    mask = arch.addr_mask
    pg = arch.page_size
    t = ((b.text + b.align - 1) & ~(b.align - 1)) & mask
    textlen = (b.text - arch.utzero) & mask
    data, bss = b.header.data, b.header.bss
    d = ((t + data + pg - 1) & ~(pg - 1)) & mask
    bssend = (t + data + bss) & mask
    end = ((bssend + pg - 1) & ~(pg - 1)) & mask
    lim = arch.stack_base
    if t >= lim or d >= lim or end >= lim:  # 420
        rule("sysproc.c:421")
        raise KernelError(Ebadexec)

    # After the commit point newseg() may still refuse a segment that is too
    # big (port/segment.c: size > SEGMAPSIZE*PTEPERTAB); sizes are ulong page
    # counts of uintptr differences, so on 32-bit arches a wrapped data or
    # bss size lands here.
    commit_error = None
    segs = []
    for name, base, top in (("Text", arch.utzero, t), ("Data", t, d), ("Bss", d, end)):
        pages = (((top - base) & mask) >> arch.pgshift) & ULONG_MASK
        if pages > arch.max_seg_pages and commit_error is None:
            commit_error = Enovmem
        segs.append((name, base, (base + pages * pg) & mask))
    (_, _, ttop), (_, _, dtop), (_, _, btop) = segs
    return ExecImage(
        arch=arch.name,
        header=b.header,
        entry=b.entry,
        text_align=b.align,
        text=Segment("Text", arch.utzero, ttop, 0, textlen),
        data=Segment("Data", t, dtop, textlen, data),
        bss=Segment("Bss", d, btop, None, 0),
        stack=Segment("Stack", arch.stack_base, arch.ustktop, None, 0),
        bssend=bssend,
        commit_error=commit_error,
        file_size=file_size,
    )


def load_image(data: bytes, arch: Arch, profile: Profile) -> ExecImage:
    """What exec makes of an a.out file, or KernelError as sysexec raises it.

    A file that is not an a.out for this arch (a #! script included) is
    Ebadexec here: for the script path use plan_exec or parse_shebang.
    """
    buf = data[: read_size(profile)]
    b = _check_binary(buf, arch, profile)
    if b is None:
        raise KernelError(Ebadexec)
    return _layout(b, arch, len(data))


def is_binary(data: bytes, arch: Arch, profile: Profile) -> bool:
    """True if sysexec takes the a.out branch (it may still reject the header)."""
    buf = data[: read_size(profile)]
    if len(buf) < EXEC_SIZE:
        return False
    return struct.unpack(">I", buf[:4])[0] in arch.magics


# --- #! lines ---------------------------------------------------------------


def _seed_split(line: bytes) -> list[bytes]:
    # seed shargs: tokens separated by blanks and tabs only; a NUL ends the line.
    line = line.split(b"\0", 1)[0]
    return [t for t in line.replace(b"\t", b" ").split(b" ") if t]


def tokenize(line: bytes, maxargs: int) -> list[bytes]:
    """libc tokenize(2) (harness.libc): blank/tab/CR/NL separated, '...' quoting, '' inside quotes is '."""
    return tokenize_bytes(line, maxargs)


def parse_shebang(data: bytes, profile: Profile) -> list[str]:
    """The #! line's tokens as sysexec takes them (interpreter first), or Ebadexec.

    data is the start of the file; only read_size(profile) bytes are looked
    at.  Seed rules (shargs, lines 245-273; checked at 398): the whole line, '#!' and newline
    included, must be in the 40 bytes read; split on blanks and tabs.  With
    "shebang-tokenize" (520a39efc): 256 bytes, tokenize(2) with at most 32
    tokens.  Tokens are str with raw non-UTF-8 bytes as lone surrogates.
    """
    buf = data[: read_size(profile)]
    if len(buf) <= 2 or buf[:2] != b"#!":  # shargs returns -1
        rule("sysproc.c:399")
        raise KernelError(Ebadexec)
    nl = buf.find(b"\n", 2)
    if nl < 0:  # no newline in what was read: shargs returns 0
        rule("sysproc.c:399")
        raise KernelError(Ebadexec)
    line = buf[2:nl]
    if profile.has(Sw.SHEBANG_TOKENIZE):
        rule("sysproc.c@520a39efc:258")
        # exec(2) at 027f579f4 (sys/man/2/exec:70-73): up to 256 bytes of
        # arguments, "tokenized into up to 32 arguments by tokenize(2)"; the
        # rest of the line is dropped.  The kernel's own code writes one slot
        # past progarg[32+1] when there are 32 (sysproc.c at 027f579f4:
        # shargs' tokenize(s, ap, nelem(progarg)-1), then progarg[n++] = file;
        # progarg[n] = nil): undefined, so the model keeps the man page's
        # contract and the real kernel's result is a known divergence
        # (docs/PROFILES.md).
        toks = tokenize(line, TOKENIZE_MAXARGS)
    else:
        rule("sysproc.c:246")
        toks = _seed_split(line)
    if not toks:  # 398: n < 1
        rule("sysproc.c:399")
        raise KernelError(Ebadexec)
    return [_s(t) for t in toks]


def path_elem(path: Arg) -> str:
    """The last element of a path: what namec leaves in up->genbuf (the new text name)."""
    p = _s(_b(path)).rstrip("/")
    return p.rsplit("/", 1)[-1] if p else _s(_b(path))


def build_argv(
    shebang_tokens: Sequence[Arg], path: Arg, argv: Sequence[Arg], elem: Arg | None = None
) -> list[str]:
    """The new argv after a #! (seed lines 400-407): the script's last path element
    replaces the interpreter as argv[0], then the #! arguments, then the script
    path as given to exec, then the caller's argv without its argv[0]."""
    e = path_elem(path) if elem is None else _s(_b(elem))
    rest = [_s(_b(a)) for a in argv[1:]]
    return [e, *(_s(_b(t)) for t in shebang_tokens[1:]), _s(_b(path)), *rest]


# --- the new stack ------------------------------------------------------------


@dataclass(frozen=True)
class StackPlan:
    nargs: int
    nbytes: int  # Tos + the argument strings with their NULs
    ssize: int  # nbytes word-rounded + argv pointers (+4 on 32-bit for 8-byte sp alignment)
    tos: int  # address of the Tos at the top of the new stack
    argv: int  # address of argv[0] in the new process
    strings: int  # address of the first argument string

    @property
    def sp(self) -> int:
        """Stack pointer before execregs() pushes argc (arch-specific from there)."""
        return self.argv


def stack_plan(progargs: Sequence[Arg], callerargs: Sequence[Arg], arch: Arch) -> StackPlan:
    """Exec's argument pass 1 (seed lines 423-460): sizes and their limits.

    progargs: the argv made from a #! line (empty for a binary), counted
    without checks; callerargs: the caller's argv (without argv[0] after a #!).
    """
    wd = arch.word_size
    nbytes = arch.tos_size
    nargs = 0
    for a in progargs:
        nbytes += _blen(a) + 1
        nargs += 1
    lens = _lengths(callerargs)
    if lens and max(lens) < arch.ustksize and nbytes + sum(lens) + len(lens) < arch.ustksize:
        nbytes += sum(lens) + len(lens)  # neither check below can fire: all at once
        nargs += len(lens)
        lens = []
    for n in lens:
        if n >= arch.ustksize:  # 443: no NUL within USTKSIZE bytes
            rule("sysproc.c:444")
            raise KernelError(Ebadarg)
        nbytes = (nbytes + n + 1) & ULONG_MASK
        if nbytes >= arch.ustksize:  # 446
            rule("sysproc.c:447")
            raise KernelError(Enovmem)
        nargs += 1
    ssize = (wd * (nargs + 1) + ((nbytes + wd - 1) & ~(wd - 1))) & ULONG_MASK
    if wd == 4 and (ssize + 4) & 7:  # 456: 8-byte align sp on 32-bit arches
        ssize += 4
    pg = arch.page_size
    if (ssize + pg - 1) & ~(pg - 1) >= arch.ustksize:  # 459: PGROUND(ssize) >= USTKSIZE
        rule("sysproc.c:460")
        raise KernelError(Enovmem)
    top = arch.ustktop
    return StackPlan(nargs, nbytes, ssize, top - arch.tos_size, top - ssize, top - nbytes)


# --- /proc/N/args --------------------------------------------------------------


def fullrune(b: bytes) -> bool:
    """libc fullrune with UTFmax 4 (libc/port/rune.c)."""
    if not b:
        return False
    c = b[0]
    if c < 0x80:
        return True
    if c < 0xE0:
        return len(b) >= 2
    if c < 0xF0:
        return len(b) >= 3
    return len(b) >= 4


def truncate_args(argv: Sequence[Arg]) -> bytes:
    """The bytes sysexec keeps as up->args (seed lines 517-530).

    The NUL-terminated arguments, cut to 128 bytes; a cut argument gets its
    NUL at a UTF-8 boundary (as fullrune judges it, which accepts a lead byte
    followed by any byte).  /proc/N/args shows these with %q and blanks.
    """
    buf = bytearray()
    for a in argv:  # only the first PROCARGS_MAX bytes can matter
        buf += _b(a) + b"\0"
        if len(buf) > PROCARGS_MAX:
            break
    n = min(len(buf), PROCARGS_MAX)
    del buf[n:]
    if n > 0 and buf[n - 1] != 0:
        i = n - 1
        while i > 0 and not fullrune(bytes(buf[i:n])):
            i -= 1
        buf[i] = 0
        n = i + 1
        del buf[n:]
    return bytes(buf)


# --- the whole of sysexec's file handling --------------------------------------


@dataclass(frozen=True)
class ExecPlan:
    image: ExecImage
    binary: str  # the path of the a.out that runs (the interpreter for a #! file)
    argv: tuple[str, ...]  # the new process's argv
    text: str  # up->text: last element of the path given to exec
    stack: StackPlan
    args: bytes  # up->args, /proc/N/args before %q formatting
    script: bool


def plan_exec(
    path: Arg,
    argv: Sequence[Arg],
    arch: Arch,
    profile: Profile,
    read_file: Callable[[str], bytes],
) -> ExecPlan:
    """sysexec up to the commit point, given a way to open and read files.

    read_file(path) stands for namec(path, Aopen, OEXEC) plus the read: it
    returns the file's leading bytes (at least read_size(profile) of them if
    the file has them) or raises KernelError as namec would (Enonexist,
    permission denied, cannot exec directory...).  Errors come in the
    kernel's order; the stack placement (tstk, isoverlap) is the caller's.
    """
    if not argv:  # 327: argv[0] == nil
        rule("sysproc.c:328")
        raise KernelError(Ebadarg)
    file = _s(_b(path))
    elem = path_elem(file)
    progargs: list[str] = []
    callerargs = _strs(argv)
    indir = False
    while True:
        data = read_file(file)
        buf = data[: read_size(profile)]
        b = _check_binary(buf, arch, profile)
        if b is not None:
            break
        if indir:  # 390: an interpreter must be a binary
            rule("sysproc.c:391")
            raise KernelError(Ebadexec)
        indir = True
        toks = parse_shebang(buf, profile)
        progargs = build_argv(toks, file, [], elem)
        callerargs = callerargs[1:]
        file = toks[0]
    image = _layout(b, arch, len(data))
    stack = stack_plan(progargs, callerargs, arch)
    newargv = (*progargs, *callerargs)
    return ExecPlan(image, file, newargv, elem, stack, truncate_args(newargv), indir)
