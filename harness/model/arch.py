"""Per-architecture facts the golden model needs, taken from 9front's ports.

Every number below comes from a 9front source file named in the comment next
to it (paths relative to the 9front tree; `seed` = e9bb7876e, `head` =
027f579f4).  The values are identical at both commits unless a comment says
otherwise.  Which port stands for which arch:

    amd64   sys/src/9/pc64      arm64   sys/src/9/arm64 (head only)
    mips    sys/src/9/sgi       mipsle  sys/src/9/mt7688 (from 8738adf91)
    386     sys/src/9/pc        arm     sys/src/9/bcm
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.errors import UsageError
from harness.model.profiles import ProfileName

KiB = 1024
MiB = 1024 * KiB

# a.out magic numbers: sys/include/a.out.h, _MAGIC(f, b) = f | ((4*b)+0)*b + 7
HDR_MAGIC = 0x00008000  # sys/include/a.out.h: header expansion (64-bit entry follows)
DYN_MAGIC = 0x80000000  # sys/include/a.out.h: dlm


def _magic(flags: int, b: int) -> int:
    return flags | ((4 * b) * b + 7)


MAGICS: dict[str, int] = {
    "A": _magic(0, 8),  # 68020
    "I": _magic(0, 11),  # intel 386
    "J": _magic(0, 12),  # intel 960 (retired)
    "K": _magic(0, 13),  # sparc
    "V": _magic(0, 16),  # mips 3000 BE
    "X": _magic(0, 17),  # att dsp 3210 (retired)
    "M": _magic(0, 18),  # mips 4000 BE
    "D": _magic(0, 19),  # amd 29000 (retired)
    "E": _magic(0, 20),  # arm
    "Q": _magic(0, 21),  # powerpc
    "N": _magic(0, 22),  # mips 4000 LE
    "L": _magic(0, 23),  # dec alpha (retired)
    "P": _magic(0, 24),  # mips 3000 LE (spim)
    "U": _magic(0, 25),  # sparc64
    "S": _magic(HDR_MAGIC, 26),  # amd64
    "T": _magic(HDR_MAGIC, 27),  # powerpc64
    "R": _magic(HDR_MAGIC, 28),  # arm64
}
MAGIC_NAMES: dict[int, str] = {v: k for k, v in MAGICS.items()}

I_MAGIC = MAGICS["I"]
V_MAGIC = MAGICS["V"]
M_MAGIC = MAGICS["M"]
E_MAGIC = MAGICS["E"]
N_MAGIC = MAGICS["N"]
P_MAGIC = MAGICS["P"]
S_MAGIC = MAGICS["S"]
R_MAGIC = MAGICS["R"]

# port/portdat.h: enum { SSEG, TSEG, DSEG, BSEG, ESEG, LSEG, SEG1, SEG2, SEG3, SEG4, NSEG }
SSEG, TSEG, DSEG, BSEG, ESEG, LSEG, SEG1, SEG2, SEG3, SEG4, NSEG = range(11)


def tos_size(pointer_size: int) -> int:
    """sizeof(Tos), sys/include/tos.h: prof{4 pointers, 2 ulong}, uvlong, 2 vlong, 2 ulong.

    ulong is 4 bytes on every Plan 9 arch; vlongs are 8-aligned; the struct is
    padded to 8.  Gives 72 with 8-byte pointers (probe exec.stack.params on
    amd64 and arm64) and 56 with 4-byte pointers.
    """
    prof = 4 * pointer_size + 2 * 4
    off = (prof + 7) & ~7  # cyclefreq is a uvlong
    off += 3 * 8 + 2 * 4  # cyclefreq, kcycles, pcycles; pid, clock
    return (off + 7) & ~7


@dataclass(frozen=True)
class Arch:
    name: str
    magics: tuple[int, ...]  # what `magic == AOUT_MAGIC` accepts in sysexec
    page_size: int  # BY2PG
    utzero: int  # UTZERO: first user text address
    ustktop: int  # USTKTOP: byte just beyond the user stack
    ustksize: int  # USTKSIZE
    word_size: int  # BY2WD (8 on amd64/arm64: sysexec's argv words are pointers)
    pointer_size: int  # sizeof(uintptr): sysexec's address arithmetic wraps at this width
    big_endian: bool
    segmap_size: int  # SEGMAPSIZE: newseg() refuses segments above SEGMAPSIZE*PTEPERTAB pages
    ptemapmem: int  # PTEMAPMEM: bytes mapped by one Pte
    nseg: int = NSEG  # port/portdat.h
    # the profile of the oldest kernel that has the port (harness.run.modelrun)
    default_profile: str = ProfileName.SEED.value
    compiler: str = ""  # the 9front compilers' letter (6c/6l): the agent's in-guest build
    elf_machines: tuple[str, ...] = ()  # pyelftools e_machine names of its ELF kernels

    @property
    def tos_size(self) -> int:
        return tos_size(self.pointer_size)

    @property
    def pgshift(self) -> int:
        return self.page_size.bit_length() - 1

    @property
    def ptepertab(self) -> int:
        return self.ptemapmem // self.page_size

    @property
    def max_seg_pages(self) -> int:
        """newseg()'s limit in port/segment.c: size > SEGMAPSIZE*PTEPERTAB -> Enovmem."""
        return self.segmap_size * self.ptepertab

    @property
    def addr_mask(self) -> int:
        return (1 << (8 * self.pointer_size)) - 1

    @property
    def stack_base(self) -> int:
        return self.ustktop - self.ustksize

    def text_align(self, magic: int, spim_switch: bool = False) -> int:
        """Alignment (mask+1) sysexec applies to the end of text for this magic.

        port/sysproc.c: S_MAGIC 2 MiB, V_MAGIC 16 KiB, R_MAGIC 64 KiB, any
        other accepted magic BY2PG; P_MAGIC 16 KiB only after 6fe654f50
        (profile switch "mips-spim-magic").
        """
        if magic == S_MAGIC:
            return 0x200000
        if magic == V_MAGIC or (magic == P_MAGIC and spim_switch):
            return 0x4000
        if magic == R_MAGIC:
            return 0x10000
        return self.page_size


