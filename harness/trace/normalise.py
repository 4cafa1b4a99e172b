"""Normalisation: make a model trace and a guest trace comparable.

Only what cannot be the same on both sides is touched, by the explicit rules
in ``RULES`` (the diff lists them and names the rule behind every masked or
rewritten field).  In the order they are applied to each record:

``nondet``
    Every field a record's ``nondet`` names (``ret``, ``err``, ``out``,
    ``out.KEY``, ``out.KEY.SUB``) becomes ``<masked>``; a string slice
    ``PATH[A:B]`` (the model's bytes of a buffer it cannot know, e.g. a raw
    ``probe buf`` over an await message) has those characters replaced by
    ``?``.  The diff passes the
    paired record's ``nondet`` too, so a field is masked on BOTH sides when
    either side says it cannot be known.  Entries starting with ``~`` (the
    model's ``~pc``, ``~times``) are markers for the pattern rules below,
    which apply to every record anyway; they mask no field.
``pc``
    Code addresses in text, ``pc=0x...`` (notes, wait messages, errstrs; the
    model writes ``pc=PC``), become ``pc=<masked>``: they depend on the
    exact binary.
``times``
    The value of ``nsec``, the three time fields of an ``await`` message
    (``out.str``: ``PID USER SYS REAL 'MSG'``, also when cut short by a small
    buffer), and ``out`` keys named in ``TIME_KEYS`` become ``<t>`` /
    ``<masked>``.
``pids``
    Process ids become ``<pid:NAME>`` with the trace's process names.  A pid is
    known from the ``start`` record of a process (``out.pid``) and from the
    return value of the ``rfork`` at step S in the parent (the child ``sS``;
    used only when ``sS`` has no start record, so a wrong rfork return value
    still shows).  Rewritten: ``start``'s ``out.pid``; a positive return of
    ``rfork`` or ``_wait`` (``PID_RET_OPS``); ``out`` keys in ``PID_KEYS``; the leading pid of an ``await``
    message; ``NAME PID:`` (the kernel's ``textname pid: msg`` form) in any
    text when PID is a known pid.  An unknown pid in a pid position becomes
    ``<pid:?>``.
``noteids``
    Note group ids (``probe noteid``) become ``<noteid:PROC>``, PROC being the
    first process (main first, then ``sN`` by N, then by record number) seen in
    that group, so "same group as main" compares equal on both sides.
``addresses``
    Addresses inside the Text, Data or Bss segment become ``SEG+0xOFF``
    relative to that process's segment table (its nearest earlier ``probe
    segments``, else its first later one): where they lie depends on the size
    of the binary.  Applied to ``addr=0x...`` in text, the return value of
    ``ADDRESS_RET_OPS`` and ``out`` keys in ``ADDRESS_KEYS``.  Addresses in
    other segments (stack, attached segments) stay absolute: the kernel
    places those by fixed rules and the scenarios test exactly that.

Args are never rewritten (both sides execute the same tokens) and the
segment table itself is compared as it is.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.ops import Ret, ops_returning
from harness.trace.schema import PROBE, START, Header, Record

MASK = "<masked>"
TIME_MASK = "<t>"
UNKNOWN_PID = "<pid:?>"

TIME_KEYS = frozenset({"nsec", "elapsed", "time", "times"})
PID_KEYS = frozenset({"pid", "ppid", "cpid"})
PID_RET_OPS = ops_returning(Ret.PID)  # calls that return a pid (rfork, _wait)
ADDRESS_KEYS = frozenset({"addr", "va", "brk"})
ADDRESS_RET_OPS = ops_returning(Ret.ADDRESS)  # an address the kernel chose (segattach)
RELATIVE_SEGMENTS = frozenset({"Text", "Data", "Bss"})
AWAIT_TEXT_KEYS = ("str", "text")  # out key of await's message (the model's is str)
MARKER = "~"  # nondet entries naming a pattern rule, not a field


@dataclass(frozen=True)
class Rule:
    name: str
    summary: str


RULES: tuple[Rule, ...] = (
    Rule("nondet", "fields named in nondet (either side's) are masked on both sides"),
    Rule("pc", "code addresses 'pc=0x...' in text are masked"),
    Rule("times", "nsec values, await time fields and time-valued out keys are masked"),
    Rule("pids", "pids become <pid:NAME> (from start records and rfork returns)"),
    Rule("noteids", "note group ids become <noteid:PROC>, PROC the first process seen in the group"),
    Rule("addresses", "addresses in Text/Data/Bss become SEG+0xOFF from the process's segment table"),
    Rule("textref", "the Text segment's reference count is masked: the kernel's image cache keeps "
         "references from earlier runs of the same binary (history, not behaviour)"),
)
RULE_NAMES = tuple(r.name for r in RULES)

_PC_RE = re.compile(r"\bpc=(?:0x[0-9a-fA-F]+|PC)\b")
_ADDR_RE = re.compile(r"\baddr=0x([0-9a-fA-F]+)")
_NAME_PID_RE = re.compile(r"(?P<name>[^\s':]+) (?P<pid>[0-9]+):")
_AWAIT_RE = re.compile(r"^(?P<pid>[0-9]+)(?P<times>(?: [0-9]+){0,3})(?P<rest>.*)$", re.S)
_SEQ_PROC_RE = re.compile(r"^s([0-9]+)$")
_SLICE_RE = re.compile(r"^(?P<path>[^\[]+)\[(?P<a>[0-9]+):(?P<b>[0-9]+)\]$")
UNKNOWN_CHAR = "?"

ProcSeq = tuple[str, int]


def proc_order(proc: str) -> tuple[int, int, str]:
    """main first, then sN by N, then the rest by name."""
    if proc == "main":
        return (0, 0, "")
    m = _SEQ_PROC_RE.match(proc)
    if m:
        return (1, int(m.group(1)), "")
    return (2, 0, proc)


@dataclass
class NRecord:
    """A normalised record, its original, and which rule touched which field."""

    record: Record
    original: Record
    masked: dict[str, str] = field(default_factory=dict)  # path -> rule
    rewritten: dict[str, list[str]] = field(default_factory=dict)  # path -> rules, in order


@dataclass
class NormalisedTrace:
    header: Header | None
    items: list[NRecord]

    @property
    def records(self) -> list[Record]:
        return [n.record for n in self.items]


@dataclass
class _Context:
    """What the rules need to know about the whole trace."""

    pid_names: dict[int, str]
    noteid_names: dict[int, str]
    seg_tables: dict[str, list[tuple[int, list[Any]]]]  # proc -> [(seq, table)]


def normalise(records: Iterable[Record], header: Header | None = None,
              extra_nondet: Mapping[ProcSeq, Iterable[str]] | None = None) -> NormalisedTrace:
    """Apply RULES to every record.  EXTRA_NONDET: more nondet fields per (proc, seq)."""
    recs = list(records)
    ctx = _Context(_pid_names(recs), _noteid_names(recs), _segment_tables(recs))
    items = []
    for r in recs:
        nondet = set(r.nondet) | set((extra_nondet or {}).get((r.proc, r.seq), ()))
        items.append(_normalise_one(r, sorted(nondet), ctx))
    return NormalisedTrace(header, items)


# -- building the context ---------------------------------------------------


def _pid_names(recs: list[Record]) -> dict[int, str]:
    names: dict[int, str] = {}
    started = set()
    for r in recs:
        pid = r.out.get("pid") if r.kind == START else None
        if isinstance(pid, int) and not isinstance(pid, bool):
            names.setdefault(pid, r.proc)
            started.add(r.proc)
    for r in recs:
        child = f"s{r.step}"
        if r.op == "rfork" and _is_int(r.ret) and r.ret > 0 and child not in started:
            names.setdefault(r.ret, child)
    return names


def _canonical(recs: list[Record]) -> list[Record]:
    return sorted(recs, key=lambda r: (proc_order(r.proc), r.seq))


def _is_probe(r: Record, name: str) -> bool:
    """A ``probe NAME`` record (op probe, first arg w:NAME; op NAME is accepted too)."""
    if r.op == "probe":
        return bool(r.args) and r.args[0] in (f"w:{name}", name)
    return r.kind == PROBE and r.op == name


def _is_noteid_probe(r: Record) -> bool:
    return _is_probe(r, "noteid")


def _noteid_names(recs: list[Record]) -> dict[int, str]:
    names: dict[int, str] = {}
    for r in _canonical(recs):
        if _is_noteid_probe(r):
            for v in r.out.values():
                if _is_int(v):
                    names.setdefault(v, r.proc)
    return names


def _segment_tables(recs: list[Record]) -> dict[str, list[tuple[int, list[Any]]]]:
    tables: dict[str, list[tuple[int, list[Any]]]] = {}
    for r in _canonical(recs):
        segs = r.out.get("segments")
        if _is_probe(r, "segments") and isinstance(segs, list):
            tables.setdefault(r.proc, []).append((r.seq, segs))
    return tables


def _table_for(ctx: _Context, r: Record) -> list[Any] | None:
    tables = ctx.seg_tables.get(r.proc, [])
    before = [t for s, t in tables if s < r.seq]
    if before:
        return before[-1]
    after = [t for s, t in tables if s > r.seq]
    return after[0] if after else None


def symbolise_address(addr: int, table: list[Any] | None) -> str | None:
    """SEG+0xOFF for an address in a Text/Data/Bss segment of TABLE, else None."""
    if table is None:
        return None
    rows = [row for row in table if isinstance(row, list | tuple) and len(row) >= 4]
    for inclusive_top in (False, True):  # inside first; one past the end (a break) second
        for row in rows:
            name, base, top = row[0], row[2], row[3]
            if name not in RELATIVE_SEGMENTS or not (_is_int(base) and _is_int(top)):
                continue
            if base <= addr < top or (inclusive_top and addr == top):
                return f"{name}+{addr - base:#x}"
    return None


# -- applying the rules -----------------------------------------------------


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _get(rec: Record, path: str) -> tuple[bool, Any]:
    parts = path.split(".")
    if parts[0] not in ("ret", "err", "out"):
        return False, None
    cur: Any = getattr(rec, parts[0])
    for p in parts[1:]:
        if not isinstance(cur, dict) or p not in cur:
            return False, None
        cur = cur[p]
    return True, cur


def _set(rec: Record, path: str, value: Any) -> None:
    parts = path.split(".")
    if len(parts) == 1:
        setattr(rec, parts[0], value)
        return
    cur: Any = getattr(rec, parts[0])
    for p in parts[1:-1]:
        cur = cur[p]
    cur[parts[-1]] = value


def _paths(rec: Record) -> list[str]:
    """The comparable value fields: ret, err and each top-level out key."""
    return ["ret", "err"] + [f"out.{k}" for k in rec.out]


def _map_strings(value: Any, fn: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, list):
        return [_map_strings(v, fn) for v in value]
    if isinstance(value, dict):
        return {k: _map_strings(v, fn) for k, v in value.items()}
    return value


def _mask_slice(value: Any, a: int, b: int) -> Any:
    if not isinstance(value, str) or a >= len(value):
        return value
    b = min(b, len(value))
    return value[:a] + UNKNOWN_CHAR * (b - a) + value[b:]


class _Rewriter:
    def __init__(self, rec: Record, ctx: _Context) -> None:
        self.original = rec
        self.rec = copy.deepcopy(rec)
        self.ctx = ctx
        self.masked: dict[str, str] = {}
        self.rewritten: dict[str, list[str]] = {}

    def mask(self, path: str, rule: str, token: str = MASK) -> None:
        """Mask PATH; an absent path is still noted, so the diff skips it on both sides."""
        if path.startswith(MARKER):
            return
        m = _SLICE_RE.match(path)
        if m:
            self.rewrite(m["path"], rule, lambda v: _mask_slice(v, int(m["a"]), int(m["b"])))
            return
        if path == "out":  # keep out a dict: mask key by key
            for k in list(self.rec.out):
                self.mask(f"out.{k}", rule, token)
            self.masked.setdefault(path, rule)
            return
        if path in self.masked:
            return
        present, value = _get(self.rec, path)
        if present and value != token:
            _set(self.rec, path, token)
        self.masked[path] = rule

    def rewrite(self, path: str, rule: str, fn: Callable[[Any], Any]) -> None:
        if any(path == m or path.startswith(m + ".") for m in self.masked):
            return
        present, value = _get(self.rec, path)
        if not present:
            return
        new = fn(value)
        if new != value:
            _set(self.rec, path, new)
            rules = self.rewritten.setdefault(path, [])
            if rule not in rules:
                rules.append(rule)

    def strings(self, rule: str, fn: Callable[[str], str]) -> None:
        for path in _paths(self.rec):
            self.rewrite(path, rule, lambda v: _map_strings(v, fn))

    def result(self) -> NRecord:
        return NRecord(self.rec, self.original, self.masked, self.rewritten)


def _normalise_one(rec: Record, nondet: list[str], ctx: _Context) -> NRecord:
    w = _Rewriter(rec, ctx)
    for path in nondet:
        w.mask(path, "nondet")
    w.strings("pc", lambda s: _PC_RE.sub("pc=<masked>", s))
    _times(w)
    _pids(w)
    _noteids(w)
    _addresses(w)
    _textref(w)
    return w.result()


def _textref(w: _Rewriter) -> None:
    if not _is_probe(w.rec, "segments"):
        return

    def mask_text_ref(rows: Any) -> Any:
        if not isinstance(rows, list):
            return rows
        return [[*row[:4], MASK] if isinstance(row, list) and len(row) == 5 and row[0] == "Text" else row
                for row in rows]

    w.rewrite("out.segments", "textref", mask_text_ref)


def _await_text(s: str, pid_fn: Callable[[int], str] | None) -> str:
    """Rewrite an await message's pid (pid_fn) or its time fields (pid_fn None)."""
    m = _AWAIT_RE.match(s)
    if m is None:
        return s
    pid = m.group("pid") if pid_fn is None else pid_fn(int(m.group("pid")))
    times = m.group("times")
    if pid_fn is None:
        times = "".join(f" {TIME_MASK}" for _ in times.split())
    return f"{pid}{times}{m.group('rest')}"


