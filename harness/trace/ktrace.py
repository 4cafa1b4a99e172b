"""The kernel's own syscall trace (agent ``-t``) as a second source.

With ``-t`` the guest agent traces every process of the scenario through
``/proc/N/ctl`` ``startsyscall`` and sends the text the kernel formats at each
stop (``/proc/N/syscall``, port/syscallfmt.c) back as framed ``ktrace``
records (``harness.trace.schema.KTRACE``): one record per stop, ``out.pid``
and ``out.text``.  A stop at a call's entry gives the entry text::

    PID PROCNAME NAME PC ARGS...

(``NAME`` is the kernel's sysctab name: ``Open``, ``Pwrite``, ``Rendez``,
``Running`` for sysr1, ...), and a stop at its return gives the return text,
which is appended to the entry on the same line (ratrace prints it so)::

    [DATA] = RET ERRSTR STARTNS STOPNS

``DATA`` is what the call handed back (read data, the await/errstr/fd2path
string), ``RET`` is decimal (``%ld``: 32 bits on amd64 and arm64 too, since
long is 32 bits there) or ``0x`` hex for the calls that return a pointer
(Exec, Segbrk, Segattach, Rendez), ``ERRSTR`` is ``""`` after a success or
the error text, unquoted, after a failure, and the times are the nanosecond
clock at the entry and the return.

This module parses that text (``parse_texts``, ``parse_lines``) into
``KCall`` records, renders the raw text (``render``: one line per call, a
return whose entry was not seen is prefixed ``PID ...`` like ratrace), and
cross-checks the agent's own ``call`` records against it (``cross_check``).
The cross-check is a consistency check of the two guest sources, NOT a
kernel divergence verdict.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.ops import op_syscalls
from harness.trace.schema import CALL, KTRACE, NOTE, START, Record

# sysctab names (port/systab.h) the entry parser accepts.
SYSCALL_NAMES = frozenset((
    "Running", "_errstr", "Bind", "Chdir", "Close", "Dup", "Alarm", "Exec", "Exits", "_fsession", "Fauth",
    "_fstat", "Segbrk", "_mount", "Open", "_read", "Oseek", "Sleep", "_stat", "Rfork", "_write", "Pipe",
    "Create", "Fd2path", "Brk", "Remove", "_wstat", "_fwstat", "Notify", "Noted", "Segattach", "Segdetach",
    "Segfree", "Segflush", "Rendez", "Unmount", "_wait", "Semacquire", "Semrelease", "Seek", "Fversion",
    "Errstr", "Stat", "Fstat", "Wstat", "Fwstat", "Mount", "Await", "Pread", "Pwrite", "Tsemacquire",
    "_nsec", "huh?",
))
# Calls whose return the kernel prints as a pointer (%#p).
POINTER_RETURNS = frozenset(("Exec", "Segbrk", "Segattach", "Rendez"))

# sysretfmt tests ``ret > 0`` on an unsigned ret for these, so a failed call
# (-1) is printed as if it succeeded: data, ' = -1' and '""', no errstr.
NO_ERRSTR_ON_FAILURE = frozenset(("Await", "Errstr", "_errstr", "Fd2path", "Pread", "_read"))

# The agent's program operations that are one system call of this name
# (the catalogue's ``Op.syscall``); werrstr, postnote (open+write+close) and
# the probes/actions are not.
OP_SYSCALLS: dict[str, str] = op_syscalls()

_ENTRY_RE = re.compile(r"^(\d+) (.*?) ?(\S+) ([0-9a-fA-F]+)(?: (.*))?$", re.S)
_RET_RE = re.compile(r"^(?P<data>.*?) ?= (?P<ret>-?0x[0-9a-fA-F]+|-?\d+) (?P<err>.*) (?P<start>\d+) (?P<stop>\d+)\n?$",
                     re.S)


@dataclass
class KCall:
    """One system call as the kernel reported it."""

    pid: int
    procname: str = ""  # up->text: the name of the program the process runs
    name: str = ""  # sysctab name ("" when only the return was seen)
    pc: int | None = None
    args: str = ""  # the argument text after the pc, verbatim
    data: str = ""  # what the return text shows before " = " (read data, strings)
    ret: int | None = None  # None: no return seen (exits, a process killed in the call, a truncated trace)
    ret_text: str = ""
    err: str | None = None  # None after a success ('""'), else the errstr the kernel reported
    start_ns: int | None = None
    stop_ns: int | None = None
    entry: str | None = None  # raw entry text
    retraw: str | None = None  # raw return text
    truncated: bool = False

    @property
    def returned(self) -> bool:
        return self.ret is not None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def is_entry(text: str, pid: int | None = None) -> bool:
    """An entry text starts with the pid and a space; a return text never does."""
    m = re.match(r"(\d+) ", text)
    return m is not None and (pid is None or int(m.group(1)) == pid)


def parse_entry(text: str) -> KCall | None:
    m = _ENTRY_RE.match(text)
    if m is None:
        return None
    pid, procname, name, pc, args = m.groups()
    args = args or ""
    if name not in SYSCALL_NAMES:
        # a process name with spaces: find the last known syscall name followed by a pc
        toks = text.split(" ")
        for i in range(len(toks) - 2, 1, -1):
            if toks[i] in SYSCALL_NAMES and re.fullmatch(r"[0-9a-fA-F]+", toks[i + 1]):
                procname, name, pc, args = " ".join(toks[1:i]), toks[i], toks[i + 1], " ".join(toks[i + 2:])
                break
        else:
            return None
    return KCall(pid=int(pid), procname=procname, name=name, pc=int(pc, 16), args=args.rstrip("\n"), entry=text)


def parse_return(call: KCall, text: str) -> bool:
    """Fill CALL's return fields from a return text; False if it does not parse."""
    m = _RET_RE.match(text)
    if m is None:
        return False
    call.retraw = text
    call.data = m.group("data").strip()
    call.ret_text = m.group("ret")
    call.ret = _ret_value(call.name, call.ret_text)
    err = m.group("err")
    call.err = None if err in ('""', "") else err
    call.start_ns = int(m.group("start"))
    call.stop_ns = int(m.group("stop"))
    return True


