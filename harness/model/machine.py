"""The deterministic machine: executes a compiled Program, yields trace Records.

Scheduling: the lowest runnable pid runs until it blocks (or exits); the
virtual clock (ms) advances only when every live process is blocked, to the
earliest deadline (sleep, tsemacquire, alarm).  When nothing can ever run
again the run ends and every remaining process gets a ``hung`` record (see
syscalls.py).  STEP_LIMIT statements in all guard against runaway programs.

The agent image: Machine(agent_image=bytes) loads that a.out (helper
harness.model.aout); without it a synthetic image with text 0x18000, data
0x1800 and bss 0x2000 bytes is used (SYNTH_*), laid out by the same loader.
"""

from __future__ import annotations

import inspect
import struct
from collections.abc import Generator
from typing import Any, NoReturn

from harness.model import aout
from harness.model import segments as sg
from harness.model.arch import Arch, get_arch
from harness.model.errors import Enovmem, KernelError, ProcessKilled
from harness.model.fs import (
    AGENT_PATH,
    AGENT_TEXT,
    PERM_SERVER,
    SCRATCH_DIR,
    Chan,
    FileTree,
    namec_error,
)
from harness.model.process import ERRMAX, NDEBUG, NUSER, Egrp, Fgrp, Pgrp, Proc, Rgrp, wait_message
from harness.model.profiles import DEFAULT_PROFILE, Profile, get_profile
from harness.model.syscalls import Exit, Result, Str, Syscalls, Wait, procargs, text
from harness.program import Program, Stmt
from harness.trace.schema import ACTION, CALL, NOTE, PROBE, START, Record, abbreviate_args

Eioload = "i/o error in demand load"  # port/error.h (fault.c faulterror)
UNKNOWN_ADDR = "ADDR"  # a fault address the model cannot know (await marks its message nondet)
STEP_LIMIT = 20000
NPROC = 200  # the model's conf.nproc stand-in: newproc fails with "no procs"
FIRST_PID = 100
HOSTOWNER = "glenda"
SYNTH_TEXT, SYNTH_DATA, SYNTH_BSS = 0x18000, 0x1800, 0x2000
RFPROC, RFMEM, RFNOWAIT = 1 << 4, 1 << 5, 1 << 6
RFNAMEG, RFENVG, RFFDG, RFNOTEG = 1, 2, 4, 8
RFCNAMEG, RFCENVG, RFCFDG, RFREND, RFNOMNT = 1 << 10, 1 << 11, 1 << 12, 1 << 13, 1 << 14


def synthetic_agent(arch: Arch) -> bytes:
    magic = arch.magics[0]
    hdr = 40 if magic & 0x8000 else 32
    entry = arch.utzero + hdr
    words = struct.pack(
        ">8I", magic, SYNTH_TEXT, SYNTH_DATA, SYNTH_BSS, 0, entry & 0xFFFFFFFF, 0, 0
    )
    if magic & 0x8000:
        words += struct.pack(">Q", entry)
    return words + bytes(SYNTH_TEXT + SYNTH_DATA)


