"""Table-driven: one case per kernel rule, each naming the source line it encodes.

``sysproc.c:N`` is a line of the seed (shared/seeds/sysproc.c, 9front
e9bb7876e); ``segment.c f`` / ``proc.c f`` / ``chan.c f`` a function of that
commit's port/ directory.  Every case is a program in the compiled line format
(harness/program.py), run on the model (amd64, seed profile unless the case
says otherwise), and a check of one record of one step.  Rules whose check
needs two records compare them with a small function (``Cmp``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from harness.model.machine import Machine
from harness.model.profiles import CURRENT, SEED
from harness.program import parse
from harness.trace.schema import Record

EBADARG = "bad arg in system call"
ENOVMEM = "virtual memory allocation failed"
ESOVERLAP = "segments overlap"
EINUSE = "device or object already in use"
ENOCHILD = "no living children"
EPERM = "permission denied"
EGREG_STACKTOP = 0x7FFFFFFFF000  # pc64/mem.h USTKTOP
USTKSIZE = 16 << 20

Cmp = Callable[[list[Record]], bool]


@dataclass(frozen=True)
class Rule:
    src: str  # the source line or function the rule encodes
    body: str  # block main
    step: int  # the step whose record is checked (in proc `proc`)
    ret: Any = None  # expected ret (None: not checked unless err is given)
    err: str | None = None  # expected errstr (checked when ret == -1)
    out: dict[str, Any] = field(default_factory=dict)  # expected out items
    extra: str = ""  # more blocks (child bodies)
    proc: str = "main"
    cmp: Cmp | None = None  # a check over the whole trace instead
    arch: str = "amd64"
    profile: str = SEED
    bufs: str = ""  # more buffers


def run(rule: Rule) -> list[Record]:
    text = f"nhprog 1\nscenario rule\nbuf b 256\nbuf c 256\n{rule.bufs}block main\n{rule.body}\nend\n{rule.extra}"
    return Machine(rule.arch, rule.profile).run(parse(text))


def find(recs: list[Record], step: int, proc: str = "main") -> Record:
    (r,) = [r for r in recs if r.step == step and r.proc == proc and r.kind not in ("start", "note")]
    return r


def kid(body: str, name: str = "k") -> str:
    return f"block {name}\n{body}\nend\n"


# --- rfork (sysproc.c sysrfork) ------------------------------------------------------

RFORK = [
    Rule("sysproc.c:41 RFFDG|RFCFDG", "1 rfork i:0x1014", 1, -1, EBADARG),
    Rule("sysproc.c:43 RFNAMEG|RFCNAMEG", "1 rfork i:0x411", 1, -1, EBADARG),
    Rule("sysproc.c:45 RFENVG|RFCENVG", "1 rfork i:0x812", 1, -1, EBADARG),
    Rule("sysproc.c:43 RFNAMEG|RFCNAMEG without RFPROC", "1 rfork i:0x401", 1, -1, EBADARG),
    Rule("sysproc.c:45 RFENVG|RFCENVG without RFPROC", "1 rfork i:0x802", 1, -1, EBADARG),
    Rule("sysproc.c:41 pairs are checked before RFPROC's absence", "1 rfork i:0x1004", 1, -1, EBADARG),
    Rule("sysproc.c:54 RFMEM without RFPROC", "1 rfork i:0x20", 1, -1, EBADARG),
    Rule("sysproc.c:54 RFNOWAIT without RFPROC", "1 rfork i:0x40", 1, -1, EBADARG),
    Rule("sysproc.c:54 RFMEM|RFNOWAIT without RFPROC", "1 rfork i:0x60", 1, -1, EBADARG),
    Rule("sysproc.c:93 no RFPROC returns 0", "1 rfork i:0x200e", 1, 0),
    Rule("sysproc.c:93 no RFPROC, RFREND alone returns 0", "1 rfork i:0x2000", 1, 0),
    Rule("sysproc.c:93 no flags at all returns 0", "1 rfork i:0", 1, 0),
    Rule("sysproc.c:61 no RFPROC, RFCFDG: an empty fd table", "1 rfork i:0x1000\n2 probe w:fds", 2, out={"fds": []}),
    Rule(
        "sysproc.c:59 no RFPROC, RFFDG: a copy of the fd table",
        "1 rfork i:0x4\n2 probe w:fds",
        2,
        out={"fds": [[0, "r", "/dev/cons"], [1, "w", "#c/cons"], [2, "w", "#c/cons"]]},
    ),
    Rule(
        "sysproc.c:74 no RFPROC, RFNOMNT: # devices outside |decp refused",
        "1 rfork i:0x4000\n2 open s:#s i:0",
        2,
        -1,
        "mount/attach disallowed",
    ),
    Rule(
        "sysproc.c:82 no RFPROC, RFCENVG: an empty environment",
        "1 putenv s:k s:v\n2 rfork i:0x800\n3 probe w:env s:k",
        3,
        out={"value": None},
    ),
    Rule(
        "sysproc.c:61 no RFPROC, RFFDG: the old table is closed, a pipe end closed in the copy is closed",
        "1 pipe b:c\n2 rfork i:0x4\n3 close i:4\n4 read i:3 b:b i:8",
        4,
        0,
    ),
    Rule(
        "sysproc.c:85 no RFPROC, RFENVG: a copy of the environment",
        "1 putenv s:k s:v\n2 rfork i:0x2\n3 probe w:env s:k",
        3,
        out={"value": "v"},
    ),
    Rule(
        "sysproc.c:88 no RFPROC, RFNOTEG: the only user of its note group keeps it (proc.c:1846 setnoteid)",
        "1 probe w:noteid\n2 rfork i:0x8\n3 probe w:noteid",
        3,
        cmp=lambda rs: find(rs, 1).out["noteid"] == find(rs, 3).out["noteid"],
    ),
    Rule(
        "sysproc.c:88 no RFPROC, RFNOTEG: a group shared with a live child is left for a new one",
        "1 rfork i:0x10 c:k\n2 probe w:noteid\n3 rfork i:0x8\n4 probe w:noteid\n5 rendezvous i:1 i:0",
        4,
        extra=kid("9 rendezvous i:1 i:0"),
        cmp=lambda rs: find(rs, 2).out["noteid"] != find(rs, 4).out["noteid"],
    ),
    Rule(
        "proc.c pidalloc: the child of rfork(RFNOTEG) is its own note group, its pid (1874)",
        "1 rfork i:0x18 c:k\n2 await b:b i:256",
        9,
        proc="s1",
        extra=kid("9 probe w:noteid"),
        cmp=lambda rs: find(rs, 9, "s1").out["noteid"] == find(rs, 1).ret,
    ),
    Rule(
        "proc.c newproc: the child's errstr starts empty (653), sysrfork does not copy it",
        "1 open s:/nhnone i:0\n2 rfork i:0x10 c:k\n3 await b:b i:256",
        9,
        proc="s2",
        extra=kid("9 probe w:errstr"),
        out={"errstr": ""},
    ),
    Rule(
        "proc.c newproc: with RFMEM too the child's errstr starts empty",
        "1 open s:/nhnone i:0\n2 rfork i:0x30 c:k\n3 await b:b i:256",
        9,
        proc="s2",
        extra=kid("9 probe w:errstr"),
        out={"errstr": ""},
    ),
    Rule(
        "sysproc.c:115 the child keeps the note group without RFNOTEG",
        "1 rfork i:0x10 c:k\n2 probe w:noteid\n3 await b:b i:256",
        2,
        extra=kid("9 probe w:noteid"),
        cmp=lambda rs: find(rs, 2).out["noteid"] == find(rs, 9, "s1").out["noteid"],
    ),
    Rule(
        "sysproc.c:114 RFNOTEG: the child gets a note group of its own",
        "1 rfork i:0x18 c:k\n2 probe w:noteid\n3 await b:b i:256",
        2,
        extra=kid("9 probe w:noteid"),
        cmp=lambda rs: find(rs, 2).out["noteid"] != find(rs, 9, "s1").out["noteid"],
    ),
    Rule(
        "sysproc.c:177 without RFFDG the child shares the fd table",
        "1 rfork i:0x10 c:k\n2 await b:b i:256\n3 probe w:fds",
        3,
        extra=kid("9 open s:/dev/null i:0"),
        cmp=lambda rs: [3, "r", "/dev/null"] in find(rs, 3).out["fds"],
    ),
    Rule(
        "sysproc.c:172 RFFDG: the child's fd table is a copy",
        "1 rfork i:0x14 c:k\n2 await b:b i:256\n3 probe w:fds",
        3,
        extra=kid("9 open s:/dev/null i:0"),
        cmp=lambda rs: len(find(rs, 3).out["fds"]) == 3,
    ),
    Rule(
        "sysproc.c:174 RFCFDG: the child starts with no fds",
        "1 rfork i:0x1010 c:k\n2 await b:b i:256",
        9,
        proc="s1",
        extra=kid("9 probe w:fds"),
        out={"fds": []},
    ),
    Rule(
        "sysproc.c:211 without RFENVG the child shares the environment",
        "1 rfork i:0x10 c:k\n2 await b:b i:256\n3 probe w:env s:k",
        3,
        extra=kid("9 putenv s:k s:kid"),
        out={"value": "kid"},
    ),
    Rule(
        "sysproc.c:208 RFENVG: the child's environment is a copy",
        "1 putenv s:k s:mom\n2 rfork i:0x12 c:k\n3 await b:b i:256\n4 probe w:env s:k",
        4,
        extra=kid("9 putenv s:k s:kid"),
        out={"value": "mom"},
    ),
    Rule(
        "sysproc.c:205 RFCENVG: the child starts with an empty environment",
        "1 putenv s:k s:mom\n2 rfork i:0x810 c:k\n3 await b:b i:256",
        9,
        proc="s2",
        extra=kid("9 probe w:env s:k"),
        out={"value": None},
    ),
    Rule(
        "sysproc.c:200 without RFREND the child shares the rendezvous group",
        "1 rfork i:0x10 c:k\n2 rendezvous i:5 i:77",
        2,
        88,
        extra=kid("9 rendezvous i:5 i:88"),
    ),
    Rule(
        "sysproc.c:219 RFNOWAIT: the child is not the caller's to wait for",
        "1 rfork i:0x50 c:k\n2 await b:b i:256",
        2,
        -1,
        ENOCHILD,
        extra=kid("9 exits s:x"),
    ),
    Rule(
        "sysproc.c:131 the child's text is the parent's (wait message)",
        "1 rfork i:0x10 c:k\n2 await b:b i:256",
        2,
        cmp=lambda rs: find(rs, 2).out["text"].endswith(f"'nhagent {find(rs, 1).ret}: bye'"),
        extra=kid("9 exits s:bye"),
    ),
    Rule(
        "sysproc.c:133 the child's /proc/N/args starts empty",
        "1 rfork i:0x10 c:k\n2 await b:b i:256",
        9,
        proc="s1",
        extra=kid("9 probe w:procargs"),
        out={"procargs": ""},
    ),
    Rule(
        "sysproc.c:165 without RFMEM the child's data is a copy (copy on write)",
        "1 touch w:w b:b i:1\n2 rfork i:0x10 c:k\n3 await b:b+8 i:200\n4 touch w:r b:b",
        4,
        0,
        extra=kid("9 touch w:w b:b i:2"),
        out={"value": 1},
    ),
    Rule(
        "sysproc.c:165 RFMEM: the child shares data and bss",
        "1 touch w:w b:b i:1\n2 rfork i:0x30 c:k\n3 await b:b+8 i:200\n4 touch w:r b:b",
        4,
        0,
        extra=kid("9 touch w:w b:b i:2"),
        out={"value": 2},
    ),
]


# --- segments (sysproc.c syssegbrk..syssegfree, segment.c) ------------------------------

SEGMENTS = [
    Rule("sysproc.c:827 segbrk of Text", "1 segbrk a:text a:text+0x1000", 1, -1, EBADARG),
    Rule("sysproc.c:827 segbrk of Data", "1 segbrk a:data a:data+0x1000", 1, -1, EBADARG),
    Rule("sysproc.c:827 segbrk of Stack", "1 segbrk a:stack a:stack+0x1000", 1, -1, EBADARG),
    Rule("sysproc.c:832 segbrk outside every segment", "1 segbrk a:0x10 a:0x20", 1, -1, EBADARG),
    Rule("sysproc.c:829 segbrk of Bss is ibrk", "1 segbrk a:bss a:end+0x3000", 1, 0),
    Rule(
        "sysproc.c:829 segbrk of an attached Shared segment grows it",
        "1 segattach i:0 s:shared i:0x30000000 i:0x1000\n2 segbrk i:0x30000000 i:0x30003000\n3 probe w:segments",
        3,
        cmp=lambda rs: find(rs, 3).out["segments"][-1][2:4] == [0x30000000, 0x30003000],
    ),
    Rule(
        "segment.c ibrk: addr 0 returns the segment base",
        "1 brk i:0\n2 probe w:segments",
        1,
        cmp=lambda rs: find(rs, 1).ret == find(rs, 2).out["segments"][3][2],
    ),
    Rule("segment.c ibrk: below the data segment", "1 brk a:data-0x1000", 1, -1, ENOVMEM),
    Rule(
        "segment.c ibrk: between data and bss base shrinks bss to its base",
        "1 brk a:data\n2 probe w:segments",
        2,
        cmp=lambda rs: find(rs, 1).ret == 0 and find(rs, 2).out["segments"][3][2] == find(rs, 2).out["segments"][3][3],
    ),
    Rule("segment.c ibrk: growth rounds to a page", "1 brk a:end+1\n2 probe w:brk", 2,
         cmp=lambda rs: find(rs, 2).out["brk"] % 0x1000 == 0),
    Rule("segment.c ibrk: into another segment", "1 brk a:stack+0x1000", 1, -1, ESOVERLAP),
    Rule("segment.c ibrk: beyond SEGMAPSIZE*PTEPERTAB pages", "1 brk a:stack-0x1000", 1, -1, ENOVMEM),
    Rule(
        "segment.c ibrk: a shared (RFMEM) segment is not shrunk",
        "1 rfork i:0x30 c:k\n2 brk a:bss",
        2,
        -1,
        EINUSE,
        extra=kid("9 sleep i:1000"),
    ),
    Rule("segment.c segattach: va at or above USTKTOP", "1 segattach i:0 s:shared a:stacktop i:4096", 1, -1, EBADARG),
    Rule("segment.c segattach: length 0", "1 segattach i:0 s:shared i:0x30000000 i:0", 1, -1, EBADARG),
    Rule(
        "segment.c segattach: va 0 finds the hole just below the stack",
        "1 segattach i:0 s:shared i:0 i:0x2000",
        1,
        EGREG_STACKTOP - USTKSIZE - 0x2000,
    ),
    Rule(
        "segment.c segattach: va rounded down, len grown by va's page offset",
        "1 segattach i:0 s:shared i:0x30000800 i:0x1000\n2 probe w:segments",
        2,
        cmp=lambda rs: find(rs, 1).ret == 0x30000000
        and find(rs, 2).out["segments"][-1][2:4] == [0x30000000, 0x30002000],
    ),
    Rule("segment.c segattach: va+len beyond USTKTOP", "1 segattach i:0 s:shared a:stacktop-0x1000 i:0x2000", 1, -1,
         EBADARG),
    Rule("segment.c segattach: overlap", "1 segattach i:0 s:shared a:text i:4096", 1, -1, ESOVERLAP),
    Rule("segment.c segattach: unknown class", "1 segattach i:0 s:nonesuch i:0x30000000 i:4096", 1, -1, EBADARG),
    Rule("segment.c segattach: overlap is checked before the class", "1 segattach i:0 s:nonesuch a:text i:4096", 1,
         -1, ESOVERLAP),
    Rule("sysproc.c:885 segdetach outside every segment", "1 segdetach a:0x10", 1, -1, EBADARG),
    Rule("sysproc.c:893 segdetach of the stack", "1 segdetach a:stack+0x10", 1, -1, EBADARG),
    Rule(
        "sysproc.c:895 segdetach of an attached segment frees its slot",
        "1 segattach i:0 s:shared i:0x30000000 i:0x1000\n2 segdetach i:0x30000800\n3 probe w:segments",
        3,
        cmp=lambda rs: find(rs, 2).ret == 0 and len(find(rs, 3).out["segments"]) == 4,
    ),
    Rule("sysproc.c:916 segfree: from+len wraps", "1 segfree i:0xfffffffffffff000 i:0x2000", 1, -1, EBADARG),
    Rule("sysproc.c:919 segfree outside every segment", "1 segfree a:0x10 i:4096", 1, -1, EBADARG),
    Rule("sysproc.c:922 segfree of less than a whole page does nothing", "1 segfree a:bss+1 i:10", 1, 0),
    Rule("sysproc.c:928 segfree past the segment's top", "1 segfree a:end-0x1000 i:0x100000", 1, -1, EBADARG),
    Rule(
        "sysproc.c:930 segfree'd pages read as zeros again",
        "1 brk a:end+0x3000\n2 touch w:w a:end-0x1000 i:9\n3 segfree a:end-0x1000 i:0x1000\n4 touch w:r a:end-0x1000",
        4,
        0,
        out={"value": 0},
    ),
]


# --- exits, await, errstr and the rest of sysproc.c ------------------------------------------------------

MISC = [
    Rule("sysproc.c:690 exits(nil): an empty wait message", "1 rfork i:0x10 c:k\n2 await b:b i:256", 2,
         extra=kid("9 exits n:"), cmp=lambda rs: find(rs, 2).out["text"].endswith(" ''")),
    Rule("sysproc.c:690 exits(\"\") is a clean exit too", "1 rfork i:0x10 c:k\n2 await b:b i:256", 2,
         extra=kid("9 exits s:"), cmp=lambda rs: find(rs, 2).out["text"].endswith(" ''")),
    Rule("sysproc.c:678 exits with a bad pointer", "1 rfork i:0x10 c:k\n2 await b:b i:256", 2,
         extra=kid("9 exits a:0x1"), cmp=lambda rs: find(rs, 2).out["text"].endswith(": invalid exit string'")),
    Rule(
        "sysproc.c:683 exits: no NUL in ERRMAX bytes keeps ERRMAX-1 (then pexit's 127-byte message)",
        "1 rfork i:0x10 c:k\n2 await b:b i:256",
        2,
        extra=kid("9 exits s:" + "y" * 300),
        cmp=lambda rs: len(find(rs, 2).out["text"].split(" '", 1)[1].rstrip("'")) == 127,
    ),
    Rule(
        "sysproc.c:731 await: \"%d %lud %lud %lud %q\"",
        "1 rfork i:0x10 c:k\n2 await b:b i:256",
        2,
        extra=kid("9 exits 's:a b'"),
        cmp=lambda rs: find(rs, 2).out["text"] == f"{find(rs, 1).ret} 0 0 0 'nhagent {find(rs, 1).ret}: a b'",
    ),
    Rule(
        "sysproc.c:731 await: snprint truncates to the buffer",
        "1 rfork i:0x10 c:k\n2 await b:b i:4",
        2,
        3,
        extra=kid("9 exits s:x"),
    ),
    Rule("proc.c pwait: no children", "1 await b:b i:256", 1, -1, ENOCHILD),
    Rule(
        "sysproc.c:729 await: a bad buffer kills the caller",
        "1 rfork i:0x10 c:k\n2 await b:b i:256",
        2,
        extra=kid("9 rfork i:0x10 c:g\n10 await a:0x10 i:256") + kid("11 exits n:", "g"),
        cmp=lambda rs: "sys: bad address in syscall" in find(rs, 2).out["text"],
    ),
    Rule("sysproc.c:756 errstr with nbuf 0", "1 errstr b:b i:0", 1, -1, EBADARG),
    Rule("sysproc.c:762 errstr hands out the last error", "1 werrstr s:boom\n2 errstr b:b i:64", 2, 0,
         out={"text": "boom"}),
    Rule("sysproc.c:765 errstr keeps the buffer's old text as the new error",
         "1 werrstr s:boom\n2 errstr b:b i:64\n3 werrstr s:two\n4 errstr b:b i:64\n5 probe w:errstr", 5,
         out={"errstr": "boom"}),
    Rule("sysproc.c:758 errstr clamps nbuf to ERRMAX", "1 werrstr s:" + "z" * 200 + "\n2 errstr b:b i:300", 2, 0,
         cmp=lambda rs: len(find(rs, 2).out["text"]) == 127),
    Rule("sysproc.c:762 errstr: a short buffer cuts the error", "1 werrstr s:abcdefgh\n2 errstr b:b i:5", 2, 0,
         out={"text": "abcd"}),
    Rule("sysproc.c _errstr: the old call uses 64 bytes", "1 werrstr s:" + "q" * 100 + "\n2 _errstr b:b", 2, 0,
         cmp=lambda rs: len(find(rs, 2).out["text"]) == 63),
    Rule("sysproc.c:650 sleep of 0 returns at once", "1 sleep i:0", 1, 0),
    Rule("sysproc.c:650 sleep of a negative time returns at once", "1 sleep i:-5", 1, 0),
    Rule("proc.c procalarm: no alarm pending returns 0", "1 alarm i:1000", 1, 0),
    Rule("proc.c procalarm: the previous alarm's remaining time", "1 alarm i:1000\n2 alarm i:0", 2, 1000),
    Rule("sysproc.c sysr1: the host owner may", "1 sysr1", 1, 0),
    Rule("sysproc.c semacquire: negative value", "1 touch w:w b:b i:-1\n2 semacquire b:b i:0", 2, -1, EBADARG),
    Rule("sysproc.c semacquire: available, returns 1", "1 touch w:w b:b i:1\n2 semacquire b:b i:1", 2, 1),
    Rule("sysproc.c semacquire: not available, no block, returns 0", "1 semacquire b:b i:0", 1, 0),
    Rule("sysproc.c tsemacquire: times out with 0", "1 tsemacquire b:b i:10", 1, 0),
    Rule("sysproc.c tsemacquire: negative value", "1 touch w:w b:b i:-1\n2 tsemacquire b:b i:10", 2, -1, EBADARG),
    Rule("sysproc.c semrelease: negative delta", "1 semrelease b:b i:-1", 1, -1, EBADARG),
    Rule("sysproc.c semrelease: returns the new value", "1 touch w:w b:b i:2\n2 semrelease b:b i:3", 2, 5),
    Rule(
        "sysproc.c semacquire: a note interrupts the wait",
        "1 notify h:cont\n2 alarm i:10\n3 semacquire b:b i:1",
        3,
        -1,
        "interrupted",
    ),
    Rule("sysproc.c sysrendezvous: values are exchanged", "1 rfork i:0x10 c:k\n2 rendezvous i:7 i:111", 9, 111,
         proc="s1", extra=kid("9 rendezvous i:7 i:222")),
    Rule("proc.c postnote: a note to a dead pid fails in namec", "1 postnote i:1 i:99999 s:x", 1, -1,
         "'/proc/99999' file does not exist"),
]


# --- namec/walk errors (chan.c walk, namelenerror) -------------------------------------------
NAMEC = [
    Rule("chan.c walk: the first name of a batch fails with the server's error (1027)",
         "1 open s:/nhnone i:0", 1, -1, "'/nhnone' file does not exist"),
    Rule("chan.c walk: the first name after a mount point (/tmp) is a new batch",
         "1 open s:/tmp/nhnone i:0", 1, -1, "'/tmp/nhnone' file does not exist"),
    Rule("chan.c walk: a later name of the batch fails with walk's 'does not exist' (1065)",
         "1 open s:/tmp/nh/nhnone i:0", 1, -1, "'/tmp/nh/nhnone' does not exist"),
    Rule("chan.c walk: '..' is a batch of its own, the names after it another",
         "1 open s:/tmp/nh/../nh/nhnone i:0", 1, -1, "'/tmp/nh/../nh/nhnone' does not exist"),
    Rule("chan.c walk: a missing directory on the way is named up to itself",
         "1 open s:/tmp/nh/nodir/x i:0", 1, -1, "'/tmp/nh/nodir' does not exist"),
    Rule("chan.c walk: 6eed7a478, Enonexist for a later name too, error first",
         "1 open s:/tmp/nh/nhnone i:0", 1, -1, "file does not exist: '/tmp/nh/nhnone'", profile=CURRENT),
    Rule("chan.c walk: 6eed7a478, the first name's error unchanged but put first",
         "1 open s:/nhnone i:0", 1, -1, "file does not exist: '/nhnone'", profile=CURRENT),
]


# --- the boot environment (port/initcode.c, boot/bootrc) -------------------------------------
BOOT = [
    Rule("initcode.c startboot: fds 1 and 2 opened as #c/cons (e9bb7876e); 0 is bootrc's </dev/cons",
         "1 probe w:fds", 1,
         out={"fds": [[0, "r", "/dev/cons"], [1, "w", "#c/cons"], [2, "w", "#c/cons"]]}),
    Rule("initcode.c startboot: e2509e765 binds #c on /dev first, all three are /dev/cons",
         "1 probe w:fds", 1, profile=CURRENT,
         out={"fds": [[0, "r", "/dev/cons"], [1, "w", "/dev/cons"], [2, "w", "/dev/cons"]]}),
]


# --- the wait queue (proc.c pexit, pwait) -----------------------------------------------------
def _nondet(step: int, key: str) -> Cmp:
    return lambda rs: key in find(rs, step).nondet


def _not_nondet(step: int, key: str) -> Cmp:
    return lambda rs: key not in find(rs, step).nondet


TWO_KIDS = "1 rfork i:0x10 c:k\n2 rfork i:0x10 c:k2\n3 await b:b i:256\n4 await b:b i:256"
WAITQ = [
    Rule("proc.c pexit: records go on the head of the list, pwait takes the head (1157-1160, 1248)",
         TWO_KIDS, 3, cmp=lambda rs: find(rs, 3).out["text"] == f"{find(rs, 2).ret} 0 0 0 'nhagent {find(rs, 2).ret}: two'",
         extra=kid("9 exits s:one") + kid("10 exits s:two", "k2")),
    Rule("proc.c pwait: the first child to exit is reported last",
         TWO_KIDS, 4, cmp=lambda rs: find(rs, 4).out["text"] == f"{find(rs, 1).ret} 0 0 0 'nhagent {find(rs, 1).ret}: one'",
         extra=kid("9 exits s:one") + kid("10 exits s:two", "k2")),
    Rule("proc.c pwait: one CPU, children that never slept on the clock: which child is known",
         TWO_KIDS, 3, cmp=_not_nondet(3, "out.text"),
         extra=kid("9 exits s:one") + kid("10 exits s:two", "k2")),
    Rule("proc.c pwait: a child that slept on the clock exits when the real clock says: masked",
         TWO_KIDS, 3, cmp=_nondet(3, "out.text"),
         extra=kid("9 sleep i:20\n11 exits s:one") + kid("10 sleep i:10\n12 exits s:two", "k2")),
]


# --- the pc suffix of a sys: note (pc64/trap.c notify, proc.c popnote) -------------------------
def _note(step: int, proc: str = "main") -> Callable[[list[Record]], Record]:
    def get(rs: list[Record]) -> Record:
        return next(r for r in rs if r.kind == "note" and r.step == step and r.proc == proc)
    return get


LONG = "x" * 120
# Two children asleep in the caller's note group; the first one handles the
# note and sleeps again (still holding it as its lastnote) while the second
# one handles it.
GROUP = "1 rfork i:0x10 c:k\n2 rfork i:0x10 c:k2\n3 postnote i:2 v:pid s:'sys: grp'\n4 await b:b i:256\n5 await b:b i:256"
GROUP_KIDS = kid("8 notify h:cont\n9 sleep i:1000\n12 sleep i:1000") + kid("10 notify h:cont\n11 sleep i:1000", "k2")
NOTES = [
    Rule("pc64/trap.c:571 notify (e9bb7876e): a short sys: note gets ' pc=...'",
         "1 notify h:cont\n2 postnote i:1 v:pid s:'sys: hi'", 2,
         cmp=lambda rs: _note(2)(rs).out["note"] == "sys: hi pc=PC" and "~pc" in _note(2)(rs).nondet),
    Rule("pc64/trap.c:571 notify (e9bb7876e): a long one is cut to ERRMAX-15 bytes, then the suffix",
         f"1 notify h:cont\n2 postnote i:1 v:pid s:'sys: {LONG}'", 2,
         cmp=lambda rs: _note(2)(rs).out["note"] == ("sys: " + LONG)[:113] + " pc=PC"
         and "out.note" not in _note(2)(rs).nondet),
    Rule("proc.c popnote (c8e25d2a1): the suffix follows the whole text, cut to fit ERRMAX: unknowable",
         f"1 notify h:cont\n2 postnote i:1 v:pid s:'sys: {LONG}'", 2, profile=CURRENT,
         cmp=lambda rs: _note(2)(rs).out["note"] == ("sys: " + LONG + " pc=PC")[:127]
         and "out.note" in _note(2)(rs).nondet),
    Rule("proc.c popnote (c8e25d2a1): a short sys: note keeps its suffix",
         "1 notify h:cont\n2 postnote i:1 v:pid s:'sys: hi'", 2, profile=CURRENT,
         cmp=lambda rs: _note(2)(rs).out["note"] == "sys: hi pc=PC" and "out.note" not in _note(2)(rs).nondet),
    Rule("proc.c popnote (3e1154879): a group note another member still holds gets no suffix",
         GROUP, 9, profile=CURRENT, extra=GROUP_KIDS,
         cmp=lambda rs: _note(9, "s1")(rs).out["note"] == "sys: grp" and _note(11, "s2")(rs).out["note"] == "sys: grp"),
    Rule("proc.c popnote (3e1154879): once no other process holds it, the suffix again",
         GROUP, 9, profile=CURRENT, extra=kid("8 notify h:cont\n9 sleep i:1000") + kid("10 notify h:cont\n11 sleep i:1000", "k2"),
         cmp=lambda rs: _note(9, "s1")(rs).out["note"] == "sys: grp" and _note(11, "s2")(rs).out["note"] == "sys: grp pc=PC"),
    Rule("devproc.c postnotepg (e9bb7876e): each member gets a note of its own, with the suffix",
         GROUP, 9, extra=GROUP_KIDS,
         cmp=lambda rs: _note(9, "s1")(rs).out["note"] == "sys: grp pc=PC"),
]


# --- pipes (devpipe.c, qio.c) ------------------------------------------------------------------
PIPE_BUFS = "buf big 40960\n"
PIPES = [
    Rule("devpipe.c pipewrite: 32 KiB fit in an unread pipe on one CPU (devpipe.c:48)",
         "1 pipe b:c\n2 write i:4 b:big i:32767", 2, 32767, bufs=PIPE_BUFS),
    Rule("devpipe.c pipewrite: qflow waits once the queue holds 32 KiB; an alarm interrupts it",
         "1 pipe b:c\n2 notify h:cont\n3 alarm i:10\n4 write i:4 b:big i:40960", 4, -1, "interrupted",
         bufs=PIPE_BUFS),
    Rule("devpipe.c pipewrite: an interrupted write posts 'sys: write on closed pipe' (311-315)",
         "1 pipe b:c\n2 notify h:cont\n3 alarm i:10\n4 write i:4 b:big i:40960", 4, bufs=PIPE_BUFS,
         cmp=lambda rs: [r.out["note"] for r in rs if r.kind == "note"] == ["alarm", "sys: write on closed pipe pc=PC"]),
    Rule("devpipe.c pipewrite: b54c61c61, 256 KiB fit",
         "1 pipe b:c\n2 write i:4 b:big i:40960", 2, 40960, bufs=PIPE_BUFS, profile=CURRENT),
    Rule("devpipe.c pipewrite: a reader lets the waiting writer finish",
         "1 pipe b:c\n2 rfork i:0x10 c:k\n3 write i:4 b:big i:40960\n4 await b:b i:256", 3, 40960,
         bufs=PIPE_BUFS, extra=kid("9 sleep i:10\n10 read i:3 b:big i:40960")),
]


# --- the fd subset (sysfile.c) ---------------------------------------------------------------------
def _killed_with(step: int, note: str) -> Cmp:
    return lambda rs: any(r.op == "await" and note in str(r.out.get("text")) for r in rs)


SYSFILE = [
    Rule("sysfile.c:182 openmode: mode bits past OEXEC are Ebadarg", "1 open s:/dev/null i:7", 1, -1, EBADARG),
    Rule("sysfile.c:188 openmode: OEXEC opens for reading ('r' in /proc/N/fd)",
         "1 open s:/dev/null i:3\n2 probe w:fds", 2, cmp=lambda rs: [3, "r", "/dev/null"] in find(rs, 2).out["fds"]),
    Rule("sysfile.c:141 fdtochan: reading a write-only fd is Ebadusefd",
         "1 open s:/dev/null i:1\n2 read i:3 b:b i:8", 2, -1, "inappropriate use of fd"),
    Rule("sysfile.c:141 fdtochan: writing a read-only fd is Ebadusefd",
         "1 open s:/dev/null i:0\n2 write i:3 b:b i:8", 2, -1, "inappropriate use of fd"),
    Rule("sysfile.c:664 read: validaddr first, a bad fd after it (Ebadfd)", "1 read i:9 b:b i:8", 1, -1,
         "fd out of range or not open"),
    Rule("sysfile.c:664 read: a negative count fails okaddr: the bad-address note kills",
         "1 rfork i:0x10 c:k\n2 await b:b i:256", 2, extra=kid("9 read i:0 b:b i:-1"),
         cmp=_killed_with(2, "sys: bad address in syscall")),
    Rule("sysfile.c:857 sseek: a negative offset is Enegoff",
         "1 open s:/dev/null i:0\n2 seek i:3 i:-1 i:0", 2, -1, "negative i/o offset"),
    Rule("sysfile.c:886 sseek: an unknown whence is Ebadarg",
         "1 open s:/dev/null i:0\n2 seek i:3 i:0 i:7", 2, -1, EBADARG),
    Rule("sysfile.c:863 sseek: a directory only seeks to 0 from the start (Eisdir)",
         "1 open s:/tmp i:0\n2 seek i:3 i:0 i:1", 2, -1, "file is a directory"),
    Rule("sysfile.c:848 sseek: a pipe is Eisstream", "1 pipe b:c\n2 seek i:3 i:0 i:0", 2, -1, "seek on a stream"),
]


RULES = RFORK + SEGMENTS + MISC + NAMEC + BOOT + WAITQ + NOTES + PIPES + SYSFILE


@pytest.mark.parametrize("rule", RULES, ids=[r.src for r in RULES])
def test_rule(rule: Rule) -> None:
    recs = run(rule)
    if rule.cmp is not None:
        assert rule.cmp(recs), rule.src
        return
    r = find(recs, rule.step, rule.proc)
    if rule.ret is not None:
        assert r.ret == rule.ret, rule.src
    if rule.err is not None or rule.ret == -1:
        assert r.err == rule.err, rule.src
    for k, v in rule.out.items():
        assert r.out.get(k) == v, f"{rule.src}: out.{k}"


def test_every_rule_names_its_source() -> None:
    assert all(r.src.split()[0].split(":")[0] in ("sysproc.c", "segment.c", "proc.c", "chan.c", "initcode.c", "pc64/trap.c", "devproc.c",
                                                           "devpipe.c", "sysfile.c") for r in RULES)
    assert len({r.src for r in RULES}) == len(RULES), "one case per rule"


def test_a_parent_keeps_at_most_128_wait_records() -> None:  # proc.c:1157 pexit: nwait < 128
    n = 130
    forks = "\n".join(f"{i} rfork i:0x10 c:k{i}" for i in range(1, n + 1))
    awaits = "\n".join(f"{n + i} await b:b i:256" for i in range(1, n + 1))
    extra = "".join(kid(f"{1000 + i} exits s:c{i}", f"k{i}") for i in range(1, n + 1))
    recs = run(Rule("proc.c pexit", f"{forks}\n{awaits}", 0, extra=extra))
    texts = [find(recs, n + i).out.get("text") for i in range(1, 129)]
    assert [t.rsplit(": ", 1)[1] for t in texts if isinstance(t, str)] == [f"c{i}'" for i in range(128, 0, -1)]
    for i in (129, 130):  # the two children past the limit left no record, and are no children
        assert (find(recs, n + i).ret, find(recs, n + i).err) == (-1, ENOCHILD)
