"""The system calls of the model, one method each, and the record conventions.

Record conventions (the guest agent must print exactly these)
==============================================================

Every statement of the program gives at most one record (schema v1):

* ``args``: the statement's argument tokens verbatim (``Stmt.tokens``).
* ``ret``: the call's return value as a signed integer (pointers too, e.g.
  segattach's va); ``None`` for calls that never return (exits, and a
  successful exec's record is printed by the new image, see below).
* ``err``: the errstr right after the call, only when it failed (ret -1, or
  a nil result); else ``None``.  A call returning -1 without error()
  (``await`` into a 0-byte buffer) still shows the errstr as it stands.
* ``out``: op-specific, text is UTF-8 with invalid bytes as U+FFFD:

  - ``start`` (kind start, op start): ``{"pid": PID}``; first record of a process.
  - ``await``: ``{"text": TEXT}`` the NUL-terminated text the kernel wrote
    (``"%d %lud %lud %lud %q"``); the three times are written as 0 by the
    model and ``nondet`` holds ``"ret"`` and ``"~times"``.
  - ``errstr``/``_errstr``: ``{"text": TEXT}`` what the call put in the buffer.
  - ``read``: ``{"hex": HEX}`` the bytes read (lowercase hex, ret bytes).
  - ``fd2path``: ``{"text": PATH}``.  ``pipe``: ``{"fds": [FD0, FD1]}``.
  - ``exec`` (success): first record of the new image, ret 0,
    ``{"argv": [...]}``.
  - ``nsec``: ret is nondet.  ``alarm``: ret nondet when an alarm was pending.
  - ``touch w:r ADDR``: ``{"value": V}`` the 32-bit ``long`` at ADDR (signed);
    ``touch w:w ADDR V`` stores the long V; ret 0.
  - ``probe w:segments``: ``{"segments": [[NAME, FLAGS, BASE, TOP, REF], ...]}``
    in slot order as /proc/N/segment lists them; FLAGS is "" or "R" (and "F").
  - ``probe w:fds``: ``{"fds": [[FD, MODE, PATH], ...]}``, MODE "r", "w", "rw"
    or "" (OEXEC) as /proc/N/fd's ``%.2s`` column, stripped.
  - ``probe w:errstr``: ``{"errstr": TEXT}`` (rerrstr: nothing swapped).
  - ``probe w:noteid``: ``{"noteid": N}``.  ``probe w:brk``: ``{"brk": TOP}``
    the Bss segment's top.
  - ``probe w:buf b:B [i:N]``: ``{"hex": HEX}`` N bytes (default: whole buffer).
  - ``probe w:env s:NAME``: ``{"value": TEXT or None}``.
  - ``probe w:args``: ``{"args": [argv...]}``; ``probe w:procargs``:
    ``{"procargs": TEXT}`` as /proc/N/args reads (``%q`` args joined by blanks).
  - ``note`` records (kind note, op note, step of the statement after which
    the note was delivered): ``{"note": TEXT}``.
* ``nondet``: field names (``ret``, ``err``, ``out.KEY``) plus pattern
  markers: ``"~pc"`` -- every ``pc=0x...`` inside strings of the record is
  unknowable; the model writes ``pc=PC``.  ``"~times"`` -- the three time
  fields of a wait message.  Pids, noteids and addresses are exact in the
  model's own numbering and are symbolised by the normaliser.
* A process killed by a note prints nothing more; its parent's await shows
  ``'TEXT PID: NOTE'`` (TEXT ``nhagent`` for the agent image); an await
  text holding ``pc=PC`` carries ``"~pc"`` in nondet.
* A successful exec of a foreign a.out (not the agent) prints no record, in
  the guest nor in the model; its fate shows in the parent's await
  (machine.py ``run_foreign``): a text page that cannot be demand-loaded
  from the short file -> ``i/o error in demand load``; all-zero code ->
  ``sys: trap: unknown pc=PC`` (arm64) or, after sliding through the zero
  text, ``sys: trap: fault read addr=TEXTTOP pc=PC``; any other code ->
  status ``''`` (the model cannot run it); a segment newseg refuses after
  the commit -> that errstr.
* A process still blocked when the run ends (deadlock, or the step limit)
  gets one last record: kind call, the blocked (or next) statement's op/args,
  ret/err None, ``out={"hung": "deadlock"|"step-limit"}``.
* Buffers live in the agent image's Bss: buffer k starts at the image's
  ``end`` (bss end) plus the 8-byte-rounded sizes of the buffers before it;
  the agent grows Bss with brk to cover them before ``main`` runs.
* Address bases: ``text``/``data``/``bss``/``stack`` the base of that
  segment, ``end`` the Bss top, ``stacktop`` the Stack top.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, Literal

from harness.model import segments as sg
from harness.model.errors import (
    Ebadarg,
    Ebadfd,
    Eexist,
    Egreg,
    Eintr,
    Enochild,
    Enonexist,
    Eperm,
    KernelError,
    ProcessKilled,
)
from harness.model.fs import Chan, Pipe, namec_error
from harness.model.process import (
    ERRMAX,
    NDEBUG,
    NNOTE,
    NUSER,
    Note,
    Proc,
    fmt_trunc,
    quote,
    utfecpy,
)

ULONG = 0xFFFFFFFF


@dataclass
class Result:
    ret: Any = 0
    err: str | None = None
    out: dict[str, Any] = field(default_factory=dict)
    nondet: list[str] = field(default_factory=list)


@dataclass
class Wait:
    """What a blocked process waits for: ``ready()`` true, or the virtual
    clock reaching ``until`` (ms), or a note (interrupt)."""

    ready: Any = None
    until: int | None = None
    interruptible: bool = True
    # sched() while still runnable (rfork's ``ready(p); sched()``): the
    # process goes behind every other runnable one, once
    yielded: bool = False


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


class Exit(Exception):  # noqa: N818 - control flow: the process calls pexit
    def __init__(self, msg: str) -> None:
        super().__init__(msg)
        self.msg = msg


class Str(int):
    """An s: argument: a valid pointer to these bytes in the agent's memory.
    As a number (a string given where an integer is expected) it is 0x1."""

    b: bytes

    def __new__(cls, b: bytes) -> Str:
        obj = super().__new__(cls, 1)
        obj.b = b
        return obj


def text(b: bytes) -> str:
    return b.split(b"\0", 1)[0].decode("utf-8", "replace")


class Syscalls:
    """Mixin of Machine: needs self.arch, self.profile, self.fs, self.now,
    self.procs, self.mem(p), self.kill/newproc hooks."""

    arch: Any
    profile: Any
    fs: Any
    now: int
    procs: dict[int, Proc]

    def mem(self, p: Proc) -> sg.Memory:
        return sg.Memory(p.segs, self.arch)

    # --- argument helpers ---------------------------------------------------
    def cstr(self, p: Proc, v: Any, limit: int = 1 << 20) -> bytes:
        if isinstance(v, Str):
            return v.b
        if v is None or v == 0:
            raise ProcessKilled(f"{sg.BAD_ADDRESS_NOTE} pc={sg.PC_MASK}")
        s = self.mem(p).cstring(int(v), limit)
        if s is None:
            raise KernelError(Ebadarg)
        return s

    def ptr(self, v: Any) -> int:
        if v is None or not isinstance(v, int):
            return 0
        return int(v) & self.arch.addr_mask

    def evenaddr(self, p: Proc, addr: int) -> None:
        if self.arch.name not in ("amd64", "386") and addr & 3:
            self.postnote(p, "sys: odd address", NDEBUG)
            raise KernelError(Ebadarg)

    # --- notes ----------------------------------------------------------------
    def postnote(self, p: Proc, msg: str, flag: int) -> int:
        """port/proc.c postnote: a system note flushes the queue when it cannot be handled."""
        if p.state == "dead":
            return 0
        if flag != NUSER and (p.notify is None or p.notified):
            p.notes.clear()
        ret = 0
        if len(p.notes) < NNOTE:
            b = msg.encode("utf-8", "surrogateescape")[: ERRMAX - 1]
            p.notes.append(Note(b.decode("utf-8", "surrogateescape"), flag))
            ret = 1
        if p.state == "wait":
            p.pending_interrupt = True
        return ret

    # --- sysproc.c ------------------------------------------------------------
    def sys_sysr1(self, p: Proc, a: list[Any]) -> Result:
        if p.user != self.eve:  # type: ignore[attr-defined]
            raise KernelError(Eperm)
        return Result(0)

    def sys_exits(self, p: Proc, a: list[Any]) -> Result:
        v = a[0]
        if v is None or v == 0:
            raise Exit("")
        try:
            s = self.cstr(p, v, ERRMAX)
        except (ProcessKilled, KernelError):
            s = None
            if not isinstance(v, Str) and not self.mem(p).ok(int(v), 1, False):
                raise Exit("invalid exit string") from None
        if s is None:  # no NUL in ERRMAX bytes: the first ERRMAX-1 bytes
            s = self.mem(p).read(int(v), ERRMAX - 1)
        s = s[: ERRMAX - 1]
        raise Exit(s.decode("utf-8", "surrogateescape"))

    def pwait(self, p: Proc) -> Generator[Wait, str, tuple[int, str, bool]]:
        """port/proc.c pwait: (child pid, its exit message, whether which child
        it is was up to the real scheduler)."""
        if p.nchild == 0 and not p.waitq:
            raise KernelError(Enochild)
        while not p.waitq:
            why = yield Wait(ready=lambda: bool(p.waitq) or p.nchild == 0)
            if why == "intr":
                raise KernelError(Eintr)
            if not p.waitq and p.nchild == 0:
                raise KernelError(Enochild)
        # Which child is reported is the order children exited in; with more
        # than one candidate that order is the real scheduler's, not ours.
        if len(p.waitq) > 1 or p.nchild > 0:
            p.await_order_unknown = True  # and so is every later wait's child
        return p.waitpids.pop(0), p.waitq.pop(0), p.await_order_unknown

    def sys_await(self, p: Proc, a: list[Any]) -> Generator[Wait, str, Result]:
        addr, n = self.ptr(a[0]), int(a[1]) & ULONG
        self.mem(p).validaddr(addr, n, True)
        pid, msg, unknown_child = yield from self.pwait(p)
        nondet = ["ret", "~times"] + (["out.text"] if unknown_child else [])
        full = f"{pid} 0 0 0 {quote(msg)}".encode("utf-8", "surrogateescape")
        if n == 0:
            return Result(-1, out={"text": ""}, nondet=nondet)
        t = fmt_trunc(full, n - 1)
        if b"pc=" + sg.PC_MASK.encode() in t:
            nondet.append("~pc")
        if b"addr=ADDR" in t and "out.text" not in nondet:
            nondet.append("out.text")  # Machine.agent_needs_its_data: where the agent faulted
        # its pid and time digits are the real kernel's: a raw look at these
        # bytes (probe buf) cannot be predicted
        self.mem(p).write(addr, t, known=False)
        self.mem(p).write(addr + len(t), b"\0")
        return Result(len(t), out={"text": text(t)}, nondet=nondet)

    def sys__wait(self, p: Proc, a: list[Any]) -> Generator[Wait, str, Result]:
        """sys_wait, the pre-await _WAIT: an OWaitmsg (pid and three times as
        NUMSIZE-wide right-aligned numbers, then a 64-byte message), or with
        a nil pointer only the reaping."""
        ow = self.ptr(a[0])
        if ow:
            self.mem(p).validaddr(ow, OWAITMSG_SIZE, True)
            self.evenaddr(p, ow)
        pid, msg, unknown_child = yield from self.pwait(p)
        nondet = ["ret", "out.msg"] if unknown_child else []
        if not ow:
            return Result(pid, nondet=nondet)
        full = msg.encode("utf-8", "surrogateescape")
        raw = owaitmsg(pid, full)
        unknown = 4 * NUMSIZE + min(len(full), OWAIT_MSGLEN - 1)
        mem = self.mem(p)
        mem.write(ow, raw[:unknown], known=False)  # the real pid, times and "textname PID: ..."
        mem.write(ow + unknown, raw[unknown:])
        body = raw[4 * NUMSIZE : unknown]
        if "pc=" + sg.PC_MASK in msg:
            nondet.append("~pc")
        cut = len(full) > OWAIT_MSGLEN - 1
        if ("addr=ADDR" in msg or cut) and "out.msg" not in nondet:
            # where the 63-byte cut falls depends on the real pid's digits
            nondet.append("out.msg")
        return Result(pid, out={"msg": text(body)}, nondet=nondet)

    def _errstr(self, p: Proc, addr: int, nbuf: int) -> Result:
        if nbuf == 0:
            raise KernelError(Ebadarg)
        nbuf = min(nbuf, ERRMAX)
        m = self.mem(p)
        m.validaddr(addr, nbuf, True)
        mine = utfecpy(m.read(addr, nbuf), nbuf)
        give = utfecpy(p.errstr, nbuf)
        m.write(addr, give + b"\0")
        p.errstr = mine
        return Result(0, out={"text": text(give)})

    def sys_errstr(self, p: Proc, a: list[Any]) -> Result:
        return self._errstr(p, self.ptr(a[0]), int(a[1]) & ULONG)

    def sys__errstr(self, p: Proc, a: list[Any]) -> Result:
        return self._errstr(p, self.ptr(a[0]), 64)

    def sys_werrstr(self, p: Proc, a: list[Any]) -> Result:
        # libc werrstr: vseprint into char[ERRMAX], then errstr(buf, ERRMAX)
        p.errstr = utfecpy(fmt_trunc(self.cstr(p, a[0]), ERRMAX - 1), ERRMAX)
        return Result(None)

    def sys_rendezvous(self, p: Proc, a: list[Any]) -> Generator[Wait, str, Result]:
        tag, val = int(a[0]) & self.arch.addr_mask, int(a[1]) & self.arch.addr_mask
        g = p.rgrp
        other = g.waiting.pop(tag, None)
        if other is not None and other.state != "dead":
            got = other.wake
            other.wake = ("rend", val)
            other.pending_interrupt = False
            return Result(self.signed(got[1]))
        p.wake = ("rendwait", val)
        g.waiting[tag] = p
        while True:
            why = yield Wait(ready=lambda: isinstance(p.wake, tuple) and p.wake[0] == "rend")
            if isinstance(p.wake, tuple) and p.wake[0] == "rend":
                return Result(self.signed(p.wake[1]))
            if why == "intr":  # postnote pulls it out with rendval = ~0
                if g.waiting.get(tag) is p:
                    del g.waiting[tag]
                return Result(-1)

    def signed(self, v: int) -> int:
        bits = 8 * self.arch.pointer_size
        v &= (1 << bits) - 1
        return v - (1 << bits) if v >> (bits - 1) else v

    def _semseg(self, p: Proc, addr: int) -> sg.Segment:
        self.evenaddr(p, addr)
        s = sg.seg_at(p.segs, addr)
        if s is None or s.ronly or addr + 4 > s.top:
            self.mem(p).validaddr(addr, 4, True)
            raise KernelError(Ebadarg)
        return s

    def sys_semacquire(self, p: Proc, a: list[Any]) -> Generator[Wait, str, Result]:
        addr = self.ptr(a[0])
        s = self._semseg(p, addr)
        m = self.mem(p)
        if m.long(addr) < 0:
            raise KernelError(Ebadarg)
        if self._canacquire(m, addr):
            return Result(1)
        if int(a[1]) == 0:
            return Result(0)
        while True:
            why = yield Wait(ready=lambda: m.long(addr) > 0)
            if self._canacquire(m, addr):
                return Result(1)
            if why == "intr":
                raise KernelError(Eintr)
            del s

    def sys_tsemacquire(self, p: Proc, a: list[Any]) -> Generator[Wait, str, Result]:
        addr = self.ptr(a[0])
        self._semseg(p, addr)
        m = self.mem(p)
        ms = int(a[1]) & ULONG
        if m.long(addr) < 0:
            raise KernelError(Ebadarg)
        if self._canacquire(m, addr):
            return Result(1)
        if ms == 0:
            return Result(0)
        until = self.now + ms
        while True:
            why = yield Wait(ready=lambda: m.long(addr) > 0, until=until)
            if self._canacquire(m, addr):
                return Result(1)
            if why == "intr":
                raise KernelError(Eintr)
            if self.now >= until:
                return Result(0)

    @staticmethod
    def _canacquire(m: sg.Memory, addr: int) -> bool:
        v = m.long(addr)
        if v > 0:
            m.set_long(addr, v - 1)
            return True
        return False

    def sys_semrelease(self, p: Proc, a: list[Any]) -> Result:
        addr = self.ptr(a[0])
        self._semseg(p, addr)
        delta = int(a[1])
        delta = delta - (1 << 32) if delta & 0x80000000 else delta & ULONG  # long
        m = self.mem(p)
        if delta < 0 or m.long(addr) < 0:
            raise KernelError(Ebadarg)
        v = m.long(addr) + delta
        m.set_long(addr, v)
        return Result(self.l32(v))

    @staticmethod
    def l32(v: int) -> int:
        v &= ULONG
        return v - (1 << 32) if v >> 31 else v

    def sys_sleep(self, p: Proc, a: list[Any]) -> Generator[Wait, str, Result]:
        ms = self.l32(int(a[0]))
        if ms <= 0:
            return Result(0)
        until = self.now + ms
        while self.now < until:
            why = yield Wait(until=until)
            if why == "intr":
                raise KernelError(Eintr)
        return Result(0)

    def sys_alarm(self, p: Proc, a: list[Any]) -> Result:
        ms = int(a[0]) & ULONG
        old = max(p.alarm - self.now, 0) if p.alarm else 0
        p.alarm = self.now + ms if ms else 0
        return Result(old, nondet=["ret"] if old else [])

    def sys_nsec(self, p: Proc, a: list[Any]) -> Result:
        return Result(1_000_000_000 + self.now * 1_000_000, nondet=["ret"])

    def sys_notify(self, p: Proc, a: list[Any]) -> Result:
        mode = a[0] if isinstance(a[0], str) else None
        p.notify = None if mode in (None, "none") else mode
        return Result(0)

    def sys_noted(self, p: Proc, a: list[Any]) -> Result:
        # The agent's noted is only ever called outside its handler here:
        # sysnoted raises Egreg and the arch noted() then kills (pc64 trap.c).
        if not p.notified:
            raise Exit("Suicide")
        raise KernelError(Egreg)

    def sys_brk(self, p: Proc, a: list[Any]) -> Result:
        return Result(sg.ibrk(p.segs, self.ptr(a[0]), sg.BSEG, self.arch))

    def sys_segbrk(self, p: Proc, a: list[Any]) -> Result:
        return Result(sg.segbrk(p.segs, self.ptr(a[0]), self.ptr(a[1]), self.arch))

    def sys_segattach(self, p: Proc, a: list[Any]) -> Result:
        name = self.cstr(p, a[1]).decode("utf-8", "replace")
        va = sg.segattach(p.segs, self.l32(int(a[0])), name, self.ptr(a[2]), int(a[3]) & ULONG, self.arch)
        return Result(va)

    def sys_segdetach(self, p: Proc, a: list[Any]) -> Result:
        return Result(sg.segdetach(p.segs, self.ptr(a[0])))

    def sys_segfree(self, p: Proc, a: list[Any]) -> Result:
        return Result(sg.segfree(p.segs, self.ptr(a[0]), int(a[1]), self.arch))

    # --- the fd subset (port/sysfile.c) -----------------------------------------
    def fd(self, p: Proc, fd: int) -> Chan:
        c = p.fgrp.fds.get(self.l32(fd))
        if c is None:
            raise KernelError(Ebadfd)
        return c

    def newfd(self, p: Proc, c: Chan) -> int:
        fd = 0
        while fd in p.fgrp.fds:
            fd += 1
        p.fgrp.fds[fd] = c
        if c.cexec:
            p.fgrp.cexec.add(fd)
        return fd

    def _synth(self, p: Proc, full: str) -> bytes | None:
        """/env/NAME and /proc/N/{args,noteid,segment} contents."""
        if full.startswith("/env/"):
            return p.egrp.env.get(full[5:])
        parts = full.split("/")
        if len(parts) == 4 and parts[1] == "proc" and parts[2].isdigit():
            q = self.procs.get(int(parts[2]))
            if q is None or q.state == "dead":
                return None
            if parts[3] == "noteid":
                return str(q.noteid).encode()
            if parts[3] == "args":
                return procargs(q).encode("utf-8", "surrogateescape")
            if parts[3] == "segment":
                rows = [s.row() for s in q.segs if s is not None]
                return "".join(f"{r[0]:<6} {r[1]:<2} {r[2]:8x} {r[3]:8x} {r[4]:4d}\n" for r in rows).encode()
            if parts[3] in ("note", "notepg", "ctl"):
                return b""
        return None

    def _open(self, p: Proc, path: str, mode: int, create: bool = False, perm: int = 0) -> Chan:
        full = self.fs.clean(path, p.dot)
        if p.pgrp.nomnt and path.startswith("#") and path[1:2] not in ("|", "d", "e", "c", "p"):
            raise KernelError("mount/attach disallowed")
        synth = self._synth(p, full)
        if synth is not None:
            if create and full.startswith("/env/"):
                p.egrp.env[full[5:]] = b""
                synth = b""
            return Chan(full, mode & 3, kind="synth", synth=synth)
        if create and full.startswith("/env/"):
            p.egrp.env[full[5:]] = b""
            return Chan(full, mode & 3, kind="synth")
        node = self.fs.nodes.get(full)
        if create:
            if node is not None and node.isdir:
                raise KernelError(Eexist)
            if not self.fs.parent_exists(full):  # namec Acreate walks all but the last element
                raise self.fs.walk_error(path, p.dot, self.profile, upto=len([e for e in path.split("/") if e]) - 1)
            if node is None or perm & 0x80000000:
                self.fs.nodes[full] = node = type(self.fs.nodes["/"])(isdir=bool(perm & 0x80000000), perm=perm)
            node.data.clear()
        elif node is None:
            raise self.fs.walk_error(path, p.dot, self.profile)
        elif mode & 16:
            node.data.clear()
        devs = {"/dev/null": "null", "/dev/cons": "cons", "/dev/user": "user"}
        kind = devs.get(full) or ("dir" if node.isdir else "file")
        if kind == "dir" and mode & 3 not in (0,):
            raise KernelError("file is a directory")
        return Chan(full, mode & 3, node=node, kind=kind, cexec=bool(mode & 32))

    def sys_open(self, p: Proc, a: list[Any]) -> Result:
        path = self.cstr(p, a[0]).decode("utf-8", "surrogateescape")
        return Result(self.newfd(p, self._open(p, path, int(a[1]))))

    def sys_create(self, p: Proc, a: list[Any]) -> Result:
        path = self.cstr(p, a[0]).decode("utf-8", "surrogateescape")
        c = self._open(p, path, int(a[1]), create=True, perm=int(a[2]) & ULONG)
        c.cexec = bool(int(a[1]) & 32)
        return Result(self.newfd(p, c))

    def close_chan(self, c: Chan) -> None:
        c.refs -= 1
        if c.refs == 0 and c.pipe is not None:
            c.pipe.open_ends[c.end] -= 1

    def sys_close(self, p: Proc, a: list[Any]) -> Result:
        fd = self.l32(int(a[0]))
        self.fd(p, fd)
        p.fgrp.cexec.discard(fd)
        self.close_chan(p.fgrp.fds.pop(fd))
        return Result(0)

    def sys_dup(self, p: Proc, a: list[Any]) -> Result:
        old, new = self.l32(int(a[0])), self.l32(int(a[1]))
        c = self.fd(p, old)
        c.refs += 1
        if new < 0:
            fd = self.newfd(p, c)
            p.fgrp.cexec.discard(fd)  # dup never copies close-on-exec
            return Result(fd)
        if new > 100:  # sysdup: fd beyond the table's growth limit
            raise KernelError(Ebadfd)
        if new in p.fgrp.fds:
            self.close_chan(p.fgrp.fds[new])
        p.fgrp.fds[new] = c
        p.fgrp.cexec.discard(new)
        return Result(new)

    def sys_pipe(self, p: Proc, a: list[Any]) -> Result:
        addr = self.ptr(a[0])
        self.mem(p).validaddr(addr, 8, True)
        pp = Pipe(open_ends=[1, 1])
        fd0 = self.newfd(p, Chan("#|/data", 2, pipe=pp, end=0, kind="pipe"))
        fd1 = self.newfd(p, Chan("#|/data1", 2, pipe=pp, end=1, kind="pipe"))
        order: Literal["big", "little"] = "big" if self.arch.big_endian else "little"
        self.mem(p).write(addr, fd0.to_bytes(4, order) + fd1.to_bytes(4, order))
        return Result(0, out={"fds": [fd0, fd1]})

    def sys_read(self, p: Proc, a: list[Any]) -> Generator[Wait, str, Result]:
        c = self.fd(p, int(a[0]))
        addr, n = self.ptr(a[1]), self.l32(int(a[2]))
        if n < 0:
            raise KernelError("negative i/o count")
        self.mem(p).validaddr(addr, n, True)
        if c.mode == 1:
            raise KernelError("inappropriate use of fd")
        data = b""
        if c.kind == "pipe" and c.pipe is not None:
            q = c.pipe.buf[c.end]
            while not q and c.pipe.open_ends[1 - c.end] > 0:
                why = yield Wait(ready=lambda: bool(q) or c.pipe is None or c.pipe.open_ends[1 - c.end] == 0)
                if why == "intr":
                    raise KernelError(Eintr)
            data = bytes(q[:n])
            del q[:n]
        elif c.kind == "file" and c.node is not None:
            data = bytes(c.node.data[c.offset : c.offset + n])
        elif c.kind == "synth":
            data = c.synth[c.offset : c.offset + n]
        elif c.kind == "user":  # devcons.c readstr(offset, up->user)
            data = p.user.encode()[c.offset : c.offset + n]
        c.offset += len(data)
        self.mem(p).write(addr, data)
        return Result(len(data), out={"hex": data.hex()})

    def sys_write(self, p: Proc, a: list[Any]) -> Result:
        c = self.fd(p, int(a[0]))
        addr, n = self.ptr(a[1]), self.l32(int(a[2]))
        if n < 0:
            raise KernelError("negative i/o count")
        self.mem(p).validaddr(addr, n, False)
        if c.mode == 0:
            raise KernelError("inappropriate use of fd")
        data = self.mem(p).read(addr, n)
        if c.kind == "pipe" and c.pipe is not None:
            if c.pipe.open_ends[1 - c.end] == 0:
                self.postnote(p, "sys: write on closed pipe", NUSER)
                raise KernelError("i/o on hungup channel")
            c.pipe.buf[1 - c.end] += data
        elif c.kind == "file" and c.node is not None:
            d = c.node.data
            if c.offset > len(d):
                d += bytes(c.offset - len(d))
            d[c.offset : c.offset + n] = data
            c.offset += n
        elif c.kind == "user":
            # auth.c userwrite: the only change allowed is to "none"
            if data != b"none":
                raise KernelError(Eperm)
            p.user = "none"
        elif c.kind == "synth" and c.path.startswith("/env/"):
            p.egrp.env[c.path[5:]] = p.egrp.env.get(c.path[5:], b"") + data
        return Result(n)

    def sys_seek(self, p: Proc, a: list[Any]) -> Result:
        c = self.fd(p, int(a[0]))
        if c.kind == "pipe":
            raise KernelError("seek on a stream")
        off, whence = int(a[1]), int(a[2])
        size = len(c.node.data) if c.node is not None else len(c.synth)
        base = {0: 0, 1: c.offset, 2: size}.get(whence)
        if base is None or base + off < 0:
            raise KernelError("negative seek offset" if base is not None else Ebadarg)
        c.offset = base + off
        return Result(c.offset)

    def sys_remove(self, p: Proc, a: list[Any]) -> Result:
        path = self.cstr(p, a[0]).decode("utf-8", "surrogateescape")
        full = self.fs.clean(path, p.dot)
        if full.startswith("/env/") and full[5:] in p.egrp.env:
            del p.egrp.env[full[5:]]
            return Result(0)
        if full not in self.fs.nodes:
            raise self.fs.walk_error(path, p.dot, self.profile)
        if any(k.startswith(full + "/") for k in self.fs.nodes):
            raise KernelError("directory not empty")
        del self.fs.nodes[full]
        return Result(0)

    def sys_fd2path(self, p: Proc, a: list[Any]) -> Result:
        c = self.fd(p, int(a[0]))
        addr, n = self.ptr(a[1]), int(a[2]) & ULONG
        self.mem(p).validaddr(addr, n, True)
        s = utfecpy(c.path.encode(), n)
        if n:
            self.mem(p).write(addr, s + b"\0")
        return Result(0, out={"text": text(s)})

    def sys_chdir(self, p: Proc, a: list[Any]) -> Result:
        path = self.cstr(p, a[0]).decode("utf-8", "surrogateescape")
        full, node = self.fs.lookup(path, p.dot, self.profile)
        if not node.isdir:
            raise KernelError("not a directory")
        p.dot = full
        return Result(0)

    def sys_postnote(self, p: Proc, a: list[Any]) -> Result:
        group, pid = int(a[0]), self.l32(int(a[1]))
        msg = self.cstr(p, a[2]).decode("utf-8", "surrogateescape")
        q = self.procs.get(pid)
        name = f"/proc/{pid}/{'notepg' if group == 2 else 'note'}"
        if q is None or q.state == "dead":
            # the walk fails at the pid element: namec names /proc/N
            raise namec_error(name, Enonexist, self.profile, len(f"/proc/{pid}"))
        if group == 2:
            # devproc.c postnotepg (seed and head): every process of the
            # group except the writer itself.
            for r in sorted(self.procs.values(), key=lambda r: r.pid):
                if r is not p and r.noteid == q.noteid and r.state != "dead":
                    self.postnote(r, msg, NUSER)
        else:
            self.postnote(q, msg, NUSER)
        return Result(0)


def procargs(q: Proc) -> str:
    """devproc.c procargs: the saved args, each %q'd, blank separated."""
    parts = q.args.split(b"\0")
    if parts and parts[-1] == b"":
        parts.pop()
    return " ".join(quote(x.decode("utf-8", "surrogateescape")) for x in parts)
