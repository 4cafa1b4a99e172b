"""The system calls of port/sysproc.c (line numbers: the seed's,
/work/shared/seeds/sysproc.c, e9bb7876e)."""

from __future__ import annotations

import operator
from typing import NoReturn

from harness.model import aout
from harness.model import segments as sg
from harness.model.chan import cclose, namec_error, walk_error
from harness.model.coverage import rule
from harness.model.errors import (
    Ebadarg,
    Egreg,
    Eintr,
    Einvalexit,
    Enoexecdir,
    Enovmem,
    Eperm,
    Esuicide,
    Exit,
    KernelError,
    ProcessKilled,
)
from harness.model.fault import run_foreign
from harness.model.fmt import fmt_trunc, quote, raw, text, unraw, utfecpy
from harness.model.fs import AGENT_PATH
from harness.model.kernel import ULONG, Args, Kernel, Str
from harness.model.notes import postnote
from harness.model.pgrp import (
    RFCENVG,
    RFCFDG,
    RFCNAMEG,
    RFENVG,
    RFFDG,
    RFMEM,
    RFNAMEG,
    RFNOWAIT,
    RFPROC,
    rfork_groups,
)
from harness.model.portdat import ERRMAX, NDEBUG, Note, Proc, ProcState, Wait, Wake
from harness.model.proc import newproc, pwait
from harness.model.profiles import Sw
from harness.model.syscall import Result, Sleeps, syscall


def evenaddr(k: Kernel, p: Proc, addr: int) -> None:
    """port/sysproc.c evenaddr: a misaligned pointer on a strict arch."""
    if k.arch.name not in ("amd64", "386") and addr & 3:
        postnote(p, "sys: odd address", NDEBUG)
        raise KernelError(Ebadarg)


@syscall("sysr1")
def sysr1(k: Kernel, p: Proc, a: Args) -> Result:
    if p.user != k.eve:  # 16: only eve
        rule("sysproc.c:16")
        raise KernelError(Eperm)
    return Result(0)


# --- rfork (27-242) -------------------------------------------------------------
@syscall("rfork")
def sysrfork(k: Kernel, p: Proc, a: Args) -> Sleeps:
    flag = int(a[0]) & ULONG
    for x, y, site in ((RFFDG, RFCFDG, "sysproc.c:42"), (RFNAMEG, RFCNAMEG, "sysproc.c:44"),
                       (RFENVG, RFCENVG, "sysproc.c:46")):  # 41-46
        if flag & (x | y) == x | y:
            rule(site)
            raise KernelError(Ebadarg)
    if not flag & RFPROC:  # 53-90: change the caller's own groups
        if flag & (RFMEM | RFNOWAIT):
            rule("sysproc.c:55")
            raise KernelError(Ebadarg)
        rfork_groups(k, p, p, flag)
        return Result(0)
    c = fork(k, p, flag)
    # 239-240: ready(p); sched(): on the guest's one CPU the child runs
    # first, until it blocks.
    yield Wait(ready=lambda: True, interruptible=False, yielded=True)
    return Result(c.pid)


def fork(k: Kernel, p: Proc, flag: int) -> Proc:
    """The child, field by field.  Fresh from newproc (proc.c:631-668): the
    errstr (errbuf0[0] = 0, proc.c:653), no notes pending, not notified, no
    alarm, no children, no wait records.  From sysrfork: dot (103), notes
    and lastnote copied on the seed (106-110; none from 91f79ce9f), the
    handler (108), the note group (113-114), text and user (131-132), args
    empty (133), segments (159-163: Text/Shared/Physical shared, Data/Bss
    copied unless RFMEM, the Stack always copied: segment.c dupseg), the
    groups (166-213), the parent (219-224)."""
    c = newproc(k)  # 96-97
    c.text, c.user, c.dot = p.text, p.user, p.dot
    rule("sysproc.c@91f79ce9f:108" if k.profile.has(Sw.RFORK_CHILD_NO_NOTES) else "sysproc.c:106")
    if not k.profile.has(Sw.RFORK_CHILD_NO_NOTES):
        c.notes = [Note(n.msg, n.flag) for n in p.notes]
        c.lastnote = p.lastnote
    c.notify = p.notify
    c.argv, c.args = list(p.argv), b""  # the user stack is a copy; kstrdup(&p->args, "")
    c.ppid = p.pid  # pidalloc: parentpid, whether or not it waits
    for i in range(sg.NSEG):
        c.segs[i] = sg.dupseg(p.segs, i, bool(flag & RFMEM))
    rfork_groups(k, p, c, flag)
    if not flag & RFNOWAIT:
        c.parent = p
        p.nchild += 1
    if p.umode is not None:
        p.umode.fork(c)  # forkchild: the child returns 0 into a copy of the caller's user state
    return c


