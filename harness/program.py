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
from harness.libc import tokenize
from harness.ops import (
    ADDRESS_BASES,
    ARG_KINDS,
    HANDLER_MODES,
    OPS,
    PREDEFINED_VARS,
    PROBE_NAMES,
    SLOT_KINDS,
    SLOT_WORDS,
    TOUCH_WORDS,
    OpKind,
)

PROGRAM_VERSION = 1

# The vocabularies of the format come from the catalogue (harness/ops).
PROBES = PROBE_NAMES
ACTIONS_TOUCH = TOUCH_WORDS
# per op, the Slot of each argument position; the last repeats (exec's argv)
_SLOTS = {name: tuple(o.slot_at(i) for i in range(len(o.params))) for name, o in OPS.items()}
INT_MIN, INT_MAX = -(1 << 63), (1 << 64) - 1  # i: values: a vlong or a uvlong, as the agent reads them

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
    def kind(self) -> OpKind:
        return OPS[self.op].kind

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
    if tok and not (" " in tok or "\t" in tok or "\r" in tok or "\n" in tok or "'" in tok):
        return tok
    return "'" + tok.replace("'", "''") + "'"


def lines(text: str) -> list[str]:
    """The program's lines: split at newlines only (str.splitlines() also splits
    at \\v, \\f, \\x1c-\\x1e, \\x85, U+2028, U+2029, which strings may hold)."""
    out = text.split("\n")
    if out and out[-1] == "":
        out.pop()
    return out


def _parse_arg(tok: str, lineno: int, src: str) -> Arg:
    kind, sep, text = tok.partition(":")
    if not sep or kind not in ARG_KINDS:
        raise ProgramError(lineno, f"argument {tok!r} has no known type prefix", src)
    if kind == "i" and not _INT.match(text):
        raise ProgramError(lineno, f"bad integer {text!r}", src)
    if kind == "i" and not fits64(text):
        raise ProgramError(lineno, f"integer {text!r} does not fit in 64 bits", src)
    if kind == "a" and not _ADDR.match(text):
        raise ProgramError(lineno, f"bad address {text!r}", src)
    if kind == "a" and not _fits(_address_numbers(text)):
        raise ProgramError(lineno, f"address {text!r} does not fit in 64 bits", src)
    if kind in ("b",):
        name, _, off = text.partition("+")
        if not _NAME.match(name) or (off and not _INT.match(off)):
            raise ProgramError(lineno, f"bad buffer reference {text!r}", src)
        if off and not _fits([off]):
            raise ProgramError(lineno, f"buffer offset {off!r} does not fit in 64 bits", src)
    if kind in ("v", "c") and not _NAME.match(text):
        raise ProgramError(lineno, f"bad name {text!r}", src)
    if kind == "h" and text not in HANDLER_MODES:
        raise ProgramError(lineno, f"unknown handler mode {text!r}", src)
    if kind == "n" and text:
        raise ProgramError(lineno, "n: takes no value", src)
    return Arg(kind, text)


def fits64(text: str) -> bool:
    """A number token (decimal or 0x-hex, optional sign) in INT_MIN..INT_MAX;
    the digits are counted first, so a megabyte of them costs nothing."""
    body = text[1:] if text[:1] in "+-" else text
    hexa = body[:2].lower() == "0x"
    digits = (body[2:] if hexa else body).lstrip("0")
    return len(digits) <= (16 if hexa else 20) and INT_MIN <= parse_int(text) <= INT_MAX


def _fits(numbers: list[str]) -> bool:
    return all(fits64(n) for n in numbers)


def _address_numbers(text: str) -> list[str]:
    m = _ADDR.match(text)
    assert m is not None, text
    nums = [] if _NAME.match(m.group("base")) else [m.group("base")]
    return nums + ([m.group("off")[1:]] if m.group("off") else [])  # an offset's magnitude: 64 bits


def parse(text: str, source: str = "<program>") -> Program:
    """Parse and validate a compiled program.  Raises ProgramError."""
    prog: Program | None = None
    block: list[Stmt] | None = None
    steps: set[int] = set()
    saw_header = False
    all_lines = lines(text)
    for lineno, raw in enumerate(all_lines, 1):
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
        raise ProgramError(len(all_lines), "missing 'end' at end of program", source)
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
    spec = OPS[op]
    lo, hi = spec.min_args, spec.max_args
    if len(args) < lo or (hi >= 0 and len(args) > hi):
        want = f"{lo}" if lo == hi else f"{lo}..{'' if hi < 0 else hi}"
        raise ProgramError(lineno, f"{op} takes {want} arguments, got {len(args)}", source)
    if op == "probe" and (args[0].kind != "w" or args[0].text not in PROBES):
        raise ProgramError(lineno, f"probe needs one of w:{'|'.join(PROBES)}", source)
    if op == "touch" and (args[0].kind != "w" or args[0].text not in ACTIONS_TOUCH):
        raise ProgramError(lineno, "touch needs w:r or w:w", source)
    slots = _SLOTS[op]
    for i, a in enumerate(args):
        slot = slots[min(i, len(slots) - 1)]
        if a.kind not in SLOT_KINDS[slot]:
            raise ProgramError(lineno, f"{op} argument {i + 1} takes {SLOT_WORDS[slot]}, not {a.token!r}", source)
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

