"""Compile a YAML scenario (testcases/) into a Program (harness/program.py).

The scenario format is documented in the README ("Writing a scenario").  The
compiler knows each operation's parameter types, so scenario authors write
plain values (flag names, strings, buffer names, symbolic addresses) and the
compiler turns them into typed program tokens.  Every error names the file,
the line and the reason.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ProgramError, ScenarioError
from harness.ops import (
    ADDRESS_BASES,
    HANDLER_MODES,
    OPERATIONS,
    PREDEFINED_VARS,
    PROBE_TABLE,
    TOUCH_WORDS,
    OpKind,
)
from harness.program import INT_MAX, INT_MIN, PROBES, Arg, Program, Stmt, fits64
from harness.program import parse as parse_program
from harness.scenario import cache
from harness.scenario.constants import ALL as CONSTANTS
from harness.scenario.loader import (
    LineDict,
    LineList,
    check_scenario_file,
    load_yaml,
    load_yaml_bytes,
    read_scenario_text,
)

# The scenario view of the catalogue: op -> [(parameter, type)], "?" marking an
# optional one, in program order (harness/ops).
SIGNATURES: dict[str, list[tuple[str, str]]] = {
    o.name: [(p.name, p.ptype.value + ("?" if p.optional else "")) for p in o.params]
    for o in OPERATIONS
    if o.kind is not OpKind.PROBE and o.name != "touch"
}
# probe and touch have their own small grammars (see _compile_probe/_compile_touch).
_VALUE_FORMS = {"addr", "repeat", "times", "text", "hex"}
STEP_KEYS = ("expect", "as", "child", "then", "doc", "observed")
TOP_KEYS = ("name", "covers", "description", "arches", "profiles", "buffers", "steps", "observed", "tags")

# Bounds checked before anything is built, so hostile input costs nothing.
BUFFER_MAX = 1 << 20  # a declared buffer
STRING_MAX = 32 << 20  # one string argument: twice the largest USTKSIZE, enough to overflow any stack
CONTENT_MAX = 64 << 20  # every buffer and string of one scenario together
STEPS_MAX = 16384  # the agent's Maxstmts
BUFFERS_MAX = 256  # the agent's Maxbufs
DEPTH_MAX = 16  # child:/then: blocks inside each other

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_INTSTR = re.compile(r"^[-+]?(0x[0-9a-fA-F]+|[0-9]+)$")
_ADDRSTR = re.compile(r"^(?P<base>[A-Za-z_][A-Za-z0-9_]*|0x[0-9a-fA-F]+|[0-9]+)\s*(?P<off>[+-]\s*(0x[0-9a-fA-F]+|[0-9]+))?$")


@dataclass
class Expect:
    """What a step's record must show (all keys optional)."""

    step: int
    line: int
    fields: dict[str, Any]  # ret / err / out.KEY -> expected value or pattern
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # by profile or arch

    def for_run(self, arch: str, profile: str) -> dict[str, Any]:
        merged = dict(self.fields)
        for key in (profile, arch, f"{arch}/{profile}"):
            merged.update(self.overrides.get(key, {}))
        return merged


@dataclass
class Scenario:
    """A compiled scenario: the program plus what the compiler knows about its source."""

    name: str
    path: str
    program: Program
    covers: list[str]
    description: str = ""
    arches: list[str] = field(default_factory=list)  # empty = every arch
    profiles: list[str] = field(default_factory=list)  # empty = every profile
    source_lines: dict[int, int] = field(default_factory=dict)  # step -> line in the YAML
    expects: list[Expect] = field(default_factory=list)

    def runs_on(self, arch: str, profile: str) -> bool:
        return (not self.arches or arch in self.arches) and (not self.profiles or profile in self.profiles)