def _ret_value(name: str, text: str) -> int:
    neg = text.startswith("-")
    t = text[1:] if neg else text
    v = int(t, 16) if t.startswith("0x") else int(t)
    v = -v if neg else v
    if name in POINTER_RETURNS and v in ((1 << 64) - 1, (1 << 32) - 1):  # (void*)-1 as %#p
        return -1
    return v


@dataclass
class KTrace:
    calls: list[KCall] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # tracer failures (out.error) and unparsable texts

    @property
    def perturbed(self) -> list[KCall]:
        """Calls the tracing itself changed: syscallfmt reads the call's pointer
        arguments (strings, write data) with validaddr before the entry stop, and
        a bad one raises the error there: the call fails with -1 "bad arg in
        system call" and the process gets "sys: bad address in syscall" where,
        untraced, the call would have done its own checking (exits of a bad
        pointer: "invalid exit string").  Such a call shows only its return,
        with a start time of 0 (the entry stop never happened)."""
        return [c for c in self.calls if not c.name and c.returned and c.start_ns == 0]

    def by_pid(self) -> dict[int, list[KCall]]:
        out: dict[int, list[KCall]] = {}
        for c in self.calls:
            out.setdefault(c.pid, []).append(c)
        return out


def parse_texts(items: list[tuple[int, str]], truncated: set[int] | None = None) -> KTrace:
    """(pid, text) pairs in the order each pid's tracer read them -> calls.

    Per pid an entry opens a call and the next return closes it; a return with
    no open call is kept as a call with only its return (name "")."""
    kt = KTrace()
    open_: dict[int, KCall] = {}
    for i, (pid, text) in enumerate(items):
        trunc = truncated is not None and i in truncated
        if is_entry(text, pid):
            call = parse_entry(text)
            if call is None:
                kt.errors.append(f"pid {pid}: unparsable entry text {text[:120]!r}")
                continue
            call.truncated = trunc
            kt.calls.append(call)
            open_[pid] = call
        else:
            call_or_none = open_.pop(pid, None)
            call = call_or_none if call_or_none is not None else KCall(pid=pid)
            if call_or_none is None:
                kt.calls.append(call)
            if not parse_return(call, text):
                kt.errors.append(f"pid {pid}: unparsable return text {text[:120]!r}")
    return kt


