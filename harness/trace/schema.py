"""The trace schema, version 1, shared by the model, the guest agent and the differ.

On disk a trace is JSON Lines: one header object, then one object per record.

Header::

    {"nhtrace": 1, "source": "model"|"guest", "scenario": NAME,
     "arch": ARCH, "profile": PROFILE, "meta": {...}}

Record::

    {"proc": "main", "seq": 0, "step": 3, "kind": "call", "op": "rfork",
     "args": ["i:0x1010", "c:b4"], "ret": 1234, "err": null, "out": {},
     "nondet": ["ret"]}

* ``proc`` is symbolic and identical on both sides: ``main`` for the first
  process, ``s<STEP>`` for the child created by the rfork at program step STEP.
  An exec keeps the name.
* ``seq`` counts records per process from 0, so processes that run
  concurrently in the guest still compare record by record.
* ``args`` are the program's argument tokens verbatim: both sides print what
  they were told to do, so only results can differ.  Long ones are
  abbreviated by one rule on both sides (``abbreviate_args``), and so is
  exec's ``out.argv``.
* ``err`` is the errstr after a call that failed (ret -1 or nil), else null.
* ``out`` holds op-specific results (buffers read, probe tables, notes).
* ``nondet`` names the fields (``ret``, ``err``, ``out.KEY``) the model cannot
  know exactly (timing, scheduling); the normaliser masks them on both sides.
  Entries starting with ``~`` (``~pc``, ``~times``) are markers for the
  normaliser's pattern rules, not fields (see ``harness.trace.normalise``).

On the console the guest agent sends each record as one frame
(``harness.trace.frame``: the byte format is in its docstring).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import TraceError
from harness.files import write_atomic

SCHEMA_VERSION = 1

# Record kinds.
START = "start"  # a process began running the program (out: pid, ...)
CALL = "call"  # a system call (or a libc wrapper the scenario names)
PROBE = "probe"  # a read-only look at process state (segments, fds, ...)
ACTION = "action"  # set-up the scenario needs (write a file, touch memory)
NOTE = "note"  # the process's note handler received a note
# Added within v1 (an addition, so v1 readers of model and guest traces are
# unaffected): the kernel's own syscall trace of a process (agent -t), one
# record per /proc/N/syscall text; proc "kt<PID>", out {"pid": PID, "text":
# TEXT} (or out.error when the tracer could not attach).  These records only
# travel on the console: the pipeline takes them out of the guest trace
# (harness.trace.ktrace) before it is written or diffed.
KTRACE = "ktrace"
# Also an addition within v1: the agent's own time for the program, its last
# record (proc "agent", seq 0, out {"elapsed_ns": N}), the floor of a guest
# run (issue 11).  Like KTRACE it only travels on the console: split_end takes
# it out before the trace is written or diffed; the model never emits it.
END = "end"
END_PROC = "agent"
KINDS = (START, CALL, PROBE, ACTION, NOTE, KTRACE, END)


def end_record(elapsed_ns: int) -> Record:
    return Record(proc=END_PROC, seq=0, step=0, kind=END, op="end", out={"elapsed_ns": int(elapsed_ns)})


def split_end(records: list[Record]) -> tuple[list[Record], int | None]:
    """RECORDS without the agent's END record, and its elapsed_ns (None: none came)."""
    elapsed: int | None = None
    kept: list[Record] = []
    for r in records:
        if r.kind == END and r.proc == END_PROC:
            ns = r.out.get("elapsed_ns")
            elapsed = ns if isinstance(ns, int) and ns >= 0 else elapsed
        else:
            kept.append(r)
    return kept, elapsed


@dataclass
class Header:
    source: str
    scenario: str
    arch: str
    profile: str
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"nhtrace": SCHEMA_VERSION, **asdict(self)}


@dataclass
class Record:
    proc: str
    seq: int
    step: int
    kind: str
    op: str
    args: list[str] = field(default_factory=list)
    ret: Any = None
    err: str | None = None
    out: dict[str, Any] = field(default_factory=dict)
    nondet: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Record:
        try:
            rec = cls(
                proc=str(obj["proc"]),
                seq=int(obj["seq"]),
                step=int(obj["step"]),
                kind=str(obj["kind"]),
                op=str(obj["op"]),
                args=[str(a) for a in obj.get("args", [])],
                ret=obj.get("ret"),
                err=obj.get("err"),
                out=dict(obj.get("out") or {}),
                nondet=[str(n) for n in obj.get("nondet", [])],
            )
        except (KeyError, TypeError, ValueError, OverflowError) as e:
            raise TraceError(f"record is not of schema v{SCHEMA_VERSION}: {e}: {obj!r:.200}") from e
        if rec.kind not in KINDS:
            raise TraceError(f"record has unknown kind {rec.kind!r}")
        return rec


