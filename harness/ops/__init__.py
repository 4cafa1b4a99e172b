"""The catalogue of operations: every operation a program can perform, said once.

Each ``Op`` is one statement of the compiled program (harness/program.py):
its kind, its parameters in program order with the C type the kernel (or the
libc routine, for operations that are not one system call) reads them as, the
kernel's sysctab name, what it returns, and the ``out`` keys its record
reports.  Everything else is a view of this table:

* ``harness.program``: argument counts and which argument kinds each position
  takes (``Op.slots``), the probe names;
* ``harness.scenario.compiler``: the scenario parameter names and types;
* ``harness.trace.ktrace`` (``OP_SYSCALLS``) and ``harness.trace.normalise``
  (pid- and address-returning calls);
* ``harness.guest.hostbuild``: what each record hands back to the host agent;
* the guest agent's op table and enums, generated into
  ``harness/guest/agent/ops.h``;
* the per-operation reference in docs/SCENARIOS.md.

After editing this file run ``python -m harness.ops --write`` (``make gen``,
harness/ops/generate.py); ``tests/test_ops.py`` fails while a generated file
is stale.  A new system
call is: an ``Op`` here, its model handler (``sys_NAME``), its case in the
agent's ``perform()``, and scenarios.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class OpKind(StrEnum):
    """What a statement is: a call under test, a read-only look, or set-up."""

    CALL = "call"
    PROBE = "probe"
    ACTION = "action"


class PType(StrEnum):
    """A parameter's type as a scenario writes it (the compiler's view)."""

    FLAGS = "flags"  # a number, constant names, "A|B" or a list of them
    INT = "int"  # a number or a constant
    STR = "str"  # a string (pointer to NUL-terminated text), null for nil
    BUF = "buf"  # a declared buffer NAME or NAME+OFF, null for nil
    ADDR = "addr"  # an address: number, BASE, BASE+OFF
    BLOCK = "block"  # a list of steps (rfork's child, exec's continuation)
    MODE = "mode"  # a note-handler mode (HANDLER_MODES)
    STRLIST = "strlist"  # a list of strings (argv), null for a nil vector
    WORD = "word"  # a probe or touch name


class Slot(StrEnum):
    """Which program argument kinds (``i: s: b: ...``) a parameter position takes."""

    VALUE = "v"  # a machine word: i s b a v n (integers and pointers mix freely, as in C)
    BLOCK = "c"
    MODE = "h"
    WORD = "w"


# Program argument kinds, by prefix (harness/program.py).
ARG_KINDS = {
    "i": "integer: decimal or 0x-hex, may be negative (64 bits)",
    "s": "pointer to a NUL-terminated string (the rest of the token); $agent and $dir expand",
    "b": "pointer into a declared buffer: NAME or NAME+OFF",
    "a": "address: BASE, BASE+OFF or BASE-OFF; BASE is a number or one of ADDRESS_BASES",
    "v": "the value of a variable saved with >VAR",
    "n": "nil pointer",
    "c": "a block name (rfork child body, exec continuation)",
    "h": "a note-handler mode (see HANDLER_MODES)",
    "w": "a word: a probe or action name",
}
# Symbolic address bases, resolved per process at run time.
ADDRESS_BASES = ("text", "data", "bss", "end", "stack", "stacktop")
# What the note handler installed by ``notify h:MODE`` does with each note:
# record it, then noted(NCONT) / noted(NDFLT) / exits(note) / noted(bogus).
HANDLER_MODES = ("cont", "dflt", "exit", "badarg", "none")
# Variables every process has: its own pid, its parent's pid (for postnote).
PREDEFINED_VARS = ("pid", "ppid")

VALUE_KINDS = "isbavn"
SLOT_KINDS: dict[Slot, str] = {Slot.VALUE: VALUE_KINDS, Slot.BLOCK: "c", Slot.MODE: "h", Slot.WORD: "w"}
SLOT_WORDS: dict[Slot, str] = {Slot.VALUE: "a value (i: s: b: a: v: n:)", Slot.BLOCK: "a block (c:)",
                               Slot.MODE: "a handler mode (h:)", Slot.WORD: "a word (w:)"}
_PTYPE_SLOT = {PType.BLOCK: Slot.BLOCK, PType.MODE: Slot.MODE, PType.WORD: Slot.WORD}


class Ret(StrEnum):
    """What a call's return value means (the normaliser symbolises PID and ADDRESS)."""

    VOID = "void"  # no value: ret is null
    NORETURN = "noreturn"  # the call does not return
    STATUS = "status"  # 0 on success, -1 on error
    VALUE = "value"  # a number with the call's own meaning
    COUNT = "count"  # bytes or items
    FD = "fd"
    PID = "pid"
    POINTER = "pointer"  # an address the arguments determine
    ADDRESS = "address"  # an address the kernel chose
    TIME = "time"  # nanoseconds: never deterministic