ARCHES: dict[str, Arch] = {
    a.name: a
    for a in (
        Arch(
            name="amd64",
            magics=(S_MAGIC,),  # pc64/dat.h: AOUT_MAGIC (S_MAGIC)
            page_size=0x1000,  # pc64/mem.h: BY2PG 0x1000
            utzero=0x200000,  # pc64/mem.h: UTZERO 0x200000
            ustktop=0x00007FFFFFFFF000,  # pc64/mem.h: USTKTOP
            ustksize=16 * MiB,  # pc64/mem.h: USTKSIZE 16*MiB
            word_size=8,  # pc64/mem.h: BY2WD 8
            pointer_size=8,
            big_endian=False,
            segmap_size=65536,  # pc64/mem.h: SEGMAPSIZE
            ptemapmem=1 * MiB,  # pc64/mem.h: PTEMAPMEM
            compiler="6",
            elf_machines=("EM_X86_64", "EM_386"),
        ),
        Arch(
            name="arm64",
            magics=(R_MAGIC,),  # arm64/dat.h: AOUT_MAGIC (R_MAGIC)
            page_size=0x1000,  # arm64/mem.h: BY2PG 1<<PGSHIFT, PGSHIFT 12
            utzero=0x10000,  # arm64/mem.h: UTZERO UZERO+0x10000, UZERO 0
            # arm64/mem.h: USTKTOP (EVAMASK>>1)-0xFFFF, EVAMASK (1<<36)-1
            ustktop=(((1 << 36) - 1) >> 1) - 0xFFFF,
            ustksize=16 * MiB,  # arm64/mem.h: USTKSIZE
            word_size=8,  # arm64/mem.h: BY2WD 8
            pointer_size=8,
            big_endian=False,
            segmap_size=8192,  # arm64/mem.h: SEGMAPSIZE
            ptemapmem=1 * MiB,  # arm64/mem.h: PTEMAPMEM
            default_profile=ProfileName.CURRENT.value,  # arm64 qemu: dd7985423 (2023-10-29)
            compiler="7",
            elf_machines=("EM_AARCH64",),
        ),
        Arch(
            name="mips",
            magics=(V_MAGIC, M_MAGIC),  # sgi/dat.h: AOUT_MAGIC V_MAGIC || magic==M_MAGIC
            page_size=4096,  # sgi/mem.h: BY2PG 4096 (BIGPAGES is not set in sgi/mkfile)
            utzero=0x4000,  # sgi/mem.h: UTZERO UZERO+MAXBY2PG, MAXBY2PG 16K, UZERO KUSEG 0
            ustktop=0x80000000 - 4096,  # sgi/mem.h: USTKTOP KZERO-BY2PG, KZERO KSEG0 0x80000000
            ustksize=8 * MiB,  # sgi/mem.h: USTKSIZE
            word_size=4,  # sgi/mem.h: BY2WD 4
            pointer_size=4,
            big_endian=True,
            segmap_size=512,  # sgi/mem.h: SEGMAPSIZE
            ptemapmem=1 * MiB,  # sgi/mem.h: PTEMAPMEM
            compiler="v",
            elf_machines=("EM_MIPS",),
        ),
        Arch(
            name="mipsle",
            magics=(N_MAGIC, P_MAGIC),  # mt7688/dat.h: AOUT_MAGIC N_MAGIC || magic==P_MAGIC
            page_size=4096,  # mt7688/mem.h: BY2PG 4096 (BIGPAGES commented out in mkfile)
            utzero=0x4000,  # mt7688/mem.h: UTZERO UZERO+MAXBY2PG
            ustktop=0x80000000 - 4096,  # mt7688/mem.h: USTKTOP KZERO-BY2PG
            ustksize=8 * MiB,  # mt7688/mem.h: USTKSIZE
            word_size=4,  # mt7688/mem.h: BY2WD 4
            pointer_size=4,
            big_endian=False,
            segmap_size=512,  # mt7688/mem.h: SEGMAPSIZE
            ptemapmem=1 * MiB,  # mt7688/mem.h: PTEMAPMEM
            default_profile=ProfileName.CURRENT.value,  # mt7688: 8738adf91 (2023-03-08)
            elf_machines=("EM_MIPS",),
        ),
        Arch(
            name="386",
            magics=(I_MAGIC,),  # pc/dat.h: AOUT_MAGIC (I_MAGIC)
            page_size=4096,  # pc/mem.h: BY2PG
            utzero=0x1000,  # pc/mem.h: UTZERO UZERO+BY2PG
            # pc/mem.h: USTKTOP VMAP-BY2PG; VMAP KMAP-VMAPSIZE = 0xE0000000
            # (KZERO 0xF0000000, VPTSIZE = KMAPSIZE = BY2XPG 4 MiB)
            ustktop=0xE0000000 - 4096,
            ustksize=16 * MiB,  # pc/mem.h: USTKSIZE
            word_size=4,  # pc/mem.h: BY2WD
            pointer_size=4,
            big_endian=False,
            segmap_size=1984,  # pc/mem.h: SEGMAPSIZE
            ptemapmem=1 * MiB,  # pc/mem.h: PTEMAPMEM
        ),
    )
}