_STR_BYTES = operator.attrgetter("b")  # kernel.Str's bytes (what k.cstr gives for one)


# --- exec (301-642) -------------------------------------------------------------
@syscall("exec")
def sysexec(k: Kernel, p: Proc, a: Args) -> Result:
    """Up to the commit point errors are the call's; after it the old image
    is gone.  A new agent image returns 0 (its own record says so); any
    other image's fate is run_foreign's."""
    path = unraw(k.cstr(p, a[0]))
    try:  # every argument a string (a Str): its bytes, at C speed for a 200k argv
        argv = list(map(_STR_BYTES, a[2:]))
    except AttributeError:
        argv = [k.cstr(p, x) for x in a[2:]]

    def read_file(f: str) -> bytes:  # namec(Aopen, OEXEC) and the read
        full = k.fs.clean(f, p.dot)
        node = k.fs.nodes.get(full)
        if node is None:
            raise walk_error(k.fs, f, p.dot, k.profile)
        if node.isdir:
            raise namec_error(f, Enoexecdir, k.profile)
        if not k.fs.may_exec(full, node):
            raise namec_error(f, Eperm, k.profile)
        return bytes(node.data)

    plan = aout.plan_exec(path, argv, k.arch, k.profile, read_file)
    place_stack(k, p)
    commit(p)
    p.text, p.argv, p.args = plan.text, list(plan.argv), plan.args
    if plan.image.commit_error:
        # newseg failed after the commit: "Disaster after commit", pexit
        raise Exit(plan.image.commit_error)
    binary = k.fs.clean(plan.binary, p.dot)
    if plan.binary == AGENT_PATH or binary == AGENT_PATH:
        newimage(k, p, plan.image)
        if p.umode is not None:
            p.umode.exec(plan.image)
        return Result(0)
    node = k.fs.nodes.get(binary)
    run_foreign(k.arch, plan.image, bytes(node.data) if node is not None else b"")


def place_stack(k: Kernel, p: Proc) -> None:
    """468-476: the new stack goes below the old one, clear of every segment."""
    s = p.segs[sg.SSEG]
    while s is not None:
        tstk = s.base
        if tstk <= k.arch.ustksize:
            rule("sysproc.c:475")
            raise KernelError(Enovmem)
        s = sg.isoverlap(p.segs, tstk - k.arch.ustksize, k.arch.ustksize)


def commit(p: Proc) -> None:
    """532-550: the old image goes, close-on-exec fds and segments with it;
    notes, the handler and the errstr are reset."""
    for i in (sg.SSEG, sg.TSEG, sg.DSEG, sg.BSEG):
        sg.putseg(p.segs[i])
        p.segs[i] = None
    for i in range(sg.ESEG + 1, sg.NSEG):
        s = p.segs[i]
        if s is not None and s.type & sg.SG_CEXEC:
            sg.putseg(s)
            p.segs[i] = None
    for fd in sorted(p.fgrp.cexec & set(p.fgrp.fds)):
        cclose(p.fgrp.fds.pop(fd))
    p.fgrp.cexec.clear()
    p.notes.clear()
    p.notify, p.notified, p.lastnote = None, False, None
    p.errstr = b""


def newimage(k: Kernel, p: Proc, img: aout.ExecImage) -> None:
    """552-575: text (shared through the image cache), data, bss, stack."""
    t = k.images.get(AGENT_PATH)
    if t is None or t.ref <= 0:
        t = sg.Segment(sg.SG_TEXT | sg.SG_RONLY, img.text.base, img.text.top, 0, image=AGENT_PATH)
        k.images[AGENT_PATH] = t
    t.ref += 1
    p.segs[sg.TSEG] = t
    p.segs[sg.DSEG] = sg.Segment(sg.SG_DATA, img.data.base, img.data.top)
    p.segs[sg.BSEG] = sg.Segment(sg.SG_BSS, img.bss.base, img.bss.top)
    p.segs[sg.SSEG] = sg.Segment(sg.SG_STACK | sg.SG_NOEXEC, img.stack.base, img.stack.top)