class Machine(Syscalls):
    def __init__(
        self,
        arch: str | Arch,
        profile: str | Profile = DEFAULT_PROFILE,
        agent_image: bytes | None = None,
        scratch_server: str = PERM_SERVER,
    ) -> None:
        self.scratch_server = scratch_server
        self.arch = arch if isinstance(arch, Arch) else get_arch(arch)
        self.profile = profile if isinstance(profile, Profile) else get_profile(profile)
        self.agent = agent_image if agent_image is not None else synthetic_agent(self.arch)
        self.eve = HOSTOWNER

    # --- set-up ------------------------------------------------------------------
    def run(self, program: Program) -> list[Record]:
        self.prog = program
        self.fs = FileTree(self.scratch_server)
        self.fs.nodes[AGENT_PATH].data = bytearray(self.agent)
        self.now = 0
        self.nextpid = FIRST_PID
        self.procs: dict[int, Proc] = {}
        self.records: list[Record] = []
        self.images: dict[str, sg.Segment] = {}
        self.steps = 0
        self.bufoff: dict[str, int] = {}
        off = 0
        for name, data in program.buffers.items():
            self.bufoff[name] = off
            off += (len(data) + 7) & ~7
        self.bufsize = off
        p = self.newproc("main", None)
        # The agent is started by rc on the console: fds 0 (read), 1 and 2 (write)
        # are /dev/cons, as /proc/N/fd shows them on a real kernel.  It runs in a
        # note group of its own (the agent does rfork(RFNOTEG) first), so a
        # scenario's group notes cannot reach the shell.
        for fd, mode in ((0, 0), (1, 1), (2, 1)):
            p.fgrp.fds[fd] = Chan("/dev/cons", mode, kind="cons")
        p.noteid = self.allocpid()
        p.argv = [AGENT_PATH]
        p.args = aout.truncate_args(p.argv)
        self.load_agent(p, self.agent_plan())
        self.start(p, "main", first=True)
        self.schedule()
        return self.records

    def allocpid(self) -> int:
        self.nextpid += 1
        return self.nextpid

    def newproc(self, name: str, parent: Proc | None) -> Proc:
        if sum(1 for q in self.procs.values() if q.state != "dead") >= NPROC:
            raise KernelError("no procs")
        p = Proc(pid=self.allocpid(), name=name, text=AGENT_TEXT, user=HOSTOWNER)
        self.procs[p.pid] = p
        return p

    def agent_plan(self) -> aout.ExecImage:
        return aout.load_image(self.agent, self.arch, self.profile)

    def load_agent(self, p: Proc, img: aout.ExecImage) -> None:
        """Segments of a fresh agent image plus its buffers at `end`."""
        text = self.images.get(AGENT_PATH)
        if text is None or text.ref <= 0:
            text = sg.Segment(
                sg.SG_TEXT | sg.SG_RONLY, img.text.base, img.text.top, 0, image=AGENT_PATH
            )
            self.images[AGENT_PATH] = text
        text.ref += 1
        p.segs[sg.TSEG] = text
        p.segs[sg.DSEG] = sg.Segment(sg.SG_DATA, img.data.base, img.data.top)
        p.segs[sg.BSEG] = sg.Segment(sg.SG_BSS, img.bss.base, img.bss.top)
        p.segs[sg.SSEG] = sg.Segment(sg.SG_STACK | sg.SG_NOEXEC, img.stack.base, img.stack.top)
        end = img.bssend
        p.vars["__end"] = end
        if self.bufsize:
            sg.ibrk(p.segs, end + self.bufsize, sg.BSEG, self.arch)
        m = self.mem(p)
        for name, data in self.prog.buffers.items():
            if any(data):
                m.write(end + self.bufoff[name], data)

    def start(self, p: Proc, block: str, first: bool) -> None:
        p.block, p.pc = block, 0
        p.gen = self.body(p, first)
        p.state = "ready"

    def record(
        self, p: Proc, st: Stmt | None, kind: str, op: str, r: Result | None = None, **kw: Any
    ) -> None:
        rec = Record(
            proc=p.name,
            seq=p.seq,
            step=st.step if st else 0,
            kind=kind,
            op=op,
            args=abbreviate_args(st.tokens) if st else [],
            ret=r.ret if r else None,
            err=r.err if r else None,
            out=dict(r.out) if r else {},
            nondet=list(r.nondet) if r else [],
        )
        if op == "exec" and isinstance(rec.out.get("argv"), list):
            rec.out["argv"] = abbreviate_args(rec.out["argv"])
        for k, v in kw.items():
            setattr(rec, k, v)
        p.seq += 1
        self.records.append(rec)

    # --- the scheduler -------------------------------------------------------------
    def schedule(self) -> None:
        while True:
            live = sorted(
                (q for q in self.procs.values() if q.state != "dead"), key=lambda q: q.pid
            )
            if not live:
                return
            runnable = self.next_runnable(live)
            if runnable is None:
                if not self.advance_clock(live):
                    self.hang(live, "deadlock")
                    return
                continue
            q, why = runnable
            self.step_proc(q, why)
            for r in live:
                if r is not q and r.state == "wait":
                    r.wake_wait.yielded = False  # type: ignore[attr-defined]
            if self.steps > STEP_LIMIT:
                self.hang([r for r in live if r.state != "dead"], "step-limit")
                return

    def next_runnable(self, live: list[Proc]) -> tuple[Proc, str | None] | None:
        """The lowest pid that can run, unless it has just yielded the CPU
        and someone else can run."""
        yielded: tuple[Proc, str | None] | None = None
        for q in live:
            if q.state == "ready":
                return q, None
            if q.wake_wait.yielded:  # type: ignore[attr-defined]
                yielded = yielded or (q, "ok")
                continue
            why = self.wake_reason(q)
            if why is not None:
                return q, why
        return yielded

    def wake_reason(self, q: Proc) -> str | None:
        w: Wait = q.wake_wait  # type: ignore[attr-defined]
        if q.pending_interrupt:
            q.pending_interrupt = False
            return "intr"
        if w.ready is not None and w.ready():
            return "ok"
        if w.until is not None and self.now >= w.until:
            return "timeout"
        return None

    def advance_clock(self, live: list[Proc]) -> bool:
        times = [q.wake_wait.until for q in live if q.wake_wait.until is not None]  # type: ignore[attr-defined]
        times += [q.alarm for q in live if q.alarm]
        if not times:
            return False
        self.now = max(self.now, min(times))
        for q in live:
            if q.alarm and q.alarm <= self.now:
                q.alarm = 0
                self.postnote(q, "alarm", NUSER)
        return True

    def hang(self, procs: list[Proc], why: str) -> None:
        for q in procs:
            if q.state == "dead":
                continue
            st = getattr(q, "cur", None)
            self.record(q, st, CALL, st.op if st else "exits", out={"hung": why})
            q.state = "dead"

    def step_proc(self, q: Proc, why: str | None) -> None:
        assert q.gen is not None
        # While it runs it is neither ready nor waiting: a note it posts to
        # itself must not mark its next sleep as interrupted.
        q.state = "running"
        try:
            w = q.gen.send(why) if why is not None else next(q.gen)
            q.state, q.wake_wait = "wait", w  # type: ignore[attr-defined]
        except StopIteration:
            pass

    # --- one process -------------------------------------------------------------
    def body(self, p: Proc, first: bool) -> Generator[Wait, str, None]:
        try:
            if first:
                self.record(p, None, START, "start", out={"pid": p.pid})
            while True:
                stmts = self.prog.blocks.get(p.block, [])
                if p.pc >= len(stmts):
                    raise Exit("")
                st = stmts[p.pc]
                p.pc += 1
                p.cur = st  # type: ignore[attr-defined]
                self.steps += 1
                if self.steps > STEP_LIMIT:
                    yield Wait(ready=lambda: False, interruptible=False)
                done = yield from self.execute(p, st)
                self.deliver_notes(p, st)
                if done is not None:
                    self.agent_needs_its_data(p)
                    self.record(p, st, done[0], st.op, done[1])
        except Exit as e:
            self.pexit(p, e.msg)
        except ProcessKilled as e:
            self.pexit(p, e.note)

    def agent_needs_its_data(self, p: Proc) -> None:
        """The agent writes each record from its static buffers in Data and
        Bss: with either detached it faults there, so the record of the call
        that detached it is never written.  Where exactly it faults depends
        on the agent binary; the wait message says ADDR and is nondet."""
        if p.segs[sg.DSEG] is None or p.segs[sg.BSEG] is None:
            raise ProcessKilled(f"sys: trap: fault read addr={UNKNOWN_ADDR} pc={sg.PC_MASK}")

    def execute(self, p: Proc, st: Stmt) -> Generator[Wait, str, tuple[str, Result] | None]:
        """Run one statement; return (kind, result) to be recorded after the
        notes the call left pending were delivered (as on a real return)."""
        try:
            args = [self.resolve(p, a) for a in st.args]
        except KernelError as e:  # unreachable by construction; keep the run alive
            return CALL, Result(-1, e.errstr)
        kind = {"call": CALL, "probe": PROBE, "action": ACTION}[st.kind]
        if st.op == "rfork":
            r = self.sys_rfork(p, st, args)
            if isinstance(r.ret, int) and r.ret > 0:
                # sysrfork ends with ready(child); sched(): on the guest's
                # one CPU the child runs first, until it blocks.
                yield Wait(ready=lambda: True, interruptible=False, yielded=True)
        elif st.op == "exec":
            yield from self.sys_exec(p, st, args)
            return None
        elif st.op == "exits":
            self.record(p, st, CALL, "exits", Result(None))
            self.sys_exits(p, args)
            return None
        elif st.kind == "probe":
            r = self.probe(p, args)
        elif st.op in ("writefile", "putenv", "touch"):
            r = getattr(self, "act_" + st.op)(p, args)
        else:
            fn = getattr(self, "sys_" + st.op)
            try:
                res = fn(p, args)
                if inspect.isgenerator(res):
                    res = yield from res
                r = res
            except (TypeError, ValueError, AttributeError, IndexError):
                # an argument of the wrong kind (c:/h:/w: where a number is
                # due): only hand-written programs get here; a clean Ebadarg
                r = Result(-1, "bad arg in system call")
                p.errstr = r.err.encode() if r.err else b""
            except KernelError as e:
                r = Result(-1, utfecpy_err(e.errstr))
                p.errstr = r.err.encode("utf-8", "surrogateescape") if r.err else b""
        if st.result and isinstance(r.ret, int):
            p.vars[st.result] = r.ret
        if kind == CALL and r.ret == -1 and r.err is None:  # ret -1 without error(): errstr as it stands
            r.err = text(p.errstr)
        return kind, r

    def resolve(self, p: Proc, a: Any) -> Any:
        k, t = a.kind, a.text
        if k == "i":
            return a.int_value()
        if k == "s":
            t = t.replace("$agent", AGENT_PATH).replace("$dir", SCRATCH_DIR)
            return Str(t.encode("utf-8", "surrogateescape"))
        if k == "b":
            name, off = a.buffer_ref()
            return (p.vars.get("__end", 0) + self.bufoff.get(name, 0) + off) & self.arch.addr_mask
        if k == "a":
            base, off = a.address_ref()
            if isinstance(base, str):
                base = self.base_addr(p, base)
            return (base + off) & self.arch.addr_mask
        if k == "v":
            if t == "pid":
                return p.pid
            if t == "ppid":
                return p.ppid
            return p.vars.get(t, 0)
        if k == "n":
            return 0
        return t

    def base_addr(self, p: Proc, name: str) -> int:
        slots = {
            "text": (sg.TSEG, 0),
            "data": (sg.DSEG, 0),
            "bss": (sg.BSEG, 0),
            "end": (sg.BSEG, 1),
            "stack": (sg.SSEG, 0),
            "stacktop": (sg.SSEG, 1),
        }
        if name not in slots:
            return p.vars.get(name, 0)
        i, top = slots[name]
        s = p.segs[i]
        if s is None:
            return 0
        return s.top if top else s.base

    # --- notes -------------------------------------------------------------------
    def deliver_notes(self, p: Proc, st: Stmt) -> None:
        """The arch notify() on the way back to user mode, then the handler."""
        if p.notes:
            p.pending_interrupt = False  # notify() consumes notepending
        while p.notes:
            n = p.notes[0]
            msg = n.msg
            if msg.startswith("sys:"):
                msg = msg[: ERRMAX - 15] + f" pc={sg.PC_MASK}"
            if n.flag != NUSER and (p.notified or p.notify is None):
                raise Exit(msg)
            if p.notify is None:
                raise Exit(msg)
            p.notes.pop(0)
            p.lastnote = type(n)(msg, n.flag)
            p.notified = True
            nd = ["~pc"] if "pc=PC" in msg else []
            self.record(p, st, NOTE, "note", out={"note": msg}, nondet=nd)
            mode = p.notify
            if mode == "cont":
                p.notified = False
            elif mode == "dflt" or mode == "exit":
                raise Exit(msg)
            else:  # badarg: noted(bogus) -> lastnote.flag = NDebug, pexit
                raise Exit(msg)

    def pexit(self, p: Proc, msg: str) -> None:
        if p.state == "dead":
            return
        p.state = "dead"
        par = p.parent
        if par is not None and par.state != "dead":
            par.nchild -= 1
            par.waitq.append(wait_message(p.text, p.pid, msg))
            par.waitpids.append(p.pid)
        for q in self.procs.values():
            if q.parent is p:
                q.parent = None
        for i, s in enumerate(p.segs):
            sg.putseg(s)
            p.segs[i] = None
        for fd in list(p.fgrp.fds):
            if p.fgrp.__dict__.setdefault("_refs", 1) <= 1:
                self.close_chan(p.fgrp.fds[fd])
        if getattr(p.fgrp, "_refs", 1) > 1:
            p.fgrp._refs -= 1  # type: ignore[attr-defined]
        for tag, q in list(p.rgrp.waiting.items()):
            if q is p:
                del p.rgrp.waiting[tag]

    # --- rfork ---------------------------------------------------------------------
    def sys_rfork(self, p: Proc, st: Stmt, a: list[Any]) -> Result:
        flag = int(a[0]) & 0xFFFFFFFF
        block = a[1] if len(a) > 1 and isinstance(a[1], str) else None
        try:
            for x, y in ((RFFDG, RFCFDG), (RFNAMEG, RFCNAMEG), (RFENVG, RFCENVG)):
                if flag & (x | y) == x | y:
                    raise KernelError("bad arg in system call")
            if not flag & RFPROC:
                if flag & (RFMEM | RFNOWAIT):
                    raise KernelError("bad arg in system call")
                self.own_groups(p, flag)
                return Result(0)
            return Result(self.fork(p, st, flag, block))
        except KernelError as e:
            p.errstr = e.errstr.encode()
            return Result(-1, e.errstr)

    def own_groups(self, p: Proc, flag: int) -> None:
        if flag & (RFFDG | RFCFDG):
            p.fgrp = self.dupfgrp(p.fgrp if flag & RFFDG else None)
        if flag & (RFNAMEG | RFCNAMEG):
            p.pgrp = Pgrp(nomnt=p.pgrp.nomnt, empty=bool(flag & RFCNAMEG))
        if flag & RFNOMNT:
            p.pgrp.nomnt = True
        if flag & RFREND:
            p.rgrp = Rgrp()
        if flag & (RFENVG | RFCENVG):
            p.egrp = Egrp(dict(p.egrp.env) if flag & RFENVG else {})
        if flag & RFNOTEG:
            p.noteid = self.allocpid()

    def dupfgrp(self, f: Fgrp | None) -> Fgrp:
        n = Fgrp()
        if f is not None:
            for fd, c in f.fds.items():
                c.refs += 1
                n.fds[fd] = c
            n.cexec = set(f.cexec)
        return n

    def fork(self, p: Proc, st: Stmt, flag: int, block: str | None) -> int:
        c = self.newproc(f"s{st.step}", p)
        c.text, c.user, c.dot = p.text, p.user, p.dot
        if not self.profile.has("rfork-child-no-notes"):
            c.notes = [type(n)(n.msg, n.flag) for n in p.notes]
        c.notify = p.notify
        c.noteid = p.noteid if not flag & RFNOTEG else self.allocpid()
        c.argv, c.args = list(p.argv), b""  # kstrdup(&p->args, "")
        c.vars = dict(p.vars)
        if st.result:
            c.vars[st.result] = 0
        for i in range(sg.NSEG):
            c.segs[i] = sg.dupseg(p.segs, i, bool(flag & RFMEM))
        if flag & (RFFDG | RFCFDG):
            c.fgrp = self.dupfgrp(p.fgrp if flag & RFFDG else None)
        else:
            c.fgrp = p.fgrp
            p.fgrp._refs = getattr(p.fgrp, "_refs", 1) + 1  # type: ignore[attr-defined]
        if flag & (RFNAMEG | RFCNAMEG):
            c.pgrp = Pgrp(nomnt=p.pgrp.nomnt, empty=bool(flag & RFCNAMEG))
        else:
            c.pgrp = p.pgrp
        if flag & RFNOMNT:
            c.pgrp.nomnt = True
        c.rgrp = Rgrp() if flag & RFREND else p.rgrp
        if flag & (RFENVG | RFCENVG):
            c.egrp = Egrp(dict(p.egrp.env) if flag & RFENVG else {})
        else:
            c.egrp = p.egrp
        c.ppid = p.pid
        if not flag & RFNOWAIT:
            c.parent = p
            p.nchild += 1
        c.errstr = p.errstr
        c.state = "ready"
        if block is None:  # no child body: the child exits at once
            c.gen = self._exit_now(c)
        else:
            c.block, c.pc = block, 0
            c.gen = self.body(c, True)
        return c.pid

    def _exit_now(self, c: Proc) -> Generator[Wait, str, None]:
        self.record(c, None, START, "start", out={"pid": c.pid})
        self.pexit(c, "")
        return
        yield  # pragma: no cover

    # --- exec ------------------------------------------------------------------------
    def sys_exec(self, p: Proc, st: Stmt, a: list[Any]) -> Generator[Wait, str, None]:
        path_b = self.cstr(p, a[0])
        block = a[1]
        argv = [self.cstr(p, x) for x in a[2:] if x is not None]
        path = path_b.decode("utf-8", "surrogateescape")

        def read_file(f: str) -> bytes:
            full = self.fs.clean(f, p.dot)
            node = self.fs.nodes.get(full)
            if node is None:
                raise self.fs.walk_error(f, p.dot, self.profile)
            if node.isdir:
                raise namec_error(f, "cannot exec directory", self.profile)
            if not self.fs.may_exec(full, node):
                raise namec_error(f, "permission denied", self.profile)
            return bytes(node.data)

        try:
            plan = aout.plan_exec(path, argv, self.arch, self.profile, read_file)
            self.place_stack(p)
        except KernelError as e:
            err = e.errstr[: ERRMAX - 1]
            p.errstr = err.encode("utf-8", "surrogateescape")
            self.record(p, st, CALL, "exec", Result(-1, err))
            return
        # committed (sysexec lines 532ff)
        for i in (sg.SSEG, sg.TSEG, sg.DSEG, sg.BSEG):
            sg.putseg(p.segs[i])
            p.segs[i] = None
        for i in range(sg.ESEG + 1, sg.NSEG):
            s = p.segs[i]
            if s is not None and s.type & sg.SG_CEXEC:
                sg.putseg(s)
                p.segs[i] = None
        for fd in sorted(p.fgrp.cexec & set(p.fgrp.fds)):
            self.close_chan(p.fgrp.fds.pop(fd))
        p.fgrp.cexec.clear()
        p.text, p.argv, p.args = plan.text, list(plan.argv), plan.args
        p.notes.clear()
        p.notify, p.notified, p.lastnote = None, False, None
        p.errstr = b""
        if plan.image.commit_error:
            # newseg failed after the commit: "Disaster after commit", pexit
            raise Exit(plan.image.commit_error)
        if plan.binary == AGENT_PATH or self.fs.clean(plan.binary, p.dot) == AGENT_PATH:
            self.load_agent(p, plan.image)
            p.block, p.pc = block, 0
            self.record(p, st, CALL, "exec", Result(0, out={"argv": list(plan.argv)}))
            return
        node = self.fs.nodes.get(self.fs.clean(plan.binary, p.dot))
        self.run_foreign(p, plan.image, bytes(node.data) if node is not None else b"")
        yield  # pragma: no cover

    def run_foreign(self, p: Proc, img: aout.ExecImage, data: bytes) -> NoReturn:
        """A foreign image (not the agent): nobody prints records for it, in
        the guest nor here.  The model follows it only as far as the kernel
        decides its fate without knowing its instructions:

        * each text page it executes is demand-loaded first (fault.c pio:
          min(BY2PG, flen-soff) bytes from the file at fstart+soff, flen =
          header + text); a short read kills it: faulterror pexits with
          "i/o error in demand load" (Eioload);
        * all-zero code: on arm64 the zero word is an undefined instruction,
          "sys: trap: unknown" at the entry (arm64/trap.c traps[0]); on the
          other arches zero bytes execute as no-ops (amd64/386 add %al,(%rax),
          mips sll 0, arm andeq), so the pc slides to the text top, where the
          fetch faults (fault.c fault(): instruction fetch outside a text
          segment), "sys: trap: fault read addr=TOP";
        * any other code: unknowable; the model lets it exit with status "".
        """
        pg = self.arch.page_size
        base, top, entry = img.text.base, img.text.top, img.entry
        flen = img.hdr_size + img.header.text
        page = entry & ~(pg - 1)
        while page < top:
            soff = page - base
            if soff >= flen:
                break  # no file bytes: zero-filled pages up to the top
            ask = min(pg, flen - soff)
            if len(data) < soff + ask:
                raise Exit(Eioload)
            code = data[max(entry, page) - base : soff + ask]
            if any(code):
                raise Exit("")
            if self.arch.name == "arm64":
                raise Exit(f"sys: trap: unknown pc={sg.PC_MASK}")
            page += pg
        if self.arch.name == "arm64":
            raise Exit(f"sys: trap: unknown pc={sg.PC_MASK}")
        raise Exit(f"sys: trap: fault read addr={top:#x} pc={sg.PC_MASK}")

    def place_stack(self, p: Proc) -> None:
        """sysexec: the new stack goes below the old one, clear of every segment."""
        s = p.segs[sg.SSEG]
        while s is not None:
            tstk = s.base
            if tstk <= self.arch.ustksize:
                raise KernelError(Enovmem)
            s = sg.isoverlap(p.segs, tstk - self.arch.ustksize, self.arch.ustksize)

    # --- probes and actions --------------------------------------------------------
    def probe(self, p: Proc, a: list[Any]) -> Result:
        what = a[0]
        if what == "segments":
            return Result(None, out={"segments": [s.row() for s in p.segs if s is not None]})
        if what == "fds":
            rows = [
                [fd, ["r", "w", "rw", ""][c.mode & 3], c.path]
                for fd, c in sorted(p.fgrp.fds.items())
            ]
            return Result(None, out={"fds": rows})
        if what == "errstr":
            return Result(None, out={"errstr": text(p.errstr)})
        if what == "noteid":
            return Result(None, out={"noteid": p.noteid})
        if what == "brk":
            b = p.segs[sg.BSEG]
            return Result(None, out={"brk": b.top if b else 0})
        if what == "buf":
            addr = a[1] if isinstance(a[1], int) else 0
            n = a[2] if len(a) > 2 and isinstance(a[2], int) else self.buflen(addr, p)
            n = max(0, min(n, 1 << 16))
            mem = self.mem(p)
            nondet = [f"out.hex[{2 * a}:{2 * b}]" for a, b in mem.unknown_ranges(addr, n)]
            return Result(None, out={"hex": mem.read(addr, n).hex()}, nondet=nondet)
        if what == "env":
            name = a[1].b.decode("utf-8", "replace") if isinstance(a[1], Str) else ""
            v = p.egrp.env.get(name)
            return Result(None, out={"value": None if v is None else v.decode("utf-8", "replace")})
        if what == "args":
            return Result(None, out={"args": list(p.argv)})
        return Result(None, out={"procargs": procargs(p)})

    def buflen(self, addr: int, p: Proc) -> int:
        end = p.vars.get("__end", 0)
        for name, off in self.bufoff.items():
            if end + off <= addr < end + off + len(self.prog.buffers[name]) or end + off == addr:
                return end + off + len(self.prog.buffers[name]) - addr
        return 0

    def act_writefile(self, p: Proc, a: list[Any]) -> Result:
        path = self.cstr(p, a[0]).decode("utf-8", "surrogateescape")
        addr = a[1] if isinstance(a[1], int) else 0
        data = self.mem(p).read(addr, self.buflen(addr, p))
        perm = a[2] if len(a) > 2 and isinstance(a[2], int) else 0o775
        full = self.fs.clean(path, p.dot)
        if not self.fs.parent_exists(full):
            parts = full.split("/")
            for i in range(2, len(parts)):
                d = "/".join(parts[:i])
                if d not in self.fs.nodes:
                    self.fs.nodes[d] = type(self.fs.nodes["/"])(isdir=True, perm=0x80000000 | 0o775)
        self.fs.write_file(full, data, perm)
        return Result(0)

    def act_putenv(self, p: Proc, a: list[Any]) -> Result:
        name = self.cstr(p, a[0]).decode("utf-8", "surrogateescape")
        p.egrp.env[name] = self.cstr(p, a[1])
        return Result(0)

    def act_touch(self, p: Proc, a: list[Any]) -> Result:
        addr = int(a[1]) if isinstance(a[1], int) else 0
        m = self.mem(p)
        if a[0] == "w":
            m.fault(addr, 4, True)
            m.set_long(addr, int(a[2]) if len(a) > 2 and isinstance(a[2], int) else 0)
            return Result(0)
        m.fault(addr, 4, False)
        return Result(0, out={"value": m.long(addr)})


def utfecpy_err(s: str) -> str:
    b = s.encode("utf-8", "surrogateescape")
    from harness.model.process import utfecpy

    return utfecpy(b, ERRMAX).decode("utf-8", "surrogateescape")


_ = (NDEBUG,)
