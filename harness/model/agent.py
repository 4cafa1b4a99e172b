"""The guest agent's half of the model: it interprets the program in each
process (resolve arguments, call, probe, act) and records what it saw.

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
  (fault.py ``run_foreign``): a text page that cannot be demand-loaded
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

from collections.abc import Callable, Generator
from dataclasses import dataclass, field

from harness.model import segments as sg
from harness.model.aout import ExecImage
from harness.model.dev import procargs
from harness.model.errors import Ebadarg, Exit, KernelError, ProcessKilled
from harness.model.fmt import raw, text, unraw, utfecpy
from harness.model.fs import AGENT_PATH, SCRATCH_DIR
from harness.model.kernel import Arg, Args, Kernel, Str
from harness.model.notes import noted, notify
from harness.model.portdat import ERRMAX, Proc, ProcState, UserCode, Wait, Wake
from harness.model.proc import pexit
from harness.model.syscall import SYSCALLS, Result
from harness.model.sysproc import sysexec, sysexits
from harness.program import Arg as ProgArg
from harness.program import Program, Stmt
from harness.trace.schema import (
    ACTION,
    CALL,
    LONG_LIST,
    NOTE,
    PROBE,
    START,
    Record,
    abbreviate_arg,
    abbreviate_args,
)

STEP_LIMIT = 20000  # statements in all: a guard against runaway programs
KINDS = {"call": CALL, "probe": PROBE, "action": ACTION}
# The agent's symbolic address bases: (segment slot, its top rather than its base).
BASES = {
    "text": (sg.TSEG, False),
    "data": (sg.DSEG, False),
    "bss": (sg.BSEG, False),
    "end": (sg.BSEG, True),
    "stack": (sg.SSEG, False),
    "stacktop": (sg.SSEG, True),
}
END = "__end"  # the variable holding the image's `end` (its buffers start there)


def _token(a: ProgArg) -> str:
    """a.token as records show it, without building a 16 MiB token to cut it."""
    return abbreviate_arg(a.text, a.kind + ":")


# resolve_all's memo: statement id -> (the statement, its resolved arguments).  Str
# values are never changed after they are made, so runs may share them.
_CONTEXT_KINDS = frozenset("bav")  # what resolve reads from the process or its variables
_RESOLVED: dict[int, tuple[Stmt, tuple[Arg, ...]]] = {}
_RESOLVED_MAX = 32


@dataclass(eq=False)
class Ctx:
    """The agent's user state in one process (UserMode to the kernel)."""

    agent: Agent
    proc: Proc
    name: str  # symbolic: main, s<STEP>
    block: str = "main"
    pc: int = 0
    vars: dict[str, int] = field(default_factory=dict)
    seq: int = 0
    cur: Stmt | None = None  # the statement being run

    def fork(self, child: Proc) -> None:
        st = self.cur
        assert st is not None and st.op == "rfork"
        c = Ctx(self.agent, child, f"s{st.step}", vars=dict(self.vars))
        if st.result:
            c.vars[st.result] = 0
        self.agent.ctxs[child.pid] = c
        child.umode = c
        blk = self.agent.resolve(self, st.args[1]) if len(st.args) > 1 else None
        if isinstance(blk, str):
            c.block, c.pc = blk, 0
            child.code = self.agent.body(c, True)
        else:  # no child body: the child exits at once
            child.code = self.agent.exit_now(c)

    def exec(self, img: ExecImage) -> None:
        """The agent's start-up: Bss grown by brk to hold the buffers at `end`."""
        a, p = self.agent, self.proc
        end = img.bssend
        self.vars[END] = end
        if a.bufsize:
            sg.ibrk(p.segs, end + a.bufsize, sg.BSEG, a.k.arch)
        m = a.k.mem(p)
        for name, data in a.prog.buffers.items():
            if any(data):
                m.write(end + a.bufoff[name], data)