class _Compiler:
    def __init__(self, path: str, arch: str) -> None:
        self.path = path
        self.arch = arch
        self.step = 0
        self.blocks: dict[str, list[Stmt]] = {}
        self.buffers: dict[str, bytes] = {}
        self.vars: set[str] = set(PREDEFINED_VARS)
        self.source_lines: dict[int, int] = {}
        self.expects: list[Expect] = []
        self.ops_used: set[str] = set()
        self.content = 0  # bytes of buffers and strings built so far (CONTENT_MAX)
        self.depth = 0  # blocks being compiled inside each other (DEPTH_MAX)
        self.arch_used = False  # the program differs per arch (an aout: buffer)

    def fail(self, line: int, reason: str) -> ScenarioError:
        return ScenarioError(self.path, line, reason)

    # -- buffers ---------------------------------------------------------
    def buffer(self, name: str, spec: Any, line: int) -> bytes:
        if not _NAME.match(name):
            raise self.fail(line, f"buffer name {name!r} must be a plain word")
        if isinstance(spec, bool) or not isinstance(spec, int | dict):
            raise self.fail(line, f"buffer {name}: give a size or a mapping (size/text/hex/repeat/aout)")
        if isinstance(spec, int):
            if not 0 < spec <= BUFFER_MAX:
                raise self.fail(line, f"buffer {name}: size must be 1..{BUFFER_MAX}")
            return self._spend(bytes(spec), line)
        data = self._content(name, spec, line, BUFFER_MAX)
        size = spec.get("size", len(data))
        if not _is_count(size) or size < len(data) or size > BUFFER_MAX or size == 0:
            raise self.fail(line, f"buffer {name}: size must be at least its content and at most 1 MiB")
        return data + self._spend(bytes(size - len(data)), line)

    def _spend(self, data: bytes, line: int) -> bytes:
        self._charge(len(data), line)
        return data

    def _charge(self, n: int, line: int) -> None:
        self.content += n
        if self.content > CONTENT_MAX:
            raise self.fail(line, f"buffers and strings of this scenario exceed {CONTENT_MAX >> 20} MiB together")

    def _content(self, name: str, spec: dict[str, Any], line: int, limit: int) -> bytes:
        data = self._build(name, spec, line, limit)
        if len(data) > limit:
            raise self.fail(line, f"{name}: {len(data)} bytes, more than {limit}")
        return self._spend(data, line)

    def _build(self, name: str, spec: dict[str, Any], line: int, limit: int) -> bytes:
        known = {"size", "text", "hex", "repeat", "times", "aout", "pad"}
        unknown = set(spec) - known
        if unknown:
            raise self.fail(getattr(spec, "line", line), f"buffer {name}: unknown key(s) {sorted(unknown)}")
        if "text" in spec:
            # File contents (e.g. a #! line) may name the agent or the scratch
            # directory: both sides use the same fixed paths (harness.model.fs).
            from harness.model.fs import AGENT_PATH, SCRATCH_DIR

            text = str(spec["text"]).replace("$agent", AGENT_PATH).replace("$dir", SCRATCH_DIR)
            return text.encode("utf-8")
        if "hex" in spec:
            try:
                return bytes.fromhex(str(spec["hex"]))
            except ValueError:
                raise self.fail(line, f"buffer {name}: hex is not hex bytes") from None
        if "repeat" in spec:
            times = spec.get("times", 1)
            if not _is_count(times):
                raise self.fail(line, f"buffer {name}: times must be a count")
            unit = str(spec["repeat"]).encode("utf-8")
            if len(unit) * times > limit:  # checked before the bytes are built
                raise self.fail(line, f"{name}: repeat x times is {len(unit) * times} bytes, more than {limit}")
            return unit * times
        if "aout" in spec:
            pad = spec.get("pad", 0)
            if not _is_count(pad) or pad > limit:
                raise self.fail(line, f"buffer {name}: pad must be a byte count 0..{limit}, not {pad!r}")
            return self._aout(name, spec["aout"], line) + bytes(pad)
        return b""

    def _aout(self, name: str, spec: Any, line: int) -> bytes:
        """An a.out header built from symbolic fields (for exec header scenarios)."""
        if not isinstance(spec, dict):
            raise self.fail(line, f"buffer {name}: aout takes a mapping of header fields")
        from harness.model.arch import get_arch

        arch = get_arch(self.arch)
        self.arch_used = True
        magic = spec.get("magic", "native")
        if magic == "native":
            magic = arch.magics[0]
        elif isinstance(magic, str):
            magic = self.int_value(magic, line)
        hdr64 = bool(magic & 0x8000)
        hdrsize = 40 if hdr64 else 32
        fields = []
        for key in ("text", "data", "bss", "syms", "entry", "spsz", "pcsz"):
            v = spec.get(key, 0)
            if key == "entry" and isinstance(v, str) and v.startswith("start"):
                v = arch.utzero + hdrsize + (self.int_value(v[5:].strip() or "0", line))
            fields.append(self.int_value(v, line) if not isinstance(v, int) else v)
        entry = fields[4]
        words = [magic, *fields[:4], entry & 0xFFFFFFFF, *fields[5:]]
        try:
            out = struct.pack(">8I", *[w & 0xFFFFFFFF for w in words])
        except struct.error as e:
            raise self.fail(line, f"buffer {name}: bad aout field: {e}") from None
        if hdr64:
            out += struct.pack(">Q", entry & 0xFFFFFFFFFFFFFFFF)
        cut = spec.get("truncate")
        return out[:cut] if isinstance(cut, int) else out

    # -- argument values --------------------------------------------------
    def int_value(self, v: Any, line: int) -> int:
        if isinstance(v, bool):
            raise self.fail(line, f"expected a number, got {v!r}")
        if isinstance(v, int):
            if not INT_MIN <= v <= INT_MAX:
                raise self.fail(line, f"{v} does not fit in 64 bits")
            return v
        if isinstance(v, str):
            s = v.strip()
            if _INTSTR.match(s):
                if not fits64(s):
                    raise self.fail(line, f"{_short(s)} does not fit in 64 bits")
                return int(s, 16) if s.lstrip("+-").startswith("0x") else int(s, 10)
            if s in CONSTANTS:
                return CONSTANTS[s]
            if "|" in s:
                return self.flags_value(s.split("|"), line)
        raise self.fail(line, f"expected a number or constant, got {v!r}")

    def flags_value(self, v: Any, line: int) -> int:
        parts = v if isinstance(v, list) else [v]
        total = 0
        for p in parts:
            if isinstance(p, str) and "|" in p:
                total |= self.flags_value(p.split("|"), line)
            else:
                total |= self.int_value(p.strip() if isinstance(p, str) else p, line)
        return total

    def arg(self, typ: str, v: Any, line: int) -> list[Arg]:
        typ = typ.rstrip("?")
        if isinstance(v, dict) and set(v) == {"addr"}:
            if typ not in ("str", "buf", "addr"):
                raise self.fail(line, "{addr: ...} only stands for a pointer argument")
            return [self.addr_arg(v["addr"], line)]
        if typ in ("int", "flags"):
            if isinstance(v, str) and v.startswith("$"):
                return [self.var_arg(v[1:], line)]
            val = self.flags_value(v, line) if typ == "flags" else self.int_value(v, line)
            return [Arg("i", str(val) if val >= 0 or val > -(1 << 63) else hex(val))]
        if typ == "str":
            if v is None:
                return [Arg("n", "")]
            if isinstance(v, dict):
                return [Arg("s", self._content("string", v, line, STRING_MAX).decode("utf-8"))]
            if not isinstance(v, str | int):
                raise self.fail(line, f"expected a string, got {v!r}")
            text = str(v)
            if "\n" in text or "\0" in text:
                raise self.fail(line, "strings may not hold newlines or NULs; use a buffer")
            self._charge(len(text), line)  # aliases can repeat one long string
            return [Arg("s", text)]
        if typ == "buf":
            if v is None:
                return [Arg("n", "")]
            name, _, off = str(v).partition("+")
            name = name.strip()
            if name not in self.buffers:
                raise self.fail(line, f"no buffer named {name!r} (declare it under buffers:)")
            return [Arg("b", name + (f"+{self.int_value(off, line)}" if off else ""))]
        if typ == "addr":
            if v is None:
                return [Arg("a", "0")]
            return [self.addr_arg(v, line)]
        if typ == "mode":
            if v not in HANDLER_MODES:
                raise self.fail(line, f"handler must be one of {', '.join(HANDLER_MODES)}")
            return [Arg("h", str(v))]
        if typ == "strlist":
            if v is None:
                return [Arg("n", "")]
            if not isinstance(v, list):
                raise self.fail(line, "argv must be a list of strings (or null for a nil argv)")
            out: list[Arg] = []
            for item in v:
                if type(item) is str and "\n" not in item and "\0" not in item:  # the common case, inline
                    self._charge(len(item), line)
                    out.append(Arg("s", item))
                else:
                    out += self.arg("str", item, line)
            return out
        raise AssertionError(typ)

    def var_arg(self, name: str, line: int) -> Arg:
        if name not in self.vars:
            raise self.fail(line, f"variable ${name} is used before any step sets it (as: {name})")
        return Arg("v", name)

    def addr_arg(self, v: Any, line: int) -> Arg:
        if isinstance(v, bool):
            raise self.fail(line, f"bad address {v!r}")
        if isinstance(v, int):
            return Arg("a", hex(v) if v >= 0 else str(v))
        s = str(v).strip().lstrip("$")
        m = _ADDRSTR.match(s)
        if not m:
            raise self.fail(line, f"bad address {v!r} (want BASE, BASE+OFF or a number)")
        base = m.group("base")
        if _NAME.match(base) and base not in ADDRESS_BASES and base not in self.vars:
            raise self.fail(line, f"unknown address base {base!r} (one of {', '.join(ADDRESS_BASES)} or a variable)")
        off = (m.group("off") or "").replace(" ", "")
        if off:
            sign, num = off[0], off[1:]
            return Arg("a", f"{base}{sign}{hex(int(num, 0))}")
        return Arg("a", base)

    # -- steps -------------------------------------------------------------
    def block(self, name: str, steps: Any, line: int) -> str:
        if not isinstance(steps, list):
            raise self.fail(line, "a block is a list of steps")
        if self.depth >= DEPTH_MAX:
            raise self.fail(line, f"blocks nested more than {DEPTH_MAX} deep")
        stmts: list[Stmt] = []
        self.blocks[name] = stmts
        self.depth += 1
        for item in steps:
            stmts.append(self.stmt(item, getattr(item, "line", line)))
        self.depth -= 1
        return name

    def stmt(self, item: Any, line: int) -> Stmt:
        if not isinstance(item, dict):
            raise self.fail(line, "a step is a mapping like '- rfork: [RFPROC]'")
        ops = [k for k in item if k not in STEP_KEYS and not str(k).startswith("expect[")]
        if len(ops) != 1:
            raise self.fail(line, f"a step names exactly one operation, found {ops or 'none'}")
        op = ops[0]
        if self.step >= STEPS_MAX:
            raise self.fail(line, f"more than {STEPS_MAX} steps (the agent's limit)")
        self.step += 1
        step = self.step
        self.source_lines[step] = line
        self.ops_used.add(op)
        value = item[op]
        if op == "probe":
            args = self._probe(value, line)
        elif op == "touch":
            args = self._touch(value, line)
        elif op in SIGNATURES:
            args = self._call(op, value, item, line, step)
        else:
            raise self.fail(line, f"unknown operation {op!r}")
        result = None
        if "as" in item:
            result = str(item["as"])
            if not _NAME.match(result) or result in ADDRESS_BASES:
                raise self.fail(line, f"as: {result!r} must be a plain word (not an address base)")
            self.vars.add(result)
        if "expect" in item or any(k.startswith("expect[") for k in item):
            self.expects.append(self._expect(item, line, step))
        return Stmt(step=step, op=op, args=args, result=result, line=line)

    def _positional(self, op: str, value: Any, line: int) -> dict[str, Any]:
        sig = SIGNATURES[op]
        names = [n for n, t in sig if t not in ("block", "block?")]
        if isinstance(value, dict) and set(value) and set(value) <= _VALUE_FORMS and not set(value) & set(names):
            # {addr: 1} or {repeat: ab, times: 9}: one value for the first parameter, not named parameters
            return {names[0]: value}
        if isinstance(value, dict):
            unknown = set(value) - {n for n, _ in sig}
            if unknown:
                raise self.fail(getattr(value, "line", line), f"{op}: unknown parameter(s) {sorted(unknown)}; takes {names}")
            return dict(value)
        if value is None and not names:
            return {}
        vals = list(value) if isinstance(value, list) and len(names) > 1 else [value]
        if op == "exec" and isinstance(value, list):
            vals = [value[0], value[1:] if len(value) > 1 else []]
        if len(vals) > len(names):
            raise self.fail(line, f"{op} takes {len(names)} argument(s) {names}, got {len(vals)}")
        return dict(zip(names, vals, strict=False))

    def _call(self, op: str, value: Any, item: dict[str, Any], line: int, step: int) -> list[Arg]:
        given = self._positional(op, value, line)
        parts: list[list[Arg]] = []  # per parameter, in program order
        blocks: list[tuple[int, str, str]] = []
        for pname, ptype in SIGNATURES[op]:
            parts.append([])
            if ptype.startswith("block"):
                blocks.append((len(parts) - 1, pname, ptype))
            elif pname in given:
                parts[-1] = self.arg(ptype, given[pname], line)
            elif not ptype.endswith("?"):
                raise self.fail(line, f"{op}: missing argument {pname!r}")
        # blocks compile after the call's own arguments: their steps come later
        for i, pname, ptype in blocks:
            body = given.get(pname, item.get(pname))
            if body is None:
                if ptype == "block":
                    raise self.fail(line, f"{op} needs '{pname}:' (the steps to run after it succeeds)")
                continue
            bname = f"b{step}"
            self.block(bname, body, getattr(body, "line", line))
            parts[i] = [Arg("c", bname)]
        return [a for part in parts for a in part]

    def _probe(self, value: Any, line: int) -> list[Arg]:
        """``probe: NAME`` or ``probe: [NAME, ARG...]``, the arguments of PROBE_TABLE[NAME]."""
        vals = value if isinstance(value, list) else [value]
        what = vals[0] if vals else None
        if not isinstance(what, str) or what not in PROBE_TABLE:
            raise self.fail(line, f"probe: one of {', '.join(PROBES)}")
        spec, rest = PROBE_TABLE[what], vals[1:]
        if len(rest) > len(spec.params):
            if not spec.params:
                raise self.fail(line, f"probe {what} takes no arguments")
            raise self.fail(line, f"probe {what} takes at most {len(spec.params)} argument(s)")
        args = [Arg("w", what)]
        for i, p in enumerate(spec.params):
            if i < len(rest):
                args += self.arg(p.ptype.value, rest[i], line)
            elif p.name in spec.defaults:
                args += self.arg(p.ptype.value, spec.defaults[p.name], line)
            elif not p.optional:
                raise self.fail(line, f"probe: [{what}, {p.name.upper()}] needs {p.doc}")
        return args

    def _touch(self, value: Any, line: int) -> list[Arg]:
        if not isinstance(value, list) or len(value) not in (2, 3) or value[0] not in TOUCH_WORDS:
            raise self.fail(line, "touch: [r, ADDR] or [w, ADDR, VALUE]")
        if value[0] == "r" and len(value) != 2 or value[0] == "w" and len(value) != 3:
            raise self.fail(line, "touch: [r, ADDR] or [w, ADDR, VALUE]")
        args = [Arg("w", value[0]), self.addr_arg(value[1], line)]
        if value[0] == "w":
            args += self.arg("int", value[2], line)
        return args

    def _expect(self, item: dict[str, Any], line: int, step: int) -> Expect:
        def fields(v: Any) -> dict[str, Any]:
            if not isinstance(v, dict):
                raise self.fail(line, "expect: a mapping of ret/err/out.KEY")
            for k in v:
                if k not in ("ret", "err") and not k.startswith("out."):
                    raise self.fail(getattr(v, "line", line), f"expect: unknown field {k!r} (ret, err, out.KEY)")
            return dict(v)

        exp = Expect(step=step, line=line, fields=fields(item.get("expect", {})))
        for k, v in item.items():
            if k.startswith("expect[") and k.endswith("]"):
                exp.overrides[k[7:-1]] = fields(v)
        return exp


