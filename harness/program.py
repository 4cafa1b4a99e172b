"""The compiled program: the line format both the model and the guest agent execute.

A scenario (testcases/, YAML) is compiled by ``harness.scenario`` into this
format.  It is deliberately trivial to parse in Plan 9 C: every line is split
by libc ``tokenize`` (blanks separate, single quotes quote, ``''`` is a quote).

::

    nhprog 1
    scenario rfork-child-exits
    covers rfork exits await
    buf wbuf 256
    data hdr 00000000ff
    block main
    1 rfork i:0x10 c:b2 >kid
    3 await b:wbuf i:256
    4 probe segments
    end
    block b2
    2 exits s:bye
    end

``buf NAME SIZE`` declares a zero-filled buffer, ``data NAME HEX`` one with
initial bytes.  Lines starting with ``#`` are comments.

Statement lines are ``STEP OP ARG... [>VAR]``.  STEP is the number of the
scenario step the statement came from (unique in the program), so every trace
record points back to a line of the scenario.  Argument tokens are typed by a
prefix (see ``ARG_KINDS``); ``>VAR`` saves the return value in a variable.

Execution: the process starts in block ``main``.  ``rfork ... c:B`` runs block B
in the child (when the call returns 0) and then ``exits(nil)``; a process that
reaches the end of ``main`` also calls ``exits(nil)``.  ``exec PATH c:B ARGS...``
on success continues in block B in the new image (the guest agent re-enters
itself; the model does the same with the agent's image).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from harness.errors import ProgramError

PROGRAM_VERSION = 1

# Argument kinds, by prefix.
ARG_KINDS = {
    "i": "integer: decimal or 0x-hex, may be negative",
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

# The operations.  Value: (minimum args, maximum args or -1 for any, kind).
OPS: dict[str, tuple[int, int, str]] = {
    # sysproc.c
    "rfork": (1, 2, "call"),
    "exec": (2, -1, "call"),
    "exits": (1, 1, "call"),
    "await": (2, 2, "call"),
    "errstr": (2, 2, "call"),
    "_errstr": (1, 1, "call"),
    "_wait": (1, 1, "call"),
    "werrstr": (1, 1, "call"),
    "rendezvous": (2, 2, "call"),
    "semacquire": (2, 2, "call"),
    "tsemacquire": (2, 2, "call"),
    "semrelease": (2, 2, "call"),
    "sleep": (1, 1, "call"),
    "alarm": (1, 1, "call"),
    "nsec": (0, 0, "call"),
    "notify": (1, 1, "call"),
    "noted": (1, 1, "call"),
    "sysr1": (0, 0, "call"),
    "brk": (1, 1, "call"),
    "segbrk": (2, 2, "call"),
    "segattach": (4, 4, "call"),
    "segdetach": (1, 1, "call"),
    "segfree": (2, 2, "call"),
    # the fd-table subset the scenarios need
    "open": (2, 2, "call"),
    "create": (3, 3, "call"),
    "close": (1, 1, "call"),
    "dup": (2, 2, "call"),
    "pipe": (1, 1, "call"),
    "read": (3, 3, "call"),
    "write": (3, 3, "call"),
    "seek": (3, 3, "call"),
    "remove": (1, 1, "call"),
    "fd2path": (3, 3, "call"),
    "chdir": (1, 1, "call"),
    "postnote": (3, 3, "call"),
    # probes: read-only looks at state
    "probe": (1, 3, "probe"),
    # actions: set-up, memory touches
    "writefile": (2, 3, "action"),
    "putenv": (2, 2, "action"),
    "touch": (2, 3, "action"),
}

PROBES = ("segments", "fds", "errstr", "noteid", "buf", "env", "args", "procargs", "brk")
ACTIONS_TOUCH = ("r", "w")

_INT = re.compile(r"^-?(0x[0-9a-fA-F]+|[0-9]+)$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ADDR = re.compile(r"^(?P<base>[A-Za-z_][A-Za-z0-9_]*|0x[0-9a-fA-F]+|[0-9]+)(?P<off>[+-](0x[0-9a-fA-F]+|[0-9]+))?$")


def parse_int(text: str) -> int:
    neg = text.startswith("-")
    body = text[1:] if text[:1] in "+-" else text
    val = int(body, 16) if body.lower().startswith("0x") else int(body, 10)
    return -val if neg else val


@dataclass(frozen=True)
class Arg:
    kind: str  # one of ARG_KINDS
    text: str  # the token after the prefix

    @property
    def token(self) -> str:
        return f"{self.kind}:{self.text}"

    def int_value(self) -> int:
        return parse_int(self.text)

    def buffer_ref(self) -> tuple[str, int]:
        name, _, off = self.text.partition("+")
        return name, (parse_int(off) if off else 0)

    def address_ref(self) -> tuple[str | int, int]:
        """(base name or absolute number, signed offset)."""
        m = _ADDR.match(self.text)
        assert m is not None, self.text
        base_text = m.group("base")
        base: str | int = base_text if _NAME.match(base_text) else parse_int(base_text)
        off = parse_int(m.group("off")) if m.group("off") else 0
        return base, off


@dataclass
class Stmt:
    step: int
    op: str
    args: list[Arg]
    result: str | None = None  # variable name for >VAR
    line: int = 0  # line in the program text

    @property
    def kind(self) -> str:
        return OPS[self.op][2]

    @property
    def tokens(self) -> list[str]:
        return [a.token for a in self.args]


@dataclass
class Program:
    scenario: str
    covers: list[str] = field(default_factory=list)
    buffers: dict[str, bytes] = field(default_factory=dict)  # initial contents
    blocks: dict[str, list[Stmt]] = field(default_factory=dict)

    def dumps(self) -> str:
        out = [f"nhprog {PROGRAM_VERSION}", f"scenario {quote(self.scenario)}"]
        if self.covers:
            out.append("covers " + " ".join(quote(c) for c in self.covers))
        for name, data in self.buffers.items():
            if data and any(data):
                out.append(f"data {name} {data.hex()}")
            else:
                out.append(f"buf {name} {len(data)}")
        for name, stmts in self.blocks.items():
            out.append(f"block {name}")
            for s in stmts:
                toks = [str(s.step), s.op, *(quote(t) for t in s.tokens)]
                if s.result:
                    toks.append(">" + s.result)
                out.append(" ".join(toks))
            out.append("end")
        return "\n".join(out) + "\n"


def quote(tok: str) -> str:
    """Quote a token the way Plan 9's tokenize reads it back."""
    if tok and not any(c in tok for c in " \t\r\n'"):
        return tok
    return "'" + tok.replace("'", "''") + "'"