# --- sleep, alarm, exits, wait (645-735) ---------------------------------------------
@syscall("sleep")
def syssleep(k: Kernel, p: Proc, a: Args) -> Sleeps:
    ms = k.l32(int(a[0]))
    if ms <= 0:
        return Result(0)
    until = k.now + ms
    while k.now < until:
        why = yield Wait(until=until)
        if why == Wake.INTR:
            raise KernelError(Eintr)
    return Result(0)


@syscall("alarm")
def sysalarm(k: Kernel, p: Proc, a: Args) -> Result:
    ms = int(a[0]) & ULONG
    old = max(p.alarm - k.now, 0) if p.alarm else 0
    p.alarm = k.now + ms if ms else 0
    return Result(old, nondet=["ret"] if old else [])


@syscall("exits")
def sysexits(k: Kernel, p: Proc, a: Args) -> NoReturn:
    """669-692: the status, at most ERRMAX-1 bytes; a bad pointer is
    "invalid exit string"."""
    v = a[0]
    if v == 0:
        raise Exit("")
    try:
        s: bytes | None = k.cstr(p, v, ERRMAX)
    except (ProcessKilled, KernelError):
        s = None
        if not isinstance(v, Str) and not k.mem(p).ok(int(v), 1, False):
            raise Exit(Einvalexit) from None
    if s is None:  # no NUL in ERRMAX bytes: the first ERRMAX-1 bytes
        s = k.mem(p).read(int(v), ERRMAX - 1)
    raise Exit(unraw(s[: ERRMAX - 1]))


NUMSIZE = 12  # port/portdat.h: width of a number in an OWaitmsg
OWAIT_MSGLEN = 64  # OWaitmsg.msg[ERRLEN], ERRLEN the old 64
OWAITMSG_SIZE = 4 * NUMSIZE + OWAIT_MSGLEN


def owaitmsg(pid: int, msg: bytes) -> bytes:
    """What sys_wait writes: pid and three times (0 here) as readnum does
    (right-aligned in NUMSIZE-1, then a blank), then the message as strncpy
    leaves it in 64 bytes (at most 63, NUL-padded)."""
    fields = b"".join(f"{v:>{NUMSIZE - 1}} ".encode() for v in (pid, 0, 0, 0))
    body = msg[: OWAIT_MSGLEN - 1]
    return fields + body + bytes(OWAIT_MSGLEN - len(body))


@syscall("_wait")
def sys_wait(k: Kernel, p: Proc, a: Args) -> Sleeps:
    """695-718, the pre-await _WAIT: an OWaitmsg (pid and three times as
    NUMSIZE-wide right-aligned numbers, then a 64-byte message), or with
    a nil pointer only the reaping."""
    ow = k.ptr(a[0])
    if ow:
        k.mem(p).validaddr(ow, OWAITMSG_SIZE, True)
        evenaddr(k, p, ow)
    w, unknown_child = yield from pwait(k, p)
    nondet = ["ret", "out.msg"] if unknown_child else []
    if not ow:
        return Result(w.pid, nondet=nondet)
    full = raw(w.msg)
    msg = owaitmsg(w.pid, full)
    unknown = 4 * NUMSIZE + min(len(full), OWAIT_MSGLEN - 1)
    mem = k.mem(p)
    mem.write(ow, msg[:unknown], known=False)  # the real pid, times and "textname PID: ..."
    mem.write(ow + unknown, msg[unknown:])
    body = msg[4 * NUMSIZE : unknown]
    if "pc=" + sg.PC_MASK in w.msg:
        nondet.append("~pc")
    cut = len(full) > OWAIT_MSGLEN - 1
    if ("addr=" + sg.UNKNOWN_ADDR in w.msg or cut) and "out.msg" not in nondet:
        # where the 63-byte cut falls depends on the real pid's digits
        nondet.append("out.msg")
    return Result(w.pid, out={"msg": text(body)}, nondet=nondet)