def texts_of(records: list[Record]) -> tuple[list[tuple[int, str]], set[int], list[str]]:
    """The (pid, text) pairs of ktrace records, the indexes of truncated ones, and tracer errors."""
    items: list[tuple[int, str]] = []
    trunc: set[int] = set()
    errors: list[str] = []
    for r in records:
        if r.kind != KTRACE:
            continue
        pid = int(r.out.get("pid", -1))
        if "error" in r.out:
            errors.append(f"tracer of pid {pid}: {r.out['error']}")
        if "text" in r.out:
            if r.out.get("truncated"):
                trunc.add(len(items))
            items.append((pid, str(r.out["text"])))
    return items, trunc, errors


def from_records(records: list[Record]) -> KTrace:
    items, trunc, errors = texts_of(records)
    kt = parse_texts(items, trunc)
    kt.errors = errors + kt.errors
    return kt


def render(items: list[tuple[int, str]]) -> str:
    """The raw trace as ratrace prints it: entry and return of a call on one line."""
    out: list[str] = []
    pending: dict[int, int] = {}  # pid -> index in out of its open entry line
    for pid, text in items:
        if is_entry(text, pid):
            if pid in pending:
                out[pending[pid]] += "\n"
            pending[pid] = len(out)
            out.append(text)
        elif pid in pending:
            out[pending.pop(pid)] += text
        else:
            out.append(f"{pid} ...{text}")
    for i in pending.values():
        out[i] += "\n"
    return "".join(line if line.endswith("\n") else line + "\n" for line in out)


def parse_lines(text: str) -> KTrace:
    """Parse rendered text (``render``, or ratrace's output): one call per line."""
    kt = KTrace()
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = re.match(r"(\d+) \.\.\.(.*)$", line, re.S)
        if m:
            call = KCall(pid=int(m.group(1)))
            if not parse_return(call, m.group(2)):
                kt.errors.append(f"line {n}: unparsable return {line[:120]!r}")
            kt.calls.append(call)
            continue
        call_or_none, rest = _split_line(line)
        if call_or_none is None:
            kt.errors.append(f"line {n}: unparsable {line[:120]!r}")
            continue
        kt.calls.append(call_or_none)
        if rest is not None and not parse_return(call_or_none, rest):
            kt.errors.append(f"line {n}: unparsable return {rest[:120]!r}")
    return kt


def _split_line(line: str) -> tuple[KCall | None, str | None]:
    """A rendered line -> the entry's call and its return text (None: no return)."""
    head = parse_entry(line)
    if head is None or _RET_RE.search(line) is None:
        return head, None
    for cut in _return_starts(head.name, line):
        call = parse_entry(line[:cut])
        if call is not None and call.name == head.name and _RET_RE.match(line[cut:]):
            return call, line[cut:]
    return head, None


# Calls whose return text starts with what they handed back, not with " = ".
_DATA_RETURNS = {
    "Pread": re.compile(r' 0x[0-9a-f]+/"|/""'), "_read": re.compile(r' 0x[0-9a-f]+/"|/""'),
    "Await": re.compile(r'0x[0-9a-f]+/"|""'), "Errstr": re.compile(r'0x[0-9a-f]+/"|""'),
    "_errstr": re.compile(r'0x[0-9a-f]+/"|""'), "Fd2path": re.compile(r'0x[0-9a-f]+/"|""'),
}


def _return_starts(name: str, line: str) -> list[int]:
    """Where the return text may start, in the order to try.  The entry
    arguments of the data calls hold no quote, so their return starts at the
    first candidate that parses; any other return starts at a " = ", the last
    one that parses (a path argument may hold " = " too)."""
    eqs = [m.start() for m in re.finditer(" = ", line)]
    pat = _DATA_RETURNS.get(name)
    if pat is not None:
        return sorted({m.start() for m in pat.finditer(line)} | set(eqs))
    return sorted(eqs, reverse=True)


# ---- the cross-check -------------------------------------------------------

