"""The kernel's data, as port/portdat.h declares it: processes, their groups,
channels, notes and what a sleeping process waits for.

Only what user space can see is kept.  Every piece of state the model has is
a declared field of one of these dataclasses.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from harness.model.aout import ExecImage
from harness.model.fs import Node
from harness.model.segments import NSEG, Segment

ERRMAX = 128  # port/portdat.h
NNOTE = 5  # port/portdat.h
NUSER, NEXIT, NDEBUG = 0, 1, 2  # port/portdat.h: note flags


class ProcState(StrEnum):
    READY = "ready"
    RUNNING = "running"  # between a scheduler step's start and its next sleep
    WAIT = "wait"  # asleep (Proc.wait says on what)
    DEAD = "dead"


class Wake(StrEnum):
    """Why a sleeping process runs again (what the scheduler sends it)."""

    OK = "ok"  # its condition holds
    INTR = "intr"  # a note arrived (postnote's wakeup of an interruptible sleep)
    TIMEOUT = "timeout"  # its deadline passed


@dataclass
class Wait:
    """What a blocked process waits for: ``ready()`` true, or the virtual
    clock reaching ``until`` (ms), or a note (interrupt)."""

    ready: Callable[[], bool] | None = None
    until: int | None = None
    interruptible: bool = True
    # sched() while still runnable (rfork's ``ready(p); sched()``): the
    # process goes behind every other runnable one, once
    yielded: bool = False


@dataclass(eq=False)
class Pipe:
    """port/devpipe.c: two queues, and how many chans hold each end open."""

    buf: list[bytearray] = field(default_factory=lambda: [bytearray(), bytearray()])
    open_ends: list[int] = field(default_factory=lambda: [0, 0])


class ChanKind(StrEnum):
    """Which device (or file server) a channel belongs to."""

    FILE = "file"
    DIR = "dir"
    NULL = "null"
    CONS = "cons"
    USER = "user"
    PIPE = "pipe"
    SYNTH = "synth"  # devenv and devproc files: contents made from process state


@dataclass(eq=False)
class Chan:
    path: str
    mode: int  # open mode & 3
    node: Node | None = None
    pipe: Pipe | None = None
    end: int = 0
    offset: int = 0
    cexec: bool = False
    kind: ChanKind = ChanKind.FILE
    synth: bytes = b""  # contents of a synthesised file (/env, /proc)
    refs: int = 1


@dataclass(eq=False)
class Fgrp:
    fds: dict[int, Chan] = field(default_factory=dict)
    # close-on-exec is a flag of the fd, not of the chan (sysfile.c: f->flag[fd]):
    # a dup of an OCEXEC fd survives exec.
    cexec: set[int] = field(default_factory=set)
    ref: int = 1  # processes sharing this table (rfork without RFFDG/RFCFDG)


@dataclass(eq=False)
class Pgrp:
    """The name space: the model only tracks what RFNOMNT/RFCNAMEG change."""

    nomnt: bool = False
    empty: bool = False  # RFCNAMEG: a clean name space (only # devices resolve)


@dataclass(eq=False)
class Egrp:
    env: dict[str, bytes] = field(default_factory=dict)


@dataclass(eq=False)
class Rgrp:
    waiting: dict[int, Proc] = field(default_factory=dict)  # tag -> sleeper (FIFO by insertion)


@dataclass(eq=False)
class Note:
    msg: str
    flag: int
    pc_unknown: bool = False  # ERRMAX cut into its " pc=" suffix: where depends on the real pc


@dataclass
class Waitq:
    """One wait record a parent holds: the child's pid and its exit message."""

    pid: int
    msg: str
    timed: bool = False  # the child slept on the clock: its exit time is the real clock's


# What runs in user mode in a process (the agent's interpreter); the
# scheduler steps it, sending why it woke.
UserCode = Generator[Wait, Wake | None, None]


class UserMode(Protocol):
    """The user-mode side of a process, as far as the kernel hands it work."""

    def fork(self, child: Proc) -> None:
        """forkchild: CHILD gets a copy of this user state, returning 0 from rfork."""

    def exec(self, img: ExecImage) -> None:
        """The new image IMG starts (its segments are in place)."""


@dataclass(eq=False)
class Proc:
    pid: int
    text: str  # up->text, the wait message's first field
    user: str
    segs: list[Segment | None] = field(default_factory=lambda: [None] * NSEG)
    fgrp: Fgrp = field(default_factory=Fgrp)
    pgrp: Pgrp = field(default_factory=Pgrp)
    egrp: Egrp = field(default_factory=Egrp)
    rgrp: Rgrp = field(default_factory=Rgrp)
    noteid: int = 0
    parent: Proc | None = None
    ppid: int = 0
    nchild: int = 0
    await_order_unknown: bool = False  # an earlier await's child was up to the real clock
    waitq: list[Waitq] = field(default_factory=list)  # head first (proc.c: a LIFO list)
    timed: bool = False  # it has slept on the clock (sleep, tsemacquire, alarm)
    notes: list[Note] = field(default_factory=list)
    # up->notify: the user's handler, opaque to the kernel (the agent names
    # its handler by the mode it was installed with); None = no handler
    notify: str | None = None
    notified: bool = False
    lastnote: Note | None = None
    errstr: bytes = b""  # what errstr(2) hands out: the last error
    argv: list[str] = field(default_factory=list)  # what exec put on the new stack
    args: bytes = b""  # /proc/N/args text (up->args, NUL separated)
    alarm: int = 0  # virtual-ms deadline, 0 = none
    dot: str = "/"
    state: ProcState = ProcState.READY
    wait: Wait = field(default_factory=Wait)  # what it sleeps on (state WAIT)
    pending_interrupt: bool = False  # a note arrived while it slept
    rendval: int = 0  # rendezvous: the value offered, then the value received
    rendwoken: bool = False  # rendezvous: a partner has exchanged values
    umode: UserMode | None = None
    code: UserCode | None = None