@syscall("await")
def sysawait(k: Kernel, p: Proc, a: Args) -> Sleeps:
    """721-735: "%d %lud %lud %lud %q" into the buffer."""
    addr, n = k.ptr(a[0]), int(a[1]) & ULONG
    k.mem(p).validaddr(addr, n, True)
    w, unknown_child = yield from pwait(k, p)
    nondet = ["ret", "~times"] + (["out.text"] if unknown_child else [])
    full = raw(f"{w.pid} 0 0 0 {quote(w.msg)}")
    if n == 0:
        return Result(-1, out={"text": ""}, nondet=nondet)
    t = fmt_trunc(full, n - 1)
    if len(t) < len(full) and "out.text" not in nondet:
        # cut inside "%d %lud %lud %lud": where depends on how many digits the
        # times have (the kernel's clock), which varies between runs (measured:
        # seed 9pc64, short-buffers, "PID 0 0 " one run, "PID 0 0 0" another)
        nondet.append("out.text")
    if b"pc=" + sg.PC_MASK.encode() in t:
        nondet.append("~pc")
    if b"addr=" + sg.UNKNOWN_ADDR.encode() in t and "out.text" not in nondet:
        nondet.append("out.text")  # the agent's own fault: where depends on its binary
    # its pid and time digits are the real kernel's: a raw look at these
    # bytes (probe buf) cannot be predicted
    k.mem(p).write(addr, t, known=False)
    k.mem(p).write(addr + len(t), b"\0")
    return Result(len(t), out={"text": text(t)}, nondet=nondet)


# --- errstr (738-787) -------------------------------------------------------------
def generrstr(k: Kernel, p: Proc, addr: int, nbuf: int) -> Result:
    """750-770: swap the caller's buffer and up->errstr."""
    if nbuf == 0:
        rule("sysproc.c:756")
        raise KernelError(Ebadarg)
    nbuf = min(nbuf, ERRMAX)
    m = k.mem(p)
    m.validaddr(addr, nbuf, True)
    mine = utfecpy(m.read(addr, nbuf), nbuf)
    give = utfecpy(p.errstr, nbuf)
    m.write(addr, give + b"\0")
    p.errstr = mine
    return Result(0, out={"text": text(give)})


@syscall("errstr")
def syserrstr(k: Kernel, p: Proc, a: Args) -> Result:
    return generrstr(k, p, k.ptr(a[0]), int(a[1]) & ULONG)


@syscall("_errstr")
def sys_errstr(k: Kernel, p: Proc, a: Args) -> Result:
    return generrstr(k, p, k.ptr(a[0]), 64)


@syscall("werrstr")
def syswerrstr(k: Kernel, p: Proc, a: Args) -> Result:
    # libc werrstr: vseprint into char[ERRMAX], then errstr(buf, ERRMAX)
    p.errstr = utfecpy(fmt_trunc(k.cstr(p, a[0]), ERRMAX - 1), ERRMAX)
    return Result(None)


# --- notes (790-806) ------------------------------------------------------------------
@syscall("notify")
def sysnotify(k: Kernel, p: Proc, a: Args) -> Result:
    mode = a[0] if isinstance(a[0], str) else None
    p.notify = None if mode in (None, "none") else mode
    return Result(0)


@syscall("noted")
def sysnoted(k: Kernel, p: Proc, a: Args) -> Result:
    # The agent's noted is only ever called outside its handler here:
    # sysnoted raises Egreg (804) and the arch noted() then kills (pc64 trap.c:606).
    rule("sysproc.c:804")
    if not p.notified:
        raise Exit(Esuicide)
    raise KernelError(Egreg)


# --- segments (809-941) -----------------------------------------------------------------
@syscall("brk")
def sysbrk(k: Kernel, p: Proc, a: Args) -> Result:
    return Result(sg.ibrk(p.segs, k.ptr(a[0]), sg.BSEG, k.arch))


@syscall("segbrk")
def syssegbrk(k: Kernel, p: Proc, a: Args) -> Result:
    return Result(sg.segbrk(p.segs, k.ptr(a[0]), k.ptr(a[1]), k.arch))


@syscall("segattach")
def syssegattach(k: Kernel, p: Proc, a: Args) -> Result:
    name = k.cstr(p, a[1]).decode("utf-8", "replace")
    return Result(sg.segattach(p.segs, k.l32(int(a[0])), name, k.ptr(a[2]), int(a[3]) & ULONG, k.arch))


