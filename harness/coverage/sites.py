"""The model's rule sites, as data.

A site is one rule the model reproduces: an ``error()`` of the kernel it
raises the same way, or a branch a kernel line (or a later commit's line, for
a profile switch) decides.  The model marks each with
``harness.model.coverage.rule(ID)``; ``tests/fuzz/test_sites.py`` checks that
every id the model uses is here, that every one here is used, and that the
seed's error() lines are exactly the ERROR sites of sysproc.c.

An id is ``FILE:LINE`` for the seed (e9bb7876e) or ``FILE@COMMIT:LINE`` for
the line of a later commit that a profile switch follows; FILE is the path
under sys/src/9 without ``port/``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from harness.model.profiles import Profile, Sw

SEED_COMMIT = "e9bb7876e"


class Kind(enum.StrEnum):
    ERROR = "error"  # an error() the model raises with the kernel's errstr
    BRANCH = "branch"  # a decision a kernel line makes (a profile switch's two sides)


@dataclass(frozen=True)
class Site:
    id: str
    kind: Kind
    what: str
    reachable: bool = True  # False: no program can get there (why in `what`)
    switch: str = ""  # "+NAME": only under profiles with switch NAME; "-NAME": only without it
    arch: str = ""  # only on this arch (an arch's own trap code)

    def applies(self, profile: Profile, arch: str = "") -> bool:
        """Whether a model running PROFILE (on ARCH, when given) can reach this site at all."""
        if self.arch and arch and arch != self.arch:
            return False
        if not self.switch:
            return True
        return profile.has(self.switch[1:]) == (self.switch[0] == "+")

    @property
    def file(self) -> str:
        return self.id.split(":", 1)[0].split("@", 1)[0]

    @property
    def commit(self) -> str:
        head = self.id.split(":", 1)[0]
        return head.split("@", 1)[1] if "@" in head else SEED_COMMIT

    @property
    def line(self) -> int:
        return int(self.id.rsplit(":", 1)[1])

    @property
    def kernel_path(self) -> str:
        """The path in a 9front tree (sys/src/9/...)."""
        return f"sys/src/9/{self.file}" if "/" in self.file else f"sys/src/9/port/{self.file}"


E, B = Kind.ERROR, Kind.BRANCH

SITES: tuple[Site, ...] = (
    # port/sysproc.c at the seed: every error() (the same lines as the corpus test's ERROR_SITES)
    Site("sysproc.c:16", E, "sysr1: only eve (Eperm)"),
    Site("sysproc.c:42", E, "rfork: RFFDG with RFCFDG (Ebadarg)"),
    Site("sysproc.c:44", E, "rfork: RFNAMEG with RFCNAMEG (Ebadarg)"),
    Site("sysproc.c:46", E, "rfork: RFENVG with RFCENVG (Ebadarg)"),
    Site("sysproc.c:55", E, "rfork without RFPROC: RFMEM or RFNOWAIT (Ebadarg)"),
    Site("sysproc.c:97", E, "rfork: newproc() nil, the proc table full ('no procs')", reachable=False),
    Site("sysproc.c:328", E, "exec: argv[0] nil (Ebadarg)"),
    Site("sysproc.c:362", E, "exec: a HDR_MAGIC header shorter than 40 bytes (Ebadexec)"),
    Site("sysproc.c:370", E, "exec: entry below the text start (Ebadexec)"),
    Site("sysproc.c:373", E, "exec: text end at or before entry, or into the stack (Ebadexec)"),
    Site("sysproc.c:391", E, "exec: an interpreter that is not a binary (Ebadexec)"),
    Site("sysproc.c:399", E, "exec: not an a.out and no usable #! line (Ebadexec)"),
    Site("sysproc.c:421", E, "exec: text, data or bss end into the stack (Ebadexec)"),
    Site("sysproc.c:444", E, "exec: an argument with no NUL within USTKSIZE (Ebadarg)"),
    Site("sysproc.c:447", E, "exec: arguments of USTKSIZE bytes or more (Enovmem)"),
    Site("sysproc.c:460", E, "exec: the new stack's pages reach USTKSIZE (Enovmem)"),
    Site("sysproc.c:475", E, "exec: no room below the old stack (Enovmem)", reachable=False),
    Site("sysproc.c:506", E, "exec pass 2: an argument changed since pass 1 (a race)", reachable=False),
    Site("sysproc.c:510", E, "exec pass 2: an argument lost its NUL since pass 1 (a race)", reachable=False),
    Site("sysproc.c:756", E, "errstr: a zero-length buffer (Ebadarg)"),
    Site("sysproc.c:804", E, "noted outside a note handler (Egreg; the arch noted() then pexits)"),
    Site("sysproc.c:827", E, "segbrk of text, data, stack, physical, fixed or sticky (Ebadarg)"),
    Site("sysproc.c:832", E, "segbrk: no segment at the address (Ebadarg)"),
    Site("sysproc.c:885", E, "segdetach: no segment at the address (Ebadarg)"),
    Site("sysproc.c:893", E, "segdetach of the stack (Ebadarg)"),
    Site("sysproc.c:916", E, "segfree: from+len wraps (Ebadarg)"),
    Site("sysproc.c:919", E, "segfree: no segment at from (Ebadarg)"),
    Site("sysproc.c:928", E, "segfree: the range runs past the segment (Ebadarg)"),
    Site("sysproc.c:1232", E, "semacquire: the address not in a writable segment (Ebadarg)"),
    Site("sysproc.c:1235", E, "semacquire: a negative semaphore (Ebadarg)"),
    Site("sysproc.c:1252", E, "tsemacquire: the address not in a writable segment (Ebadarg)"),
    Site("sysproc.c:1255", E, "tsemacquire: a negative semaphore (Ebadarg)"),
    Site("sysproc.c:1271", E, "semrelease: the address not in a writable segment (Ebadarg)"),
    Site("sysproc.c:1275", E, "semrelease: a negative delta or semaphore (Ebadarg)"),
    # branches of sysproc.c a profile switch decides
    Site("sysproc.c:106", B, "rfork: the child gets a copy of the parent's notes (seed)", switch="-" + Sw.RFORK_CHILD_NO_NOTES),
    Site("sysproc.c@91f79ce9f:108", B, "rfork: the child starts with no notes (rfork-child-no-notes)", switch="+" + Sw.RFORK_CHILD_NO_NOTES),
    Site("sysproc.c:246", B, "shargs: the seed's #! split on blanks and tabs in 40 bytes", switch="-" + Sw.SHEBANG_TOKENIZE),
    Site("sysproc.c@520a39efc:258", B, "shargs: the #! line tokenized, 256 bytes (shebang-tokenize)", switch="+" + Sw.SHEBANG_TOKENIZE),
    # port/chan.c
    Site("chan.c:1246", B, "namelenerror: \"'name' error\" (seed)", switch="-" + Sw.NAMEC_ERROR_SUFFIX),
    Site("chan.c@6eed7a478:1249", B, "namelenerror: \"error: 'name'\" (namec-error-suffix)", switch="+" + Sw.NAMEC_ERROR_SUFFIX),
    Site("chan.c:1065", B, "walk: a name after the first of a batch fails 'does not exist' (seed)", switch="-" + Sw.WALK_ERROR_ENONEXIST),
    Site("chan.c@6eed7a478:1068", B, "walk: ... fails 'file does not exist' (walk-error-enonexist)", switch="+" + Sw.WALK_ERROR_ENONEXIST),
    # port/initcode.c: the boot environment's fds 1 and 2
    Site("initcode.c:27", B, "initcode opens #c/cons for fds 1 and 2 (seed)", switch="-" + Sw.BOOT_FDS_DEV_CONS),
    Site("initcode.c@e2509e765:40", B, "initcode opens /dev/cons after binding #c (boot-fds-dev-cons)", switch="+" + Sw.BOOT_FDS_DEV_CONS),
    # port/fault.c and the traps: the fate of a foreign image the model follows (harness.model.fault)
    Site("fault.c:76", E, "demand load of a text page the file is too short for: pexit Eioload"),
    Site("fault.c:272", B, "zero code runs to the text top: the fetch there faults (not arm64)"),
    Site("arm64/trap.c@dd7985423:176", B, "arm64: the zero word is an undefined instruction, 'sys: trap: unknown'",
         arch="arm64"),
    # the ' pc=' suffix of a sys: note
    Site("pc64/trap.c:571", B, "a sys: note's text cut to ERRMAX-15, then ' pc=' (seed)", switch="-" + Sw.NOTE_PC_AFTER_TEXT, arch="amd64"),
    Site("proc.c@c8e25d2a1:927", B, "' pc=' after the whole text, cut to ERRMAX (note-pc-after-text)", switch="+" + Sw.NOTE_PC_AFTER_TEXT),
    Site("proc.c@3e1154879:1020", B, "a shared sys: note gets no ' pc=' (note-shared)", switch="+" + Sw.NOTE_SHARED),
)

BY_ID: dict[str, Site] = {s.id: s for s in SITES}


def files() -> list[str]:
    """The kernel files with sites, sysproc.c first."""
    seen = sorted({s.file for s in SITES}, key=lambda f: (f != "sysproc.c", f))
    return seen


def of_file(name: str) -> list[Site]:
    return sorted((s for s in SITES if s.file == name), key=lambda s: (s.commit != SEED_COMMIT, s.line))