class Answer(StrEnum):
    """How the host agent (compat/host.c) gets an ``out`` value back as bytes."""

    TEXT = "text"  # the string, UTF-8
    HEX = "hex"  # the bytes the hex spells
    DECIMAL = "decimal"  # the number in decimal
    FDPAIR = "fdpair"  # "FD0 FD1"
    ARGV = "argv"  # NUL-terminated strings
    OWAITMSG = "owaitmsg"  # the OWaitmsg struct
    SEGMENTS = "segments"  # /proc/N/segment text
    BRK = "brk"  # a one-line /proc/N/segment text for Bss
    FDTABLE = "fdtable"  # /proc/N/fd text


@dataclass(frozen=True)
class Param:
    name: str
    ptype: PType
    ctype: str  # the C type it is read as: kernel va_arg, or the libc/agent routine's parameter
    doc: str
    optional: bool = False

    @property
    def slot(self) -> Slot:
        return _PTYPE_SLOT.get(self.ptype, Slot.VALUE)

    @property
    def variadic(self) -> bool:
        return self.ptype is PType.STRLIST


@dataclass(frozen=True)
class Out:
    key: str
    doc: str
    answer: Answer | None = None  # how host.c gets it back (None: it does not)


@dataclass(frozen=True)
class Libc:
    """The libc routine the agent calls for an op, as Plan 9's libc.h declares it.

    The host build (compat/) is generated from it: the rename to nh_NAME and
    the prototype (compat/calls.h), and, with ``stub``, the whole host answer
    (compat/answers.h): the call's return value from the model's record."""

    ret: str
    name: str
    params: tuple[str, ...]
    stub: bool = False


@dataclass(frozen=True)
class Op:
    name: str
    kind: OpKind
    params: tuple[Param, ...]
    ret: Ret
    cret: str  # the C return type of the routine the agent calls
    doc: str
    syscall: str | None = None  # sysctab name (port/systab.h) when it is exactly one system call
    outs: tuple[Out, ...] = ()
    source: str = ""  # where the kernel implements it
    libc: Libc | None = None

    @property
    def min_args(self) -> int:
        return sum(1 for p in self.params if not p.optional and not p.variadic)

    @property
    def max_args(self) -> int:
        """-1: any number (a variadic parameter)."""
        return -1 if any(p.variadic for p in self.params) else len(self.params)

    @property
    def slots(self) -> str:
        """One Slot letter per program position; a trailing '*' repeats the last."""
        s = "".join(p.slot.value for p in self.params)
        return s + "*" if any(p.variadic for p in self.params) else s

    def slot_at(self, i: int) -> Slot:
        s = self.slots
        if s.endswith("*") and i >= len(s) - 2:
            return Slot(s[-2])
        return Slot(s[i])

    def out(self, key: str) -> Out | None:
        return next((o for o in self.outs if o.key == key), None)


@dataclass(frozen=True)
class Probe:
    """``probe w:NAME ARGS...``: one look at the process's state."""

    name: str
    params: tuple[Param, ...]
    outs: tuple[Out, ...]
    doc: str
    defaults: dict[str, int] = field(default_factory=dict)  # the compiler's default for an omitted INT


def _p(name: str, ptype: PType, ctype: str, doc: str, optional: bool = False) -> Param:
    return Param(name, ptype, ctype, doc, optional)


F, N, S, B, A = PType.FLAGS, PType.INT, PType.STR, PType.BUF, PType.ADDR  # N: a number
_TEXT_BACK = "the NUL-terminated text the call put in the buffer"