def tokenize(line: str) -> list[str]:
    """Python twin of Plan 9 libc tokenize(2) (quote-aware field splitting)."""
    toks: list[str] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in " \t\r\n":
            i += 1
        if i >= n:
            return toks
        cur: list[str] = []
        quoting = False
        while i < n:
            c = line[i]
            if not quoting and c in " \t\r\n":
                break
            if c == "'":
                if quoting and i + 1 < n and line[i + 1] == "'":
                    cur.append("'")
                    i += 2
                    continue
                quoting = not quoting
                i += 1
                continue
            cur.append(c)
            i += 1
        toks.append("".join(cur))


def _parse_arg(tok: str, lineno: int, src: str) -> Arg:
    kind, sep, text = tok.partition(":")
    if not sep or kind not in ARG_KINDS:
        raise ProgramError(lineno, f"argument {tok!r} has no known type prefix", src)
    if kind == "i" and not _INT.match(text):
        raise ProgramError(lineno, f"bad integer {text!r}", src)
    if kind == "a" and not _ADDR.match(text):
        raise ProgramError(lineno, f"bad address {text!r}", src)
    if kind in ("b",):
        name, _, off = text.partition("+")
        if not _NAME.match(name) or (off and not _INT.match(off)):
            raise ProgramError(lineno, f"bad buffer reference {text!r}", src)
    if kind in ("v", "c") and not _NAME.match(text):
        raise ProgramError(lineno, f"bad name {text!r}", src)
    if kind == "h" and text not in HANDLER_MODES:
        raise ProgramError(lineno, f"unknown handler mode {text!r}", src)
    if kind == "n" and text:
        raise ProgramError(lineno, "n: takes no value", src)
    return Arg(kind, text)