# The record rule for long arguments, applied by the model (Machine.record),
# the guest agent (agent.c jarg/jargs) and the host build's comparison to
# ``args`` and to exec's ``out.argv``, so a 16 MiB token never travels: a
# string of more than LONG_ARG bytes (UTF-8) becomes its first ARG_HEAD bytes,
# backed off while the next byte is a UTF-8 continuation byte, then
# "...(N bytes)"; a list of more than LONG_LIST entries becomes its first
# LIST_HEAD entries, then "...(N args)".  Applying it twice changes nothing.
LONG_ARG, ARG_HEAD, LONG_LIST, LIST_HEAD = 200, 64, 64, 32


def abbreviate_arg(text: str, prefix: str = "") -> str:
    """One argument, PREFIX + TEXT (PREFIX ASCII: "s:"), as records show it."""
    n = len(prefix) + len(text)
    if n * 4 <= LONG_ARG:  # fits however it encodes (UTF-8: at most 4 bytes a character)
        return prefix + text
    if text.isascii():  # one byte a character: no 16 MiB copy or encode to count them
        return prefix + text if n <= LONG_ARG else (prefix + text[:ARG_HEAD])[:ARG_HEAD] + f"...({n} bytes)"
    b = (prefix + text).encode("utf-8", "surrogateescape")
    if len(b) <= LONG_ARG:
        return prefix + text
    k = ARG_HEAD
    while k > 0 and b[k] & 0xC0 == 0x80:
        k -= 1
    return b[:k].decode("utf-8", "surrogateescape") + f"...({len(b)} bytes)"


def abbreviate_args(items: Sequence[Any], each: Callable[[Any], Any] | None = None) -> list[Any]:
    """An argument list as records show it; EACH maps an item to what is shown, applied
    only to the items kept (an exec's 200k arguments are never all formatted)."""
    head = items if len(items) <= LONG_LIST else items[:LIST_HEAD]
    if each is not None:
        head = [each(x) for x in head]
    out = [abbreviate_arg(x) if isinstance(x, str) else x for x in head]
    if len(items) > LONG_LIST:
        out.append(f"...({len(items)} args)")
    return out


def abbreviated(obj: dict[str, Any]) -> dict[str, Any]:
    """A record's JSON object with args and exec's out.argv abbreviated."""
    obj["args"] = abbreviate_args(list(obj.get("args") or []))
    out = obj.get("out")
    if obj.get("op") == "exec" and isinstance(out, dict) and isinstance(out.get("argv"), list):
        out["argv"] = abbreviate_args(out["argv"])
    return obj


@dataclass
class Trace:
    header: Header
    records: list[Record]


def dumps_records(records: Iterable[Record]) -> str:
    return "".join(json.dumps(r.to_json(), sort_keys=True) + "\n" for r in records)


def write_trace(path: str | Path, trace: Trace) -> None:
    """Write atomically: a temp file of its own, renamed over PATH (harness.files)."""
    text = json.dumps(trace.header.to_json(), sort_keys=True) + "\n" + dumps_records(trace.records)
    write_atomic(Path(path), text)


def iter_lines(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise TraceError(f"{path}: cannot read trace: {e.strerror}") from e
    except UnicodeDecodeError as e:
        raise TraceError(f"{path}: not a UTF-8 trace file") from e
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield n, json.loads(line)
        except json.JSONDecodeError as e:
            raise TraceError(f"{path}:{n}: not JSON: {e.msg}") from e
        except RecursionError:  # json's decoder recurses per nesting level
            raise TraceError(f"{path}:{n}: not a trace record (nested too deeply)") from None


def read_trace(path: str | Path) -> Trace:
    lines = iter_lines(path)
    first = next(lines, None)
    if first is None or not isinstance(first[1], dict) or first[1].get("nhtrace") is None:
        raise TraceError(f"{path}: not a nine-harness trace (no header line)")
    hdr = first[1]
    if not isinstance(hdr.get("meta") or {}, dict):
        raise TraceError(f"{path}:{first[0]}: the header's meta is not an object")
    if hdr["nhtrace"] != SCHEMA_VERSION:
        raise TraceError(f"{path}: trace schema v{hdr['nhtrace']}, this harness reads v{SCHEMA_VERSION}")
    header = Header(
        source=str(hdr.get("source", "?")),
        scenario=str(hdr.get("scenario", "?")),
        arch=str(hdr.get("arch", "?")),
        profile=str(hdr.get("profile", "?")),
        meta=dict(hdr.get("meta") or {}),
    )
    records = []
    for n, obj in lines:
        if not isinstance(obj, dict):
            raise TraceError(f"{path}:{n}: record is not an object")
        try:
            records.append(Record.from_json(obj))
        except TraceError as e:
            raise TraceError(f"{path}:{n}: {e}") from e
    return Trace(header, records)