@syscall("segdetach")
def syssegdetach(k: Kernel, p: Proc, a: Args) -> Result:
    return Result(sg.segdetach(p.segs, k.ptr(a[0])))


@syscall("segfree")
def syssegfree(k: Kernel, p: Proc, a: Args) -> Result:
    return Result(sg.segfree(p.segs, k.ptr(a[0]), int(a[1]), k.arch))


# --- rendezvous (944-1063) -------------------------------------------------------------
@syscall("rendezvous")
def sysrendezvous(k: Kernel, p: Proc, a: Args) -> Sleeps:
    tag, val = int(a[0]) & k.arch.addr_mask, int(a[1]) & k.arch.addr_mask
    g = p.rgrp
    other = g.waiting.pop(tag, None)
    if other is not None and other.state != ProcState.DEAD:
        got = other.rendval
        other.rendval, other.rendwoken = val, True
        other.pending_interrupt = False
        return Result(k.signed(got))
    p.rendval, p.rendwoken = val, False
    g.waiting[tag] = p
    while True:
        why = yield Wait(ready=lambda: p.rendwoken)
        if p.rendwoken:
            return Result(k.signed(p.rendval))
        if why == Wake.INTR:  # postnote pulls it out with rendval = ~0
            if g.waiting.get(tag) is p:
                del g.waiting[tag]
            return Result(-1)


# --- semaphores (1066-1278) ----------------------------------------------------------------
def semseg(k: Kernel, p: Proc, addr: int, site: str) -> sg.Segment:
    """1228-1236: an even address in a writable segment, the long inside it."""
    evenaddr(k, p, addr)
    s = sg.seg_at(p.segs, addr)
    if s is None or s.ronly or addr + 4 > s.top:
        k.mem(p).validaddr(addr, 4, True)
        rule(site)
        raise KernelError(Ebadarg)
    return s


def canacquire(m: sg.Memory, addr: int) -> bool:
    """1122-1131."""
    v = m.long(addr)
    if v > 0:
        m.set_long(addr, v - 1)
        return True
    return False


@syscall("semacquire")
def syssemacquire(k: Kernel, p: Proc, a: Args) -> Sleeps:
    addr = k.ptr(a[0])
    semseg(k, p, addr, "sysproc.c:1232")
    m = k.mem(p)
    if m.long(addr) < 0:
        rule("sysproc.c:1235")
        raise KernelError(Ebadarg)
    if canacquire(m, addr):
        return Result(1)
    if int(a[1]) == 0:
        return Result(0)
    while True:
        why = yield Wait(ready=lambda: m.long(addr) > 0)
        if canacquire(m, addr):
            return Result(1)
        if why == Wake.INTR:
            raise KernelError(Eintr)


@syscall("tsemacquire")
def systsemacquire(k: Kernel, p: Proc, a: Args) -> Sleeps:
    addr = k.ptr(a[0])
    semseg(k, p, addr, "sysproc.c:1252")
    m = k.mem(p)
    ms = int(a[1]) & ULONG
    if m.long(addr) < 0:
        rule("sysproc.c:1255")
        raise KernelError(Ebadarg)
    if canacquire(m, addr):
        return Result(1)
    if ms == 0:
        return Result(0)
    until = k.now + ms
    while True:
        why = yield Wait(ready=lambda: m.long(addr) > 0, until=until)
        if canacquire(m, addr):
            return Result(1)
        if why == Wake.INTR:
            raise KernelError(Eintr)
        if k.now >= until:
            return Result(0)


@syscall("semrelease")
def syssemrelease(k: Kernel, p: Proc, a: Args) -> Result:
    addr = k.ptr(a[0])
    semseg(k, p, addr, "sysproc.c:1271")
    delta = k.l32(int(a[1]))  # long
    m = k.mem(p)
    if delta < 0 or m.long(addr) < 0:
        rule("sysproc.c:1275")
        raise KernelError(Ebadarg)
    v = m.long(addr) + delta
    m.set_long(addr, v)
    return Result(k.l32(v))


@syscall("nsec")
def sys_nsec(k: Kernel, p: Proc, a: Args) -> Result:
    return Result(1_000_000_000 + k.now * 1_000_000, nondet=["ret"])
