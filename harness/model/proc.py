"""Processes: creation, exit and wait (port/proc.c newproc, pexit, pwait)
and the scheduler of the guest's one CPU.

Scheduling: the lowest runnable pid runs until it blocks (or exits); the
virtual clock (ms) advances only when every live process is blocked, to the
earliest deadline (sleep, tsemacquire, alarm).  When nothing can ever run
again the run ends (the caller's ``hang`` hook says so for each process).
"""

from __future__ import annotations

from collections.abc import Callable, Generator

from harness.model import segments as sg
from harness.model.coverage import rule
from harness.model.errors import Eintr, Enochild, Enoproc, KernelError
from harness.model.fmt import fmt_trunc, raw, unraw
from harness.model.fs import AGENT_TEXT
from harness.model.kernel import HOSTOWNER, Kernel
from harness.model.notes import postnote
from harness.model.pgrp import closefgrp
from harness.model.portdat import ERRMAX, NUSER, Proc, ProcState, Wait, Waitq, Wake

NPROC = 200  # the model's conf.nproc stand-in: newproc fails with "no procs"
NWAIT = 128  # proc.c:1157: wait records a parent keeps; later exits leave none


def newproc(k: Kernel) -> Proc:
    """port/proc.c newproc (nil when the table is full: sysrfork's Enoproc)."""
    if len(k.live()) >= NPROC:
        rule("sysproc.c:97")
        raise KernelError(Enoproc)
    p = Proc(pid=k.allocpid(), text=AGENT_TEXT, user=HOSTOWNER)
    k.procs[p.pid] = p
    return p


def wait_message(text: str, pid: int, msg: str) -> str:
    """pexit: "%s %lud: %s" into Waitmsg.msg[ERRMAX] (empty for a clean exit)."""
    if not msg:
        return ""
    return unraw(fmt_trunc(raw(f"{text} {pid}: {msg}"), ERRMAX - 1))


def pexit(k: Kernel, p: Proc, msg: str) -> None:
    """port/proc.c pexit: the parent gets a wait record, the groups and
    segments are let go."""
    if p.state == ProcState.DEAD:
        return
    p.state = ProcState.DEAD
    par = p.parent
    if par is not None and par.state != ProcState.DEAD:
        par.nchild -= 1
        # proc.c:1157-1161 (e9bb7876e and 027f579f4): pushed at the head of
        # the list, unless the parent already holds NWAIT records
        if len(par.waitq) < NWAIT:
            par.waitq.insert(0, Waitq(p.pid, wait_message(p.text, p.pid, msg), p.timed))
    for q in k.procs.values():
        if q.parent is p:
            q.parent = None
    for i, s in enumerate(p.segs):
        sg.putseg(s)
        p.segs[i] = None
    closefgrp(p.fgrp)
    for tag, q in list(p.rgrp.waiting.items()):
        if q is p:
            del p.rgrp.waiting[tag]


def pwait(k: Kernel, p: Proc) -> Generator[Wait, Wake | None, tuple[Waitq, bool]]:
    """port/proc.c pwait: (the head wait record, the last child to exit;
    whether which child it is was up to the real clock)."""
    if p.nchild == 0 and not p.waitq:
        raise KernelError(Enochild)
    while not p.waitq:
        why = yield Wait(ready=lambda: bool(p.waitq) or p.nchild == 0)
        if why == Wake.INTR:
            raise KernelError(Eintr)
        if not p.waitq and p.nchild == 0:
            raise KernelError(Enochild)
    # On the guest's one CPU the order children exit in is the scheduler's,
    # which the model follows -- unless one of the candidates slept on the
    # clock: then when it exited is the real clock's, not ours.
    others = [q for q in k.procs.values() if q.parent is p and q.state != ProcState.DEAD]
    if (len(p.waitq) > 1 or others) and (any(w.timed for w in p.waitq) or any(q.timed for q in others)):
        p.await_order_unknown = True  # and so is every later wait's child
    return p.waitq.pop(0), p.await_order_unknown


# --- the scheduler ---------------------------------------------------------------
def schedule(k: Kernel, over: Callable[[], bool], hang: Callable[[list[Proc], str], None]) -> None:
    """Run processes until none is left, none can run again (hang
    "deadlock"), or OVER() says the run's budget is spent (hang "step-limit")."""
    while True:
        live = k.live()
        if not live:
            return
        runnable = next_runnable(k, live)
        if runnable is None:
            if not advance_clock(k, live):
                hang(live, "deadlock")
                return
            continue
        q, why = runnable
        step(q, why)
        for r in live:
            if r is not q and r.state == ProcState.WAIT:
                r.wait.yielded = False
        if over():
            hang([r for r in live if r.state != ProcState.DEAD], "step-limit")
            return


def next_runnable(k: Kernel, live: list[Proc]) -> tuple[Proc, Wake | None] | None:
    """The lowest pid that can run, unless it has just yielded the CPU
    and someone else can run."""
    yielded: tuple[Proc, Wake | None] | None = None
    for q in live:
        if q.state == ProcState.READY:
            return q, None
        if q.wait.yielded:
            yielded = yielded or (q, Wake.OK)
            continue
        why = wake_reason(k, q)
        if why is not None:
            return q, why
    return yielded


def wake_reason(k: Kernel, q: Proc) -> Wake | None:
    w = q.wait
    if q.pending_interrupt:
        q.pending_interrupt = False
        return Wake.INTR
    if w.ready is not None and w.ready():
        return Wake.OK
    if w.until is not None and k.now >= w.until:
        return Wake.TIMEOUT
    return None


def advance_clock(k: Kernel, live: list[Proc]) -> bool:
    """Every process sleeps: time jumps to the first deadline (alarms fire)."""
    times = [q.wait.until for q in live if q.wait.until is not None]
    times += [q.alarm for q in live if q.alarm]
    if not times:
        return False
    k.now = max(k.now, min(times))
    for q in live:
        if q.alarm and q.alarm <= k.now:
            q.alarm = 0
            postnote(q, "alarm", NUSER)
    return True


def step(q: Proc, why: Wake | None) -> None:
    """Run Q's user code until it sleeps again or ends."""
    assert q.code is not None
    # While it runs it is neither ready nor waiting: a note it posts to
    # itself must not mark its next sleep as interrupted.
    q.state = ProcState.RUNNING
    try:
        w = q.code.send(why) if why is not None else next(q.code)
        q.state, q.wait = ProcState.WAIT, w
        q.timed = q.timed or w.until is not None or q.alarm != 0
    except StopIteration:
        pass