OPERATIONS: tuple[Op, ...] = (
    # -- sysproc.c ------------------------------------------------------------
    Op("rfork", OpKind.CALL, (
        _p("flags", F, "ulong", "RF flags (RFPROC, RFFDG, ...)"),
        _p("child", PType.BLOCK, "", "steps the child runs when rfork returns 0 in it, then exits(nil)", True),
    ), Ret.PID, "int", "create a process or change the caller's groups", "Rfork",
        source="port/sysproc.c:sysrfork", libc=Libc("int", "rfork", ("int",))),
    Op("exec", OpKind.CALL, (
        _p("path", S, "char*", "file to execute ($agent: the guest agent itself)"),
        _p("then", PType.BLOCK, "", "steps the new image runs (the agent re-enters itself)"),
        _p("argv", PType.STRLIST, "char**", "argument strings; null for a nil argv"),
    ), Ret.STATUS, "int", "replace the image; a successful exec's record is the new image's first", "Exec",
        (Out("argv", "the argument vector the new image got (a #! line rewrites it)", Answer.ARGV),),
        source="port/sysproc.c:sysexec", libc=Libc("int", "exec", ("char*", "char**"))),
    Op("exits", OpKind.CALL, (
        _p("msg", S, "char*", "exit status; null for nil, {addr: 1} for a bad pointer"),
    ), Ret.NORETURN, "void", "end the process", "Exits", source="port/sysproc.c:sysexits",
        libc=Libc("_Noreturn void", "exits", ("char*",))),
    Op("await", OpKind.CALL, (
        _p("buf", B, "char*", "buffer for the wait message"),
        _p("n", N, "uint", "its size"),
    ), Ret.COUNT, "int", "wait for a child: 'pid user sys real msg'", "Await",
        (Out("text", _TEXT_BACK + " (times are nondet)", Answer.TEXT),),
        source="port/sysproc.c:sysawait", libc=Libc("int", "await", ("char*", "int"))),
    Op("errstr", OpKind.CALL, (
        _p("buf", B, "char*", "buffer swapped with the errstr"),
        _p("n", N, "uint", "its size"),
    ), Ret.STATUS, "int", "swap the error string with a buffer", "Errstr",
        (Out("text", _TEXT_BACK, Answer.TEXT),), source="port/sysproc.c:syserrstr",
        libc=Libc("int", "errstr", ("char*", "uint"))),
    Op("_errstr", OpKind.CALL, (
        _p("buf", B, "char*", "64-byte buffer swapped with the errstr"),
    ), Ret.STATUS, "int", "the old errstr call (64 bytes)", "_errstr",
        (Out("text", _TEXT_BACK, Answer.TEXT),), source="port/sysproc.c:sys_errstr",
        libc=Libc("int", "_errstr", ("char*",))),
    Op("_wait", OpKind.CALL, (
        _p("buf", B, "OWaitmsg*", "an OWaitmsg, or null"),
    ), Ret.PID, "int", "the old _WAIT call", "_wait",
        (Out("msg", "the message field of the OWaitmsg", Answer.OWAITMSG),), source="port/sysproc.c:sys_wait",
        libc=Libc("int", "_wait", ("void*",))),
    Op("werrstr", OpKind.CALL, (
        _p("msg", S, "char*", "the new error string"),
    ), Ret.VOID, "void", "libc werrstr(\"%s\", msg): set the error string", source="libc werrstr",
        libc=Libc("void", "werrstr", ("char*", "..."))),
    Op("rendezvous", OpKind.CALL, (
        _p("tag", N, "uintptr", "the tag to meet on"),
        _p("value", N, "uintptr", "the value to exchange"),
    ), Ret.POINTER, "void*", "exchange a value with another process", "Rendez",
        source="port/sysproc.c:sysrendezvous",
        libc=Libc("void*", "rendezvous", ("void*", "void*"), stub=True)),
    Op("semacquire", OpKind.CALL, (
        _p("addr", A, "long*", "the semaphore"),
        _p("block", N, "int", "wait when it is 0"),
    ), Ret.VALUE, "int", "acquire a semaphore: 1, 0 (would block) or -1", "Semacquire",
        source="port/sysproc.c:syssemacquire",
        libc=Libc("int", "semacquire", ("long*", "int"), stub=True)),
    Op("tsemacquire", OpKind.CALL, (
        _p("addr", A, "long*", "the semaphore"),
        _p("ms", N, "ulong", "how long to wait"),
    ), Ret.VALUE, "int", "acquire with a timeout: 1, 0 (timed out) or -1", "Tsemacquire",
        source="port/sysproc.c:systsemacquire",
        libc=Libc("int", "tsemacquire", ("long*", "ulong"), stub=True)),
    Op("semrelease", OpKind.CALL, (
        _p("addr", A, "long*", "the semaphore"),
        _p("delta", N, "long", "how much to add"),
    ), Ret.VALUE, "long", "release a semaphore: the new value", "Semrelease",
        source="port/sysproc.c:syssemrelease",
        libc=Libc("long", "semrelease", ("long*", "long"), stub=True)),
    Op("sleep", OpKind.CALL, (_p("ms", N, "long", "milliseconds"),), Ret.STATUS, "int",
       "sleep", "Sleep", source="port/sysproc.c:syssleep",
        libc=Libc("int", "sleep", ("long",), stub=True)),
    Op("alarm", OpKind.CALL, (_p("ms", N, "ulong", "milliseconds; 0 cancels"),), Ret.VALUE, "long",
       "set the alarm: the previous one's remaining ms (nondet when one was pending)", "Alarm",
       source="port/sysproc.c:sysalarm", libc=Libc("long", "alarm", ("ulong",), stub=True)),
    Op("nsec", OpKind.CALL, (), Ret.TIME, "vlong", "the nanosecond clock (ret is nondet)", "_nsec",
       source="port/sysproc.c:sys_nsec", libc=Libc("vlong", "_nsec", (), stub=True)),
    Op("notify", OpKind.CALL, (
        _p("handler", PType.MODE, "void*", "what the installed handler does with each note (HANDLER_MODES)"),
    ), Ret.STATUS, "int", "install the note handler", "Notify", source="port/sysproc.c:sysnotify",
        libc=Libc("int", "notify", ("void(*)(void*, char*)",))),
    Op("noted", OpKind.CALL, (_p("how", N, "int", "NCONT, NDFLT, or a number"),), Ret.STATUS, "int",
       "return from a note handler", "Noted", source="port/sysproc.c:sysnoted",
        libc=Libc("int", "noted", ("int",))),
    Op("sysr1", OpKind.CALL, (), Ret.VALUE, "int", "the kernel's test hook (needs eve)", "Running",
       source="port/sysproc.c:sysr1", libc=Libc("int", "sysr1", (), stub=True)),
    Op("brk", OpKind.CALL, (_p("addr", A, "uintptr", "the new end of Bss"),), Ret.STATUS, "int",
       "move the break", "Brk", source="port/sysproc.c:sysbrk_",
        libc=Libc("int", "brk_", ("void*",))),
    Op("segbrk", OpKind.CALL, (
        _p("seg", A, "uintptr", "an address in the segment"),
        _p("to", A, "uintptr", "its new end"),
    ), Ret.POINTER, "void*", "move a segment's end", "Segbrk", source="port/sysproc.c:syssegbrk",
        libc=Libc("void*", "segbrk", ("void*", "void*"), stub=True)),
    Op("segattach", OpKind.CALL, (
        _p("attr", F, "int", "SG_RONLY, SG_CEXEC"),
        _p("class", S, "char*", "segment class: shared, memory, ..."),
        _p("va", A, "uintptr", "where (0: the kernel chooses)"),
        _p("len", N, "ulong", "length"),
    ), Ret.ADDRESS, "void*", "attach a segment", "Segattach", source="port/sysproc.c:syssegattach",
        libc=Libc("void*", "segattach", ("int", "char*", "void*", "ulong"), stub=True)),
    Op("segdetach", OpKind.CALL, (_p("addr", A, "uintptr", "an address in the segment"),), Ret.STATUS, "int",
       "detach a segment", "Segdetach", source="port/sysproc.c:syssegdetach",
        libc=Libc("int", "segdetach", ("void*",), stub=True)),
    Op("segfree", OpKind.CALL, (
        _p("addr", A, "uintptr", "start"),
        _p("len", N, "ulong", "length"),
    ), Ret.STATUS, "int", "free the pages of a range", "Segfree", source="port/sysproc.c:syssegfree",
        libc=Libc("int", "segfree", ("void*", "ulong"), stub=True)),
    # -- sysfile.c: the fd-table subset the scenarios need ----------------------
    Op("open", OpKind.CALL, (
        _p("path", S, "char*", "file"),
        _p("mode", F, "ulong", "OREAD, OWRITE, ORDWR, OEXEC, | OTRUNC OCEXEC ORCLOSE"),
    ), Ret.FD, "int", "open a file", "Open", source="port/sysfile.c:sysopen",
        libc=Libc("int", "open", ("char*", "int"))),
    Op("create", OpKind.CALL, (
        _p("path", S, "char*", "file"),
        _p("mode", F, "int", "open mode"),
        _p("perm", N, "int", "permissions (DMDIR for a directory)"),
    ), Ret.FD, "int", "create a file", "Create", source="port/sysfile.c:syscreate",
        libc=Libc("int", "create", ("char*", "int", "ulong"))),
    Op("close", OpKind.CALL, (_p("fd", N, "int", "descriptor"),), Ret.STATUS, "int", "close an fd", "Close",
       source="port/sysfile.c:sysclose", libc=Libc("int", "close", ("int",))),
    Op("dup", OpKind.CALL, (
        _p("old", N, "int", "descriptor"),
        _p("new", N, "int", "the wanted descriptor, -1 for the lowest free"),
    ), Ret.FD, "int", "duplicate an fd", "Dup", source="port/sysfile.c:sysdup",
        libc=Libc("int", "dup", ("int", "int"))),
    Op("pipe", OpKind.CALL, (_p("fds", B, "int*", "buffer for two ints"),), Ret.STATUS, "int",
       "make a pipe", "Pipe", (Out("fds", "[FD0, FD1]", Answer.FDPAIR),), source="port/sysfile.c:syspipe",
        libc=Libc("int", "pipe", ("int*",))),
    Op("read", OpKind.CALL, (
        _p("fd", N, "int", "descriptor"),
        _p("buf", B, "void*", "buffer"),
        _p("n", N, "long", "bytes"),
    ), Ret.COUNT, "long", "libc read: pread(fd, buf, n, -1)", "Pread",
        (Out("hex", "the bytes read, lowercase hex", Answer.HEX),), source="port/sysfile.c:syspread",
        libc=Libc("long", "read", ("int", "void*", "long"))),
    Op("write", OpKind.CALL, (
        _p("fd", N, "int", "descriptor"),
        _p("buf", B, "void*", "buffer"),
        _p("n", N, "long", "bytes"),
    ), Ret.COUNT, "long", "libc write: pwrite(fd, buf, n, -1)", "Pwrite", source="port/sysfile.c:syspwrite",
        libc=Libc("long", "write", ("int", "void*", "long"))),
    Op("seek", OpKind.CALL, (
        _p("fd", N, "int", "descriptor"),
        _p("offset", N, "vlong", "offset"),
        _p("whence", N, "int", "SEEK_SET, SEEK_CUR, SEEK_END"),
    ), Ret.VALUE, "vlong", "move the file offset: the new offset", "Seek", source="port/sysfile.c:sysseek",
        libc=Libc("vlong", "seek", ("int", "vlong", "int"))),
    Op("remove", OpKind.CALL, (_p("path", S, "char*", "file"),), Ret.STATUS, "int", "remove a file", "Remove",
       source="port/sysfile.c:sysremove", libc=Libc("int", "remove", ("char*",))),
    Op("fd2path", OpKind.CALL, (
        _p("fd", N, "int", "descriptor"),
        _p("buf", B, "char*", "buffer"),
        _p("n", N, "uint", "its size"),
    ), Ret.STATUS, "int", "the path an fd was opened as", "Fd2path",
        (Out("text", "the path", Answer.TEXT),), source="port/sysfile.c:sysfd2path",
        libc=Libc("int", "fd2path", ("int", "char*", "int"))),
    Op("chdir", OpKind.CALL, (_p("path", S, "char*", "directory"),), Ret.STATUS, "int",
       "change the working directory", "Chdir", source="port/sysfile.c:syschdir",
        libc=Libc("int", "chdir", ("char*",), stub=True)),
    Op("postnote", OpKind.CALL, (
        _p("who", N, "int", "PNPROC or PNGROUP"),
        _p("pid", N, "int", "process ($kid, $pid, $ppid)"),
        _p("msg", S, "char*", "the note"),
    ), Ret.STATUS, "int", "libc postnote: write /proc/PID/note or notepg", source="libc postnote",
        libc=Libc("int", "postnote", ("int", "int", "char*"), stub=True)),
    # -- probes and actions: the agent's own ----------------------------------------
    Op("probe", OpKind.PROBE, (
        _p("what", PType.WORD, "", "one of the probes below"),
        _p("arg", N, "", "the probe's argument", True),
        _p("n", N, "", "the probe's second argument", True),
    ), Ret.VOID, "void", "look at the process's state (read-only)", source="agent"),
    Op("writefile", OpKind.ACTION, (
        _p("path", S, "char*", "file to create"),
        _p("buf", B, "void*", "contents: the buffer from the offset to its end"),
        _p("perm", N, "ulong", "permissions (default 0775 in the model, 0664 in the agent's create)", True),
    ), Ret.STATUS, "int", "set-up: create a file (not a call under test)", source="agent"),
    Op("putenv", OpKind.ACTION, (
        _p("name", S, "char*", "variable"),
        _p("value", S, "char*", "value"),
    ), Ret.STATUS, "int", "set-up: set an environment variable", source="agent",
        libc=Libc("int", "putenv", ("char*", "char*"))),
    Op("touch", OpKind.ACTION, (
        _p("how", PType.WORD, "", "r or w"),
        _p("addr", A, "u32int*", "the word"),
        _p("value", N, "u32int", "what w stores", True),
    ), Ret.STATUS, "int", "read or write a 32-bit word of memory (a fault kills)", source="agent",
        outs=(Out("value", "touch r: the 32-bit word at ADDR, signed", Answer.DECIMAL),)),
)