@dataclass
class Agent:
    k: Kernel
    prog: Program
    records: list[Record] = field(default_factory=list)
    ctxs: dict[int, Ctx] = field(default_factory=dict)
    steps: int = 0
    bufoff: dict[str, int] = field(default_factory=dict)  # buffer -> offset from `end`
    bufsize: int = 0

    def __post_init__(self) -> None:
        for name, data in self.prog.buffers.items():
            self.bufoff[name] = self.bufsize
            self.bufsize += (len(data) + 7) & ~7

    def start(self, p: Proc, img: ExecImage) -> None:
        """The first process: the agent image runs block main."""
        c = Ctx(self, p, "main")
        self.ctxs[p.pid] = c
        p.umode = c
        c.exec(img)
        p.code = self.body(c, True)
        p.state = ProcState.READY

    def over(self) -> bool:
        return self.steps > STEP_LIMIT

    def record(self, c: Ctx, st: Stmt | None, kind: str, op: str, r: Result) -> None:
        # the args as Stmt.tokens gives them, formatted only for those the record keeps
        rec = Record(
            proc=c.name,
            seq=c.seq,
            step=st.step if st else 0,
            kind=kind,
            op=op,
            args=abbreviate_args(st.args, _token) if st else [],
            ret=r.ret,
            err=r.err,
            out=dict(r.out),
            nondet=list(r.nondet),
        )
        if op == "exec" and isinstance(rec.out.get("argv"), list):
            rec.out["argv"] = abbreviate_args(rec.out["argv"])
        c.seq += 1
        self.records.append(rec)

    def hang(self, procs: list[Proc], why: str) -> None:
        """The run ends with these processes still blocked: one last record each."""
        for q in procs:
            if q.state == ProcState.DEAD:
                continue
            c = self.ctxs[q.pid]
            st = c.cur
            self.record(c, st, CALL, st.op if st else "exits", Result(None, out={"hung": why}))
            q.state = ProcState.DEAD

    # --- one process -------------------------------------------------------------
    def exit_now(self, c: Ctx) -> UserCode:
        self.record(c, None, START, "start", Result(None, out={"pid": c.proc.pid}))
        pexit(self.k, c.proc, "")
        return
        yield  # pragma: no cover

    def body(self, c: Ctx, first: bool) -> UserCode:
        p = c.proc
        try:
            if first:
                self.record(c, None, START, "start", Result(None, out={"pid": p.pid}))
            while True:
                stmts = self.prog.blocks.get(c.block, [])
                if c.pc >= len(stmts):
                    raise Exit("")
                st = stmts[c.pc]
                c.pc += 1
                c.cur = st
                self.steps += 1
                if self.steps > STEP_LIMIT:
                    yield Wait(ready=lambda: False, interruptible=False)
                done = yield from self.execute(c, st)
                self.handle_notes(c, st)
                if done is not None:
                    self.needs_its_data(p)
                    self.record(c, st, done[0], st.op, done[1])
        except Exit as e:
            pexit(self.k, p, e.msg)
        except ProcessKilled as e:
            pexit(self.k, p, e.note)

    @staticmethod
    def needs_its_data(p: Proc) -> None:
        """The agent writes each record from its static buffers in Data and
        Bss: with either detached it faults there, so the record of the call
        that detached it is never written.  Where exactly it faults depends
        on the agent binary; the wait message says ADDR and is nondet."""
        if p.segs[sg.DSEG] is None or p.segs[sg.BSEG] is None:
            raise ProcessKilled(f"sys: trap: fault read addr={sg.UNKNOWN_ADDR} pc={sg.PC_MASK}")

    def execute(self, c: Ctx, st: Stmt) -> Generator[Wait, Wake | None, tuple[str, Result] | None]:
        """Run one statement; return (kind, result) to be recorded after the
        notes the call left pending were delivered (as on a real return)."""
        p = c.proc
        try:
            args = self.resolve_all(c, st)
        except KernelError as e:  # unreachable by construction; keep the run alive
            return CALL, Result(-1, e.errstr)
        if st.op == "exec":
            self.exec(c, st, args)
            return None
        if st.op == "exits":  # the agent prints its record first: exits never returns
            self.record(c, st, CALL, "exits", Result(None))
            sysexits(self.k, p, args)
        if st.kind == "probe":
            r = self.probe(c, args)
        elif st.op in ACTIONS:
            r = ACTIONS[st.op](self, c, args)
        else:
            r = yield from self.call(p, st.op, args)
        if st.result and isinstance(r.ret, int):
            c.vars[st.result] = r.ret
        if KINDS[st.kind] == CALL and r.ret == -1 and r.err is None:
            r.err = text(p.errstr)  # ret -1 without error(): errstr as it stands
        return KINDS[st.kind], r

    def call(self, p: Proc, op: str, args: Args) -> Generator[Wait, Wake | None, Result]:
        """The system call: its result, or its error as the errstr."""
        try:
            res = SYSCALLS[op](self.k, p, args)
            if not isinstance(res, Result):
                res = yield from res
            return res
        except (TypeError, ValueError, AttributeError, IndexError):
            # an argument of the wrong kind (c:/h:/w: where a number is
            # due): only hand-written programs get here; a clean Ebadarg
            p.errstr = raw(Ebadarg)
            return Result(-1, Ebadarg)
        except KernelError as e:
            err = unraw(utfecpy(raw(e.errstr), ERRMAX))
            p.errstr = raw(err)
            return Result(-1, err)

    def exec(self, c: Ctx, st: Stmt, args: Args) -> None:
        """A successful exec's record is the new image's first."""
        p = c.proc
        try:
            sysexec(self.k, p, args)
        except KernelError as e:
            err = e.errstr[: ERRMAX - 1]
            p.errstr = raw(err)
            self.record(c, st, CALL, "exec", Result(-1, err))
            return
        block = args[1]
        c.block, c.pc = (block if isinstance(block, str) else ""), 0
        self.record(c, st, CALL, "exec", Result(0, out={"argv": list(p.argv)}))

    def handle_notes(self, c: Ctx, st: Stmt) -> None:
        """The agent's note handler: record the note, then noted(MODE)."""
        p = c.proc
        while (n := notify(self.k, p)) is not None:
            nd = ["~pc"] if "pc=" + sg.PC_MASK in n.msg else []
            if n.pc_unknown:
                nd.append("out.note")  # where ERRMAX cuts the real pc's digits
            self.record(c, st, NOTE, "note", Result(None, out={"note": n.msg}, nondet=nd))
            noted(p, p.notify or "")

    # --- arguments -----------------------------------------------------------------
    def resolve_all(self, c: Ctx, st: Stmt) -> Args:
        """ST's arguments resolved; a long list of context-free ones (an exec's argv
        of up to ~200k strings) is resolved once per statement, for every run."""
        if len(st.args) <= LONG_LIST:
            return [self.resolve(c, a) for a in st.args]
        hit = _RESOLVED.get(id(st))
        if hit is not None and hit[0] is st:
            return list(hit[1])
        args = [self.resolve(c, a) for a in st.args]
        if not any(a.kind in _CONTEXT_KINDS for a in st.args):
            if len(_RESOLVED) >= _RESOLVED_MAX:
                _RESOLVED.clear()
            _RESOLVED[id(st)] = (st, tuple(args))
        return args

    def resolve(self, c: Ctx, a: ProgArg) -> Arg:
        # s: first and inline: an exec's argv is up to ~200k of them (issue 11)
        k, t = a.kind, a.text
        if k == "s":
            if "$" in t:
                t = t.replace("$agent", AGENT_PATH).replace("$dir", SCRATCH_DIR)
            return Str(t.encode("utf-8", "surrogateescape"))  # fmt.raw
        if k == "i":
            return a.int_value()
        if k == "b":
            name, off = a.buffer_ref()
            return (c.vars.get(END, 0) + self.bufoff.get(name, 0) + off) & self.k.arch.addr_mask
        if k == "a":
            base, off = a.address_ref()
            if isinstance(base, str):
                base = self.base_addr(c, base)
            return (base + off) & self.k.arch.addr_mask
        if k == "v":
            if t == "pid":
                return c.proc.pid
            if t == "ppid":
                return c.proc.ppid
            return c.vars.get(t, 0)
        if k == "n":
            return 0
        return t

    def base_addr(self, c: Ctx, name: str) -> int:
        if name not in BASES:
            return c.vars.get(name, 0)
        i, top = BASES[name]
        s = c.proc.segs[i]
        if s is None:
            return 0
        return s.top if top else s.base

    def buflen(self, c: Ctx, addr: int) -> int:
        end = c.vars.get(END, 0)
        for name, off in self.bufoff.items():
            size = len(self.prog.buffers[name])
            if end + off <= addr < end + off + size or end + off == addr:
                return end + off + size - addr
        return 0

    # --- probes and actions --------------------------------------------------------
    def probe(self, c: Ctx, a: Args) -> Result:
        p = c.proc
        what = a[0]
        if what == "segments":
            return Result(None, out={"segments": [s.row() for s in p.segs if s is not None]})
        if what == "fds":
            rows: list[list[int | str]] = [
                [fd, ["r", "w", "rw", ""][ch.mode & 3], ch.path] for fd, ch in sorted(p.fgrp.fds.items())
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
            n = a[2] if len(a) > 2 and isinstance(a[2], int) else self.buflen(c, addr)
            n = max(0, min(n, 1 << 16))
            mem = self.k.mem(p)
            nondet = [f"out.hex[{2 * lo}:{2 * hi}]" for lo, hi in mem.unknown_ranges(addr, n)]
            return Result(None, out={"hex": mem.read(addr, n).hex()}, nondet=nondet)
        if what == "env":
            name = a[1].b.decode("utf-8", "replace") if isinstance(a[1], Str) else ""
            v = p.egrp.env.get(name)
            return Result(None, out={"value": None if v is None else v.decode("utf-8", "replace")})
        if what == "args":
            return Result(None, out={"args": list(p.argv)})
        return Result(None, out={"procargs": procargs(p)})

    def act_writefile(self, c: Ctx, a: Args) -> Result:
        k = self.k
        path = unraw(k.cstr(c.proc, a[0]))
        addr = a[1] if isinstance(a[1], int) else 0
        data = k.mem(c.proc).read(addr, self.buflen(c, addr))
        perm = a[2] if len(a) > 2 and isinstance(a[2], int) else 0o775
        full = k.fs.clean(path, c.proc.dot)
        if not k.fs.parent_exists(full):
            k.fs.mkdirs(full)
        k.fs.write_file(full, data, perm)
        return Result(0)

    def act_putenv(self, c: Ctx, a: Args) -> Result:
        name = unraw(self.k.cstr(c.proc, a[0]))
        c.proc.egrp.env[name] = self.k.cstr(c.proc, a[1])
        return Result(0)

    def act_touch(self, c: Ctx, a: Args) -> Result:
        addr = int(a[1]) if isinstance(a[1], int) else 0
        m = self.k.mem(c.proc)
        if a[0] == "w":
            m.fault(addr, 4, True)
            m.set_long(addr, int(a[2]) if len(a) > 2 and isinstance(a[2], int) else 0)
            return Result(0)
        m.fault(addr, 4, False)
        return Result(0, out={"value": m.long(addr)})


ACTIONS: dict[str, Callable[[Agent, Ctx, Args], Result]] = {
    "writefile": Agent.act_writefile,
    "putenv": Agent.act_putenv,
    "touch": Agent.act_touch,
}
