"""The groups a process holds (port/pgrp.c) and which of them rfork gives
(port/sysproc.c sysrfork: the same rules for the caller without RFPROC and
for the child with it)."""

from __future__ import annotations

from harness.libc import RFORK  # sys/include/libc.h, said once
from harness.model.chan import cclose
from harness.model.kernel import Kernel
from harness.model.portdat import Egrp, Fgrp, Pgrp, Proc, Rgrp

RFNAMEG, RFENVG, RFFDG, RFNOTEG = RFORK["RFNAMEG"], RFORK["RFENVG"], RFORK["RFFDG"], RFORK["RFNOTEG"]
RFPROC, RFMEM, RFNOWAIT = RFORK["RFPROC"], RFORK["RFMEM"], RFORK["RFNOWAIT"]
RFCNAMEG, RFCENVG, RFCFDG = RFORK["RFCNAMEG"], RFORK["RFCENVG"], RFORK["RFCFDG"]
RFREND, RFNOMNT = RFORK["RFREND"], RFORK["RFNOMNT"]


def dupfgrp(f: Fgrp | None) -> Fgrp:
    """pgrp.c dupfgrp (None: a clean table, RFCFDG)."""
    n = Fgrp()
    if f is not None:
        for fd, c in f.fds.items():
            c.refs += 1
            n.fds[fd] = c
        n.cexec = set(f.cexec)
    return n


def closefgrp(f: Fgrp) -> None:
    """pgrp.c closefgrp: the last sharer closes every fd."""
    if f.ref > 1:
        f.ref -= 1
        return
    for c in f.fds.values():
        cclose(c)


def rfork_groups(k: Kernel, src: Proc, dst: Proc, flag: int) -> None:
    """sysproc.c sysrfork (seed lines 59-84 without RFPROC, 111-150 with it):
    DST gets a copy or a clean group where FLAG asks, else SRC's own
    (shared with SRC when DST is a new child)."""
    if flag & (RFFDG | RFCFDG):
        old = src.fgrp
        dst.fgrp = dupfgrp(old if flag & RFFDG else None)
        if dst is src:
            closefgrp(old)  # sysproc.c:61
    elif dst is not src:
        dst.fgrp = src.fgrp
        src.fgrp.ref += 1
    if flag & (RFNAMEG | RFCNAMEG):
        dst.pgrp = Pgrp(nomnt=src.pgrp.nomnt, empty=bool(flag & RFCNAMEG))
    else:
        dst.pgrp = src.pgrp
    if flag & RFNOMNT:
        dst.pgrp.nomnt = True
    dst.rgrp = Rgrp() if flag & RFREND else src.rgrp
    if flag & (RFENVG | RFCENVG):
        dst.egrp = Egrp(dict(src.egrp.env) if flag & RFENVG else {})
    else:
        dst.egrp = src.egrp
    if not flag & RFNOTEG:
        dst.noteid = src.noteid  # sysproc.c:113-114
    elif dst is src:
        k.setnoteid(src)  # sysproc.c:87-89
    else:
        dst.noteid = dst.pid  # proc.c:1874 pidalloc: a child without a note group is its own