def _times(w: _Rewriter) -> None:
    r = w.rec
    if r.op == "nsec":
        w.mask("ret", "times")
    for k in list(r.out):
        if k in TIME_KEYS:
            w.mask(f"out.{k}", "times")
    if r.op == "await":
        for k in AWAIT_TEXT_KEYS:
            w.rewrite(f"out.{k}", "times", lambda v: _await_text(v, None) if isinstance(v, str) else v)


def _pids(w: _Rewriter) -> None:
    names = w.ctx.pid_names
    r = w.rec

    def token(pid: int) -> str:
        return f"<pid:{names[pid]}>" if pid in names else UNKNOWN_PID

    if r.kind == START:
        w.rewrite("out.pid", "pids", lambda v: token(v) if _is_int(v) else v)
    if r.op in PID_RET_OPS:
        w.rewrite("ret", "pids", lambda v: token(v) if _is_int(v) and v > 0 else v)
    for k in list(r.out):
        if k in PID_KEYS and r.kind != START:
            w.rewrite(f"out.{k}", "pids", lambda v: token(v) if _is_int(v) and v > 0 else v)
    if r.op == "await":
        for k in AWAIT_TEXT_KEYS:
            w.rewrite(f"out.{k}", "pids", lambda v: _await_text(v, token) if isinstance(v, str) else v)

    def in_text(s: str) -> str:
        def sub(m: re.Match[str]) -> str:
            pid = int(m.group("pid"))
            return f"{m.group('name')} <pid:{names[pid]}>:" if pid in names else m.group(0)

        return _NAME_PID_RE.sub(sub, s)

    w.strings("pids", in_text)


def _noteids(w: _Rewriter) -> None:
    if not _is_noteid_probe(w.rec):
        return
    names = w.ctx.noteid_names
    for k in list(w.rec.out):
        w.rewrite(f"out.{k}", "noteids", lambda v: f"<noteid:{names[v]}>" if _is_int(v) and v in names else v)


def _addresses(w: _Rewriter) -> None:
    r = w.rec
    if _is_probe(r, "segments"):
        return  # the table itself is compared as it is
    table = _table_for(w.ctx, r)
    if table is None:
        return

    def sym(v: Any) -> Any:
        if _is_int(v):
            return symbolise_address(v, table) or v
        return v

    if r.op in ADDRESS_RET_OPS:
        w.rewrite("ret", "addresses", sym)
    for k in list(r.out):
        if k in ADDRESS_KEYS:
            w.rewrite(f"out.{k}", "addresses", sym)

    def in_text(s: str) -> str:
        def sub(m: re.Match[str]) -> str:
            name = symbolise_address(int(m.group(1), 16), table)
            return f"addr={name}" if name else m.group(0)

        return _ADDR_RE.sub(sub, s)

    w.strings("addresses", in_text)
