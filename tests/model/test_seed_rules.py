"""Table-driven: one case per rule of the seed (shared/seeds/sysproc.c), run on the model.

Each case names the seed line whose error() or return it encodes.  Programs are
written in the compiled line format (harness/program.py) and run on amd64 with
the seed profile.
"""

from __future__ import annotations

import pytest

from harness.model.machine import Machine
from harness.model.profiles import SEED
from harness.program import parse
from harness.trace.schema import Record

EBADARG = "bad arg in system call"
ENOVMEM = "virtual memory allocation failed"
ESOVERLAP = "segments overlap"


def run(body: str, bufs: str = "buf b 256\n", extra: str = "") -> list[Record]:
    text = f"nhprog 1\nscenario t\n{bufs}block main\n{body}\nend\n{extra}"
    return Machine("amd64", SEED).run(parse(text))


def step(recs: list[Record], n: int) -> Record:
    (r,) = [r for r in recs if r.step == n and r.kind not in ("start", "note")]
    return r


# The rfork rules are test_rules.py RFORK (one table).


SEGMENTS = [
    ("sysproc.c:827 segbrk of Text", "1 segbrk a:text a:text+0x1000", -1, EBADARG),
    ("sysproc.c:827 segbrk of Data", "1 segbrk a:data a:data+0x1000", -1, EBADARG),
    ("sysproc.c:827 segbrk of Stack", "1 segbrk a:stack a:stack+0x1000", -1, EBADARG),
    ("sysproc.c:832 segbrk outside every segment", "1 segbrk a:0x10 a:0x20", -1, EBADARG),
    ("sysproc.c:885 segdetach outside every segment", "1 segdetach a:0x10", -1, EBADARG),
    ("sysproc.c:893 segdetach of the stack", "1 segdetach a:stack+0x10", -1, EBADARG),
    ("sysproc.c:916 segfree with to < from (wrap)", "1 segfree a:bss i:-4096", -1, EBADARG),
    ("sysproc.c:919 segfree outside every segment", "1 segfree a:0x10 i:4096", -1, EBADARG),
    ("sysproc.c:928 segfree past the segment's top", "1 segfree a:end-0x1000 i:0x100000", -1, EBADARG),
    ("segment.c ibrk: below the data segment", "1 brk a:data-0x1000", -1, ENOVMEM),
    ("segment.c ibrk: into the stack", "1 brk a:stack+0x1000", -1, ESOVERLAP),
    ("segment.c ibrk: growth is fine", "1 brk a:end+0x10000", 0, None),
    ("segment.c segattach: unknown class", "1 segattach i:0 s:nonesuch a:0x10000000 i:4096", -1, EBADARG),
    ("segment.c segattach: length 0", "1 segattach i:0 s:shared a:0x10000000 i:0", -1, EBADARG),
    ("segment.c segattach: at or above USTKTOP", "1 segattach i:0 s:shared a:stacktop i:4096", -1, EBADARG),
    ("segment.c segattach: overlap with Text", "1 segattach i:0 s:shared a:text i:4096", -1, ESOVERLAP),
]


MISC = [
    ("sysproc.c:756 errstr with nbuf 0", "1 errstr b:b i:0", -1, EBADARG),
    ("sysproc.c:1232 semacquire of a negative value", "1 touch w:w b:b i:-1\n2 semacquire b:b i:0", -1, EBADARG),
    ("sysproc.c:1271 semrelease with a negative delta", "1 touch w:w b:b i:0\n2 semrelease b:b i:-1", -1, EBADARG),
    ("sysproc.c:1252 tsemacquire of a negative value", "1 touch w:w b:b i:-1\n2 tsemacquire b:b i:10", -1, EBADARG),
    ("sysproc.c:721 sysawait -> proc.c pwait: no children", "1 await b:b i:256", -1, "no living children"),
    ("sysproc.c:1177 tsemacquire times out: 0", "1 touch w:w b:b i:0\n2 tsemacquire b:b i:10", 0, None),
    ("sysproc.c:1109 semrelease returns the new value", "1 touch w:w b:b i:2\n2 semrelease b:b i:3", 5, None),
]


RULES = SEGMENTS + MISC


@pytest.mark.parametrize(("rule", "body", "ret", "err"), RULES, ids=[r[0] for r in RULES])
def test_seed_rule(rule: str, body: str, ret: int, err: str | None) -> None:
    """The last step of BODY returns RET with errstr ERR."""
    recs = run(body)
    last = max(r.step for r in recs)
    r = step(recs, last)
    assert (r.ret, r.err) == (ret, err), rule


def test_exits_truncates_to_errmax_and_await_formats_it() -> None:  # sysproc.c:669 sysexits
    recs = run("1 rfork i:0x10 c:k\n2 await b:b i:256", extra="block k\n9 exits s:" + "x" * 200 + "\nend\n")
    text = step(recs, 2).out["text"]
    msg = text.split(" '", 1)[1].rstrip("'")
    assert len(msg) == 127 and msg.startswith("nhagent ")
    assert text.split()[0] == str(step(recs, 1).ret)


def test_exits_with_a_bad_pointer() -> None:  # sysproc.c:672 "invalid exit string"
    recs = run("1 rfork i:0x10 c:k\n2 await b:b i:256", extra="block k\n9 exits a:0x1\nend\n")
    assert step(recs, 2).out["text"].endswith(": invalid exit string'")


def test_rendezvous_exchanges_values_between_two_processes() -> None:  # sysproc.c:944
    recs = run("1 rfork i:0x10 c:k\n2 rendezvous i:7 i:111\n3 await b:b i:256",
               extra="block k\n9 rendezvous i:7 i:222\nend\n")
    assert step(recs, 2).ret == 222
    assert step(recs, 9).ret == 111