def _is_count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _short(text: str) -> str:
    return text if len(text) <= 40 else f"{text[:20]}...({len(text)} characters)"


def compile_scenario(path: str | Path, arch: str = "amd64") -> Scenario:
    """Load and compile one scenario file for ARCH (addresses of a.out headers differ
    per arch).  Compiled once per file content (harness.scenario.cache): the result
    is shared, do not mutate it."""
    path = str(path)
    data = read_scenario_text(path)
    key = cache.content_key(path, data)
    hit = cache.lookup(key, arch)
    if isinstance(hit, Scenario):  # anything else (an entry from an older Scenario class) is a miss
        return hit
    c = _Compiler(path, arch)
    sc = _compile(c, load_yaml_bytes(data, path), path)
    cache.store(key, arch, sc, c.arch_used)
    return sc


def compile_document(doc: Any, path: str, arch: str = "amd64") -> Scenario:
    return _compile(_Compiler(path, arch), doc, path)


def _compile(c: _Compiler, doc: Any, path: str) -> Scenario:
    if not isinstance(doc, LineDict):
        raise ScenarioError(path, 1, "a scenario is a mapping with at least 'covers' and 'steps'")
    unknown = set(doc) - set(TOP_KEYS)
    if unknown:
        raise c.fail(doc.line, f"unknown top-level key(s) {sorted(unknown)}; known: {', '.join(TOP_KEYS)}")
    name = str(doc.get("name") or Path(path).stem)
    if not re.match(r"^[A-Za-z0-9_.+-]+$", name):
        raise c.fail(doc.line, f"name {name!r}: letters, digits and . _ + - only")
    covers = doc.get("covers")
    if not isinstance(covers, list) or not covers or not all(isinstance(x, str) for x in covers):
        raise c.fail(doc.line, "covers: a non-empty list of the system calls this scenario tests")
    buffers = doc.get("buffers") or {}
    if not isinstance(buffers, dict):
        raise c.fail(doc.line, "buffers: a mapping NAME: SIZE or NAME: {text|hex|repeat|aout: ...}")
    if len(buffers) > BUFFERS_MAX:
        raise c.fail(doc.line, f"more than {BUFFERS_MAX} buffers (the agent's limit)")
    for bname, spec in buffers.items():
        c.buffers[bname] = c.buffer(bname, spec, getattr(buffers, "line", doc.line))
    steps = doc.get("steps")
    if not isinstance(steps, LineList) or not steps:
        raise c.fail(doc.line, "steps: a non-empty list of steps")
    c.block("main", steps, steps.line)
    # main must come first in the program text; child blocks were created while compiling.
    blocks = {"main": c.blocks["main"], **{k: v for k, v in c.blocks.items() if k != "main"}}
    program = Program(scenario=name, covers=list(covers), buffers=c.buffers, blocks=blocks)
    try:  # the compiled text must be exactly what the agent will parse
        parse_program(program.dumps(), source=path)
    except ProgramError as e:
        raise c.fail(doc.line, f"internal: compiled program does not parse: {e.reason}") from e
    arches = doc.get("arches") or []
    profiles = doc.get("profiles") or []
    return Scenario(
        name=name,
        path=path,
        program=program,
        covers=list(covers),
        description=str(doc.get("description") or ""),
        arches=[str(a) for a in arches],
        profiles=[str(p) for p in profiles],
        source_lines=c.source_lines,
        expects=c.expects,
    )


def find_scenarios(paths: list[str] | None = None, syscall: str | None = None) -> list[Path]:
    """Scenario files named by PATHS (files or directories; default testcases/)."""
    from harness.errors import InputError

    roots = [Path(p) for p in (paths or [str(default_corpus())])]
    files: list[Path] = []
    for root in roots:
        if root.is_dir():
            found = sorted(root.rglob("*.yaml"))
            for f in found:  # a FIFO or a symlink loop named *.yaml: refused before anything reads it
                check_scenario_file(f)
            files += found
        elif root.exists() or root.is_symlink():
            check_scenario_file(root)
            files.append(root)
        else:
            raise InputError(f"{root}: no such scenario file or directory")
    if syscall:
        files = [f for f in files if syscall in _covers_quick(f)]
    return files


def _covers_quick(path: Path) -> list[str]:
    doc = load_yaml(path)
    covers = doc.get("covers") if isinstance(doc, dict) else None
    return [str(c) for c in covers] if isinstance(covers, list) else []


def default_corpus() -> Path:
    """testcases/ of the source tree (the corpus ships with the repository)."""
    return Path(__file__).resolve().parents[2] / "testcases"