def parse(text: str, source: str = "<program>") -> Program:
    """Parse and validate a compiled program.  Raises ProgramError."""
    prog: Program | None = None
    block: list[Stmt] | None = None
    steps: set[int] = set()
    saw_header = False
    for lineno, raw in enumerate(text.splitlines(), 1):
        if raw.lstrip().startswith("#"):  # whole-line comments only: '#' is common in strings
            continue
        toks = tokenize(raw)
        if not toks:
            continue
        head = toks[0]
        if not saw_header:
            if head != "nhprog" or len(toks) != 2 or toks[1] != str(PROGRAM_VERSION):
                raise ProgramError(lineno, f"expected 'nhprog {PROGRAM_VERSION}' header", source)
            saw_header = True
            continue
        if head == "scenario":
            if len(toks) != 2:
                raise ProgramError(lineno, "scenario takes one name", source)
            prog = Program(scenario=toks[1])
            continue
        if prog is None:
            raise ProgramError(lineno, "'scenario NAME' must come before anything else", source)
        if head == "covers" and block is None:
            prog.covers = toks[1:]
        elif head in ("buf", "data") and block is None:
            if len(toks) != 3 or not _NAME.match(toks[1]):
                raise ProgramError(lineno, f"{head} takes NAME and one value", source)
            if toks[1] in prog.buffers:
                raise ProgramError(lineno, f"buffer {toks[1]!r} declared twice", source)
            if head == "buf":
                if not toks[2].isdigit():
                    raise ProgramError(lineno, "buf size must be a decimal number", source)
                prog.buffers[toks[1]] = bytes(int(toks[2]))
            else:
                try:
                    prog.buffers[toks[1]] = bytes.fromhex(toks[2])
                except ValueError as e:
                    raise ProgramError(lineno, "data must be hex bytes", source) from e
        elif head == "block":
            if block is not None:
                raise ProgramError(lineno, "block inside block (missing 'end')", source)
            if len(toks) != 2 or not _NAME.match(toks[1]):
                raise ProgramError(lineno, "block takes one name", source)
            if toks[1] in prog.blocks:
                raise ProgramError(lineno, f"block {toks[1]!r} defined twice", source)
            block = prog.blocks.setdefault(toks[1], [])
        elif head == "end":
            if block is None:
                raise ProgramError(lineno, "'end' outside a block", source)
            block = None
        elif block is not None:
            block.append(_parse_stmt(toks, lineno, source, steps))
        else:
            raise ProgramError(lineno, f"unexpected {head!r} outside a block", source)
    if not saw_header or prog is None:
        raise ProgramError(1, "empty program", source)
    if block is not None:
        raise ProgramError(len(text.splitlines()), "missing 'end' at end of program", source)
    if "main" not in prog.blocks:
        raise ProgramError(1, "no 'block main'", source)
    _check_refs(prog, source)
    return prog


def _parse_stmt(toks: list[str], lineno: int, source: str, steps: set[int]) -> Stmt:
    if not toks[0].isdigit():
        raise ProgramError(lineno, f"statement must start with a step number, not {toks[0]!r}", source)
    step = int(toks[0])
    if step in steps:
        raise ProgramError(lineno, f"step {step} used twice", source)
    steps.add(step)
    if len(toks) < 2:
        raise ProgramError(lineno, "statement has no operation", source)
    op = toks[1]
    if op not in OPS:
        raise ProgramError(lineno, f"unknown operation {op!r}", source)
    rest = toks[2:]
    result = None
    if rest and rest[-1].startswith(">"):
        result = rest.pop()[1:]
        if not _NAME.match(result):
            raise ProgramError(lineno, f"bad result variable {result!r}", source)
    args = [_parse_arg(t, lineno, source) for t in rest]
    lo, hi, _ = OPS[op]
    if len(args) < lo or (hi >= 0 and len(args) > hi):
        want = f"{lo}" if lo == hi else f"{lo}..{'' if hi < 0 else hi}"
        raise ProgramError(lineno, f"{op} takes {want} arguments, got {len(args)}", source)
    if op in ("probe", "touch", "writefile", "putenv") and args:
        if op == "probe" and (args[0].kind != "w" or args[0].text not in PROBES):
            raise ProgramError(lineno, f"probe needs one of w:{'|'.join(PROBES)}", source)
        if op == "touch" and (args[0].kind != "w" or args[0].text not in ACTIONS_TOUCH):
            raise ProgramError(lineno, "touch needs w:r or w:w", source)
    return Stmt(step=step, op=op, args=args, result=result, line=lineno)


def _check_refs(prog: Program, source: str) -> None:
    defined: set[str] = set()
    for stmts in prog.blocks.values():
        for s in stmts:
            if s.result:
                defined.add(s.result)
    for stmts in prog.blocks.values():
        for s in stmts:
            for a in s.args:
                if a.kind == "c" and a.text not in prog.blocks:
                    raise ProgramError(s.line, f"no block {a.text!r}", source)
                if a.kind == "b" and a.buffer_ref()[0] not in prog.buffers:
                    raise ProgramError(s.line, f"no buffer {a.buffer_ref()[0]!r}", source)
                if a.kind == "v" and a.text not in defined and a.text not in PREDEFINED_VARS:
                    raise ProgramError(s.line, f"variable {a.text!r} is never set", source)
                if a.kind == "a":
                    base, _ = a.address_ref()
                    if isinstance(base, str) and base not in ADDRESS_BASES and base not in defined:
                        raise ProgramError(s.line, f"unknown address base {base!r}", source)


# Variables every process has: its own pid, its parent's pid (for postnote).
PREDEFINED_VARS = ("pid", "ppid")