# 32-bit arm (bcm): not a model target (no QEMU profile, no scenarios), but
# `harness aout` understands its binaries (GOARCH=arm builds E_MAGIC files).
AOUT_ONLY_ARCHES: dict[str, Arch] = {
    "arm": Arch(
        name="arm",
        magics=(E_MAGIC,),  # bcm/dat.h: AOUT_MAGIC (E_MAGIC)
        page_size=4096,  # bcm/mem.h: BY2PG 4*KiB
        utzero=0x1000,  # bcm/mem.h: UTZERO UZERO+BY2PG
        ustktop=0x40000000,  # bcm/mem.h: USTKTOP
        ustksize=8 * MiB,  # bcm/mem.h: USTKSIZE
        word_size=4,  # bcm/mem.h: BY2WD
        pointer_size=4,
        big_endian=False,
        segmap_size=1984,  # bcm/mem.h: SEGMAPSIZE
        ptemapmem=1 * MiB,  # bcm/mem.h: PTEMAPMEM
    ),
}

ALL_ARCHES: dict[str, Arch] = {**ARCHES, **AOUT_ONLY_ARCHES}

# The arches `harness run` boots under QEMU (harness/qemu/profiles.py has a
# machine for each) and images/ has manifests for; the others are modelled only.
QEMU_ARCHES: tuple[str, ...] = ("amd64", "arm64", "mips")


def get_arch(name: str) -> Arch:
    try:
        return ALL_ARCHES[name]
    except KeyError:
        raise UsageError(f"unknown arch {name!r} (known: {', '.join(ALL_ARCHES)})") from None


def arch_for_magic(magic: int) -> Arch | None:
    """The arch whose kernel accepts this magic (each magic belongs to one port)."""
    for arch in ALL_ARCHES.values():
        if magic in arch.magics:
            return arch
    return None