@dataclass
class Mismatch:
    proc: str
    seq: int
    step: int
    op: str
    what: str  # "missing" | "ret" | "err" | "no-return"; "perturbed" (CrossCheck.perturbed)
    agent: Any = None
    kernel: Any = None
    ktext: str = ""

    def __str__(self) -> str:
        s = f"{self.proc}:{self.seq} step {self.step} {self.op}: {self.what}"
        if self.what not in ("missing", "no-return"):
            s += f": agent {self.agent!r}, kernel {self.kernel!r}"
        return s


@dataclass
class CrossCheck:
    checked: int = 0  # agent call records that are one system call
    agreed: int = 0
    skipped: int = 0  # call records that are no system call (werrstr, postnote) or not traced
    mismatches: list[Mismatch] = field(default_factory=list)
    perturbed: list[Mismatch] = field(default_factory=list)  # calls the tracing changed (KTrace.perturbed)
    notes: list[str] = field(default_factory=list)
    kernel_calls: int = 0

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def line(self) -> str:
        s = f"ktrace: {self.agreed}/{self.checked} calls agree with the kernel's trace"
        if self.mismatches:
            s += f", {len(self.mismatches)} mismatch(es): {self.mismatches[0]}"
        if self.perturbed:
            s += (f"; tracing changed {len(self.perturbed)} call(s) (the kernel's trace formatter faulted on "
                  f"a pointer argument): {self.perturbed[0]}")
        return s

    def to_json(self) -> dict[str, Any]:
        return {"checked": self.checked, "agreed": self.agreed, "skipped": self.skipped,
                "kernel_calls": self.kernel_calls, "ok": self.ok,
                "mismatches": [asdict(m) for m in self.mismatches],
                "perturbed": [asdict(m) for m in self.perturbed], "notes": self.notes}


# fmtrwdata shows the first 64 bytes of the data with every byte outside
# 0x21..0x7e as ".": SOH "NH1 main 3 52 {" is ".NH1.main.3.52.{".
_FRAME_WRITE = re.compile(r'^(-?\d+) +0x[0-9a-fA-F]+/"\.NH1\.([A-Za-z0-9_-]+)\.(\d+)\.\d+\.\{')


def frame_write(call: KCall) -> tuple[str, int] | None:
    """(proc, seq) of the record an agent frame write (Pwrite of SOH "NH1 ...") carries."""
    if call.name not in ("Pwrite", "_write"):
        return None
    m = _FRAME_WRITE.match(call.args)
    return (m.group(2), int(m.group(3))) if m else None


def _agent_internal(calls: list[KCall]) -> set[int]:
    """Indexes of the agent's own output handling around frame writes: a process with
    no output fd (after RFCFDG) opens the output, writes the frame and closes it."""
    internal: set[int] = set()
    for i, c in enumerate(calls):
        if frame_write(c) is None:
            continue
        fd = c.args.split(" ", 1)[0]
        j = i - 1
        if j >= 0 and calls[j].name == "Seek" and calls[j].args.split(" ")[1:2] == [fd]:
            internal.add(j)
            j -= 1
        if j >= 0 and calls[j].name == "Open" and calls[j].ret is not None and str(calls[j].ret) == fd:
            internal.add(j)
            if i + 1 < len(calls) and calls[i + 1].name == "Close" and calls[i + 1].args == fd:
                internal.add(i + 1)
    return internal


def _same_ret(op: str, name: str, agent: Any, kernel: int) -> bool:
    if not isinstance(agent, int):
        return False
    if op == "exec":  # the kernel returns the new image's stack pointer; the agent records 0
        return (agent == -1) == (kernel == -1)
    if op == "seek":  # the kernel returns 0 and stores the offset; libc returns the offset
        return (agent == -1) == (kernel == -1)
    if name in POINTER_RETURNS:
        return agent == kernel or (agent & ((1 << 64) - 1)) == (kernel & ((1 << 64) - 1))
    # %ld of a long: 32 bits
    return (agent - kernel) % (1 << 32) == 0