PROBES: tuple[Probe, ...] = (
    Probe("segments", (), (Out("segments", "[[NAME, FLAGS, BASE, TOP, REF], ...] in slot order, as "
                                               "/proc/N/segment lists them", Answer.SEGMENTS),),
          "the segment table"),
    Probe("fds", (_p("n", N, "int", "how many fds to look at (default 16)", True),),
          (Out("fds", "[[FD, MODE, PATH], ...], MODE r, w, rw or \"\" as /proc/N/fd shows it", Answer.FDTABLE),),
          "the fd table", {"n": 16}),
    Probe("errstr", (), (Out("errstr", "the error string (rerrstr: nothing swapped)", Answer.TEXT),),
          "the error string"),
    Probe("noteid", (), (Out("noteid", "the note group", Answer.DECIMAL),), "the note group id"),
    Probe("buf", (_p("buf", B, "uchar*", "a buffer name"), _p("n", N, "long", "bytes (default: to its end)", True)),
          (Out("hex", "the bytes, lowercase hex"),), "a buffer's bytes"),
    Probe("env", (_p("name", S, "char*", "a variable name"),), (Out("value", "its value, or null", Answer.TEXT),),
          "an environment variable"),
    Probe("args", (), (Out("args", "the agent's argv"),), "the argument vector"),
    Probe("procargs", (), (Out("procargs", "/proc/N/args as read (%q args joined by blanks)", Answer.TEXT),),
          "/proc/N/args"),
    Probe("brk", (), (Out("brk", "the Bss segment's top", Answer.BRK),), "the break"),
)

# touch's first word
TOUCH_WORDS = ("r", "w")

# Outs every record may carry, whatever its op.
COMMON_OUTS = (
    Out("hung", "deadlock or step-limit: the process was still blocked when the run ended"),
)

OPS: dict[str, Op] = {o.name: o for o in OPERATIONS}
PROBE_TABLE: dict[str, Probe] = {p.name: p for p in PROBES}
PROBE_NAMES: tuple[str, ...] = tuple(PROBE_TABLE)


def op_syscalls() -> dict[str, str]:
    """Operation -> sysctab name, for the operations that are exactly one system call."""
    return {o.name: o.syscall for o in OPERATIONS if o.syscall is not None}


def ops_returning(ret: Ret) -> frozenset[str]:
    return frozenset(o.name for o in OPERATIONS if o.ret is ret)