def cross_check(records: list[Record], kt: KTrace) -> CrossCheck:
    """Each agent call record whose op is one system call must appear in the kernel's
    trace of its process, with the same return value and errstr.

    Alignment: every record the agent writes is one Pwrite of its frame, which
    the kernel trace shows (the first 64 bytes: SOH "NH1 PROC SEQ ...").  A
    call's system call is the first of its name after the frame write of the
    process's previous record and before the frame write of its own record
    (exits: after its own record, which is written first)."""
    cc = CrossCheck(kernel_calls=sum(1 for c in kt.calls if c.name))
    pids: dict[str, int] = {}
    for r in records:
        if r.kind == START and isinstance(r.out.get("pid"), int):
            pids.setdefault(r.proc, r.out["pid"])
    by_pid = kt.by_pid()
    perturbed = {id(c) for c in kt.perturbed}
    for proc in sorted({r.proc for r in records if r.kind != KTRACE}):
        recs = [r for r in records if r.proc == proc and r.kind != KTRACE]
        pid = pids.get(proc)
        calls = by_pid.get(pid, []) if pid is not None else []
        if pid is None or not calls:
            n = sum(1 for r in recs if r.kind == CALL and r.op in OP_SYSCALLS)
            cc.skipped += n
            if n:
                cc.notes.append(f"{proc}: no kernel trace of its process (pid {pid}); {n} call(s) not checked")
            continue
        frames: dict[int, int] = {}
        for i, c in enumerate(calls):
            fw = frame_write(c)
            if fw is not None and fw[0] == proc:
                frames.setdefault(fw[1], i)
        internal = _agent_internal(calls)
        prev_end = -1
        for r in sorted(recs, key=lambda r: r.seq):
            here = frames.get(r.seq)
            if r.kind == NOTE:
                # written by the note handler, possibly in the middle of the call the
                # note interrupted (whose record comes next): not a window bound
                continue
            if r.kind != CALL:
                if here is not None:
                    prev_end = here
                continue
            name = OP_SYSCALLS.get(r.op)
            if name is None:
                cc.skipped += 1
                if here is not None:
                    prev_end = here
                continue
            if r.op == "exits":
                lo, hi = (here if here is not None else prev_end) + 1, len(calls)
            else:
                lo, hi = prev_end + 1, here if here is not None else len(calls)
            found = next((i for i in range(lo, hi) if i not in internal and calls[i].name == name), None)
            if here is not None:
                prev_end = here
            cc.checked += 1
            if found is None:
                bad = next((calls[i] for i in range(lo, hi) if id(calls[i]) in perturbed), None)
                if bad is not None:
                    cc.perturbed.append(Mismatch(proc, r.seq, r.step, r.op, "perturbed", r.ret, bad.ret,
                                                 f"{bad.pid} ...{bad.retraw}"))
                else:
                    cc.mismatches.append(Mismatch(proc, r.seq, r.step, r.op, "missing"))
                continue
            kc = calls[found]
            if r.op == "exits":
                cc.agreed += 1
                continue
            if kc.ret is None:
                # the agent writes a call's record after the call returned, and the
                # tracer reads the return stop before it lets the process go on
                cc.mismatches.append(Mismatch(proc, r.seq, r.step, r.op, "no-return", r.ret, None, kc.entry or ""))
                continue
            if not _same_ret(r.op, name, r.ret, kc.ret):
                cc.mismatches.append(Mismatch(proc, r.seq, r.step, r.op, "ret", r.ret, kc.ret,
                                              (kc.entry or "") + (kc.retraw or "")))
                continue
            if kc.ret == -1 and kc.err is None and name in NO_ERRSTR_ON_FAILURE:
                cc.notes.append(f"{proc}:{r.seq} {r.op}: failed; the kernel's trace prints no errstr for {name}")
            elif kc.ret == -1 and (r.err or "") != (kc.err or ""):
                cc.mismatches.append(Mismatch(proc, r.seq, r.step, r.op, "err", r.err, kc.err,
                                              (kc.entry or "") + (kc.retraw or "")))
                continue
            cc.agreed += 1
    return cc


def split_records(records: list[Record]) -> tuple[list[Record], list[Record]]:
    """(the agent's own records, the ktrace records)."""
    own = [r for r in records if r.kind != KTRACE]
    kt = [r for r in records if r.kind == KTRACE]
    return own, kt
