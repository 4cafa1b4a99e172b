"""Programs from the operations catalogue, as scenario documents.

A generated program is a scenario document (the YAML format of testcases/ as
a Python mapping), so whatever the fuzzer finds is already a scenario.  Each
step is one operation of ``harness.ops.OPERATIONS`` with arguments of its
parameter types: flags from harness.libc's constants, fds, pids and segment
addresses taken from earlier results (``as:`` variables), declared buffers,
child blocks for rfork, ``then`` blocks for exec.  Exec targets are made by
the program itself: a.out headers of every magic with random sizes and
entries (``aout:`` buffers) and ``#!`` files of random shapes, written with
``writefile``.

What a generated program must not do, so that the guest agent survives it
and a real kernel does not hang (each a choice, not a limit of the model):
no read of fd 0 (the console), no write, close or dup onto fds the program
did not make (the agent's own output), no brk below the break or segfree /
segdetach / touch-w of the agent's own segments, no blocking semacquire, no
lone rendezvous, no long sleep.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness import libc
from harness.model.arch import MAGIC_NAMES
from harness.ops import HANDLER_MODES, OPS, PROBE_NAMES, OpKind, PType

Doc = dict[str, Any]
Step = dict[str, Any]

# Operations the generic step maker draws from (weights); exec, rfork,
# writefile and exits have recipes of their own below.
WEIGHTS: dict[str, int] = {
    "errstr": 3, "_errstr": 1, "werrstr": 2, "await": 2, "_wait": 1, "semacquire": 2, "tsemacquire": 2,
    "semrelease": 2, "sleep": 1, "alarm": 1, "nsec": 1, "notify": 2, "noted": 1, "sysr1": 1, "brk": 2,
    "segbrk": 2, "segattach": 3, "segdetach": 2, "segfree": 2, "open": 4, "create": 3, "close": 2,
    "dup": 2, "pipe": 2, "read": 2, "write": 2, "seek": 2, "remove": 2, "fd2path": 2, "chdir": 1,
    "postnote": 2, "probe": 4, "putenv": 1, "touch": 1,
}
RECIPES = {"exec_script": 4, "exec_aout": 4, "rfork": 4, "exits": 1, "sem": 3, "note": 4, "group_note": 2,
           "rendezvous": 2}
# The catalogue's operations only recipes make (tests/fuzz: WEIGHTS and these are every operation).
RECIPE_OPS = ("exec", "rfork", "writefile", "exits", "rendezvous")

BUF_SIZES = (0, 1, 4, 5, 64, 127, 128, 129, 256)
INTS = (0, 1, 2, 3, -1, 4, 7, 8, 16, 64, 127, 128, 255, 4095, 4096, 65536, 0x7FFFFFFF, 0xFFFFFFFF, -4096)
NAMES = ("a", "b", "x y", "ä", "dir", "..", ".", "", "n" * 40, "tmp")
STRINGS = ("", "x", "hello", "sys: fake", "interrupt", "a" * 127, "b" * 128, "c" * 200, "é" * 70, "q'uote")
SEG_CLASSES = ("shared", "memory", "bogus", "")
PATH_STARTS = ("$dir/", "/", "/tmp/", "#c/", "/dev/", "/nhnone/", "./", "../", "$dir/sub/")


@dataclass
class State:
    """What earlier steps made: the values later steps refer to."""

    rng: random.Random
    arch: str
    buffers: dict[str, Any] = field(default_factory=dict)
    fds: list[str] = field(default_factory=list)  # variables holding fds the program made
    pids: list[str] = field(default_factory=list)
    segs: list[str] = field(default_factory=list)  # variables holding segattach addresses
    files: list[str] = field(default_factory=list)  # paths the program wrote
    nvar: int = 0
    depth: int = 0

    def var(self, prefix: str) -> str:
        self.nvar += 1
        return f"{prefix}{self.nvar}"

    def buffer(self, spec: Any, prefix: str = "b") -> str:
        name = f"{prefix}{len(self.buffers)}"
        self.buffers[name] = spec
        return name

    def pick(self, seq: Any) -> Any:
        return self.rng.choice(list(seq))


def _fd(st: State) -> Any:
    r = st.rng.random()
    if st.fds and r < 0.7:
        return f"${st.pick(st.fds)}"
    return st.pick((-1, 99, 100, 1000, 0x7FFFFFFF))


def _path(st: State) -> str:
    if st.files and st.rng.random() < 0.4:
        return st.pick(st.files)
    depth = st.rng.choice((1, 1, 2, 3))
    return st.pick(PATH_STARTS) + "/".join(st.pick(NAMES) for _ in range(depth))


def _addr(st: State) -> Any:
    r = st.rng.random()
    if st.segs and r < 0.5:
        return f"${st.pick(st.segs)}" + st.pick(("", "+8", "+4096", "-8", "+1"))
    return st.pick(("text", "data", "bss", "end", "stack", "stacktop", "stacktop-8", "stack-4096", "end+4096",
                    "end+0x100000", "0", "1", "0x10000000", "0x7ffffffff000", "0xfffffffffffffff0"))


def _sem_addr(st: State) -> Any:
    """A semaphore: a buffer word (writable), a segment, or a bad address."""
    if st.segs and st.rng.random() < 0.8:
        return f"${st.pick(st.segs)}" + st.pick(("", "", "+4", "+2", "+4094", "+4096"))
    return st.pick(("text", "0", "stacktop", "stack-8", "data+1"))


def _buf(st: State) -> str:
    return st.buffer(st.pick(BUF_SIZES[2:]))


def _int_for(op: str, name: str, st: State) -> Any:
    special: dict[tuple[str, str], Callable[[], Any]] = {
        ("sleep", "ms"): lambda: st.pick((0, 1, 5, -1)),
        ("alarm", "ms"): lambda: st.pick((0, 100000)),
        ("semacquire", "block"): lambda: 0,
        ("tsemacquire", "ms"): lambda: st.pick((0, 1, 2)),
        ("semrelease", "delta"): lambda: st.pick((0, 1, 2, -1, 0x7FFFFFFF)),
        ("postnote", "who"): lambda: st.pick(("PNPROC", "PNGROUP", 0, 3)),
        ("postnote", "pid"): lambda: st.pick(["$pid", "$ppid", 0, -1] + [f"${p}" for p in st.pids]),
        ("noted", "how"): lambda: st.pick(("NCONT", "NDFLT", 7)),
        ("seek", "whence"): lambda: st.pick(("SEEK_SET", "SEEK_CUR", "SEEK_END", 3, -1)),
        ("dup", "new"): lambda: st.pick((-1, 20, 30)),
        ("create", "perm"): lambda: st.pick((0o644, 0o755, 0o777, 0, "DMDIR|0777")),
        ("rendezvous", "tag"): lambda: st.pick((1, 2, 0x1000)),
    }
    if name in ("fd", "old"):
        return _fd(st)
    f = special.get((op, name))
    return f() if f is not None else st.pick(INTS)


def _flags_for(op: str, name: str, st: State) -> Any:
    table = {"open": libc.OPEN, "create": libc.OPEN, "segattach": libc.SEGATTACH}.get(op, libc.RFORK)
    if op in ("open", "create"):
        base = st.pick(("OREAD", "OWRITE", "ORDWR", "OEXEC"))
        extra = [n for n in ("OTRUNC", "OCEXEC", "ORCLOSE", "OEXCL") if st.rng.random() < 0.15]
        return "|".join([base, *extra])
    names = [n for n in table if st.rng.random() < 0.3]
    return "|".join(names) if names else 0


def _value(op: str, p: Any, st: State) -> Any:
    t = p.ptype
    if t is PType.INT:
        return _int_for(op, p.name, st)
    if t is PType.FLAGS:
        return _flags_for(op, p.name, st)
    if t is PType.STR:
        if p.name == "path":
            return _path(st)
        if p.name == "class":
            return st.pick(SEG_CLASSES)
        if p.name == "name":
            return st.pick(("nhvar", "a", "path"))
        return st.pick(STRINGS)
    if t is PType.BUF:
        return _buf(st)
    if t is PType.ADDR:
        return _sem_addr(st) if op in ("semacquire", "tsemacquire", "semrelease") else _addr(st)
    if t is PType.MODE:
        return st.pick(HANDLER_MODES)
    raise ValueError(f"no generator for {op}.{p.name} ({t})")


def _safe(op: str, args: list[Any], st: State) -> list[Any] | None:
    """Arguments adjusted so the agent survives (see the module docstring); None: skip."""
    if op in ("segdetach", "segfree", "touch") and not st.segs:
        return None
    if op in ("segdetach", "segfree"):
        args[0] = f"${st.pick(st.segs)}" + st.pick(("", "+4096"))
    if op == "brk":
        args[0] = st.pick(("end", "end+4096", "end+0x10000", "0", "stacktop"))
    if op == "read" and args[0] in (0, "0"):
        return None
    if op == "segattach":
        args[2] = st.pick((0, 0, "0x10000000", "0x20000000", "text", "stack", "1"))
        args[3] = st.pick((4096, 1, 0, 8192, 0x100000, -1))
    return args


def generic_step(op: str, st: State) -> Step | None:
    o = OPS[op]
    if op == "probe":
        what = st.pick([w for w in PROBE_NAMES if w not in ("buf", "env")] + ["errstr", "errstr", "fds"])
        return {"probe": what}
    if op == "touch":
        if st.segs and st.rng.random() < 0.7:
            return {"touch": ["w", f"${st.pick(st.segs)}", st.pick((0, 1, 2, -1, -2, 0x7FFFFFFF))]}
        return {"touch": ["r", f"${st.pick(st.segs)}"] if st.segs else ["r", st.pick(("text", "0", "stacktop"))]}
    if op == "await":
        n = st.pick((0, 1, 10, 64, 128, 256))
        return {"await": [st.buffer(max(1, n)), n]}
    if op in ("errstr", "fd2path"):
        n = st.pick((0, 1, 4, 5, 64, 128, 300))
        b = st.buffer(max(1, min(n, 256)) if st.rng.random() < 0.8 else 256)
        return {op: [b, n] if op == "errstr" else [_fd(st), b, n]}
    args = [_value(op, p, st) for p in o.params if not p.optional or st.rng.random() < 0.5]
    safe = _safe(op, args, st)
    if safe is None:
        return None
    step: Step = {op: safe if len(safe) != 1 else safe[0]} if safe else {op: None}
    if op in ("open", "create", "dup"):
        v = st.var("fd")
        step["as"] = v
        st.fds.append(v)
    elif op == "pipe":
        pass  # the pair is in out.fds, not a variable
    elif op == "segattach":
        v = st.var("seg")
        step["as"] = v
        st.segs.append(v)
    if op in ("create", "open") and isinstance(safe[0], str):
        st.files.append(safe[0])
    return step


# -- recipes: exec targets the program makes itself ------------------------------

def aout_spec(st: State) -> dict[str, Any]:
    """An a.out header: half of them plausible (a magic this arch accepts, small sizes,
    entry at the text start), half anything (every magic, sizes and entries at the edges)."""
    from harness.model.arch import get_arch

    if st.rng.random() < 0.5:
        return {"magic": st.pick(get_arch(st.arch).magics), "text": st.pick((0x1000, 0x3000, 0x5000, 0x11000)),
                "data": st.pick((0, 0x1000, 0x2345)), "bss": st.pick((0, 0x1000, 0x10000)),
                "entry": st.pick(("start", "start", "start+8"))}
    magic: Any = "native" if st.rng.random() < 0.3 else st.pick(sorted(MAGIC_NAMES))
    spec: dict[str, Any] = {"magic": magic}
    for k in ("text", "data", "bss"):
        spec[k] = st.pick((0, 1, 4096, 0x3000, 0x10000, 0x200000, 0x7FFFFFFF, 0xFFFFF000, 0xFFFFFFFF))
    spec["entry"] = st.pick(("start", "start+1", "start-1", "start+4096", 0, 0xFFFFFFFF))
    if st.rng.random() < 0.2:
        spec["truncate"] = st.pick((0, 4, 31, 32, 36, 39))
    return spec


def shebang_text(st: State) -> str:
    """A #! line of a random shape: interpreter (mostly the agent), blanks, quotes, length."""
    interp = st.pick(("$agent", "$agent", "$agent", "/nhnone", "./s", ""))
    toks = []
    for _ in range(st.rng.choice((0, 1, 2, 3, 5, 8, 33))):
        tok = st.pick(("a", "b c", "'q'", "'x y'", "''", "'it''s'", "\t", "é", "z" * 30, "'open"))
        toks.append(tok)
    lead = st.pick(("", " ", "\t"))
    sep = st.pick((" ", "  ", "\t", " \t "))
    end = st.pick(("\n", "\n", "\n", "", " \n", "\nrest\n"))
    return f"#!{lead}{interp}{sep if toks else ''}{sep.join(toks)}{end}"


def exec_step(st: State, script: bool) -> list[Step]:
    """writefile a target, then exec it (the new image, when it is the agent, exits)."""
    n = len(st.buffers)
    path = f"$dir/t{n}"
    if script:
        spec: Any = {"text": shebang_text(st)}
    else:
        hdr = aout_spec(st)
        text = hdr["text"] if isinstance(hdr["text"], int) and hdr["text"] <= 0x80000 else 0
        # the whole text in the file (zero code runs to the text top), or short of it
        spec = {"aout": hdr, "pad": st.pick((0, 16, 4096, text + 64, text + 64))}
    buf = st.buffer(spec, "x")
    argv = [st.pick(("t", "arg0", "é"))] + [st.pick(STRINGS[:5]) for _ in range(st.rng.choice((0, 1, 2)))]
    st.files.append(path)
    ex: Step = {"exec": [path, *argv], "then": [{"probe": "args"}, {"exits": "exec-ran"}]}
    if st.depth or st.rng.random() < 0.5:
        return [{"writefile": [path, buf, 0o755]}, ex]
    # in a child, so that the parent's await shows how the new image died (a foreign
    # image's fault address is its text top: the arch's segment alignment)
    v = st.var("kid")
    st.pids.append(v)
    return [{"writefile": [path, buf, 0o755]}, {"rfork": "RFPROC", "as": v, "child": [ex]},
            {"await": [st.buffer(256), 256]}]


def rfork_step(st: State) -> Step:
    flags = ["RFPROC"] if st.rng.random() < 0.8 else []
    flags += [n for n in libc.RFORK if n != "RFPROC" and st.rng.random() < 0.12]
    st.depth += 1
    child = [s for _ in range(st.rng.choice((0, 1, 2, 3))) for s in one_step(st, in_child=True)]
    st.depth -= 1
    child.append({"exits": st.pick((None, "kid", "x" * 130))})
    v = st.var("kid")
    st.pids.append(v)
    return {"rfork": "|".join(flags) if flags else 0, "as": v, "child": child}


def sem_steps(st: State) -> list[Step]:
    """A shared segment, a value in its first word, a semaphore call on it."""
    out: list[Step] = []
    if not st.segs:
        v = st.var("seg")
        st.segs.append(v)
        out.append({"segattach": [0, "shared", st.pick(("0x10000000", 0)), 4096], "as": v})
    seg = f"${st.pick(st.segs)}"
    out.append({"touch": ["w", seg, st.pick((0, 1, 3, -1, -2))]})
    op = st.pick(("semacquire", "tsemacquire", "semrelease"))
    arg = {"semacquire": 0, "tsemacquire": st.pick((0, 1)), "semrelease": st.pick((1, -1, 0))}[op]
    out.append({op: [seg + st.pick(("", "", "+2", "+4096")), arg]})
    return out


def note_text(st: State) -> str:
    """A note: short or long (ERRMAX is 128), a sys: one (the kernel appends ' pc=')."""
    body = st.pick(("fake", "x" * st.pick((90, 108, 112, 113, 120, 140)), "é" * 60, ""))
    return st.pick(("sys: ", "sys: ", "", "interrupt ")) + body


def group_note_steps(st: State) -> list[Step]:
    """A note to the note group while a child still holds it (asleep): shared notes."""
    out: list[Step] = []
    for _ in range(st.pick((1, 2, 2))):  # the sender is not sent its own group note: two hold it
        v = st.var("kid")
        st.pids.append(v)
        child = [{"notify": st.pick(("cont", "cont", "dflt"))}, {"sleep": st.pick((10, 20))}, {"exits": None}]
        out.append({"rfork": "RFPROC", "as": v, "child": child})
    return [*out, {"postnote": ["PNGROUP", "$pid", note_text(st)]}, {"await": [st.buffer(256), 256]}]


def rendezvous_steps(st: State) -> list[Step]:
    """A child and its parent meet on a tag (never a lone rendezvous: it would wait forever)."""
    tag = st.pick((1, 2, 0x1000, -1))
    v = st.var("kid")
    st.pids.append(v)
    child = [{"rendezvous": [tag, st.pick((0, 7, -1))]}, {"exits": None}]
    flags = st.pick(("RFPROC", "RFPROC|RFMEM", "RFPROC|RFNOWAIT"))
    return [{"rfork": flags, "as": v, "child": child}, {"rendezvous": [tag, st.pick((42, 0))]},
            {"await": [st.buffer(256), 256]}]


def note_steps(st: State) -> list[Step]:
    """A handler, then a note: to itself, its group, or a fault (touch of an unmapped word)."""
    out: list[Step] = [{"notify": st.pick(("cont", "cont", "dflt", "exit", "badarg", "none"))}]
    msg = note_text(st)
    kind = st.rng.random()
    if kind < 0.4:
        out.append({"postnote": ["PNPROC", "$pid", msg]})
    elif kind < 0.7:
        out.append({"postnote": ["PNGROUP", "$pid", msg]})
    else:
        out.append({"touch": ["r", st.pick(("0", "0x10", "stacktop"))]})
    return out


def one_step(st: State, in_child: bool = False) -> list[Step]:
    """One generated step (or a writefile+exec pair)."""
    choices = dict(WEIGHTS)
    choices.update(RECIPES)
    if st.depth >= 2:
        choices.pop("rfork")
    if not in_child:
        choices.pop("exits")
    for _ in range(20):
        op = st.rng.choices(list(choices), weights=list(choices.values()))[0]
        if op == "exec_script":
            return exec_step(st, True)
        if op == "exec_aout":
            return exec_step(st, False)
        if op == "rfork":
            return [rfork_step(st)]
        if op == "exits":
            return [{"exits": st.pick((None, "bye", "é" * 80))}]
        if op == "sem":
            return sem_steps(st)
        if op == "note":
            return note_steps(st)
        if op == "group_note":
            return group_note_steps(st)
        if op == "rendezvous":
            return rendezvous_steps(st)
        step = generic_step(op, st)
        if step is not None:
            return [step]
    return [{"probe": "errstr"}]


def length_for(index: int, rng: random.Random) -> int:
    """Short programs first: 1-3 steps for the first hundred, up to 12 later."""
    top = 3 if index < 100 else 6 if index < 400 else 12
    return rng.randint(1, top)


def generate(seed: int, index: int, arch: str) -> Doc:
    """Program INDEX of the stream of SEED: the same arguments give the same program."""
    rng = random.Random(f"{seed}:{index}:{arch}")
    st = State(rng, arch)
    steps: list[Step] = []
    for _ in range(length_for(index, rng)):
        steps += one_step(st)
    return document(steps, st.buffers, f"fuzz-{seed}-{index}")


def document(steps: list[Step], buffers: dict[str, Any], name: str) -> Doc:
    """A scenario document for STEPS: covers what it calls, only the buffers it uses."""
    used = sorted(calls_in(steps)) or ["nsec"]
    doc: Doc = {"name": name, "covers": used,
                "description": "generated by harness fuzz"}
    named = names_in(steps)
    bufs = {k: v for k, v in buffers.items() if k in named}
    if bufs:
        doc["buffers"] = bufs
    doc["steps"] = steps
    return doc


CONSOLE_FDS = (0, 1, 2, "0", "1", "2")


def unsafe(doc: Doc) -> str | None:
    """Why DOC breaks the rules of the module docstring (a minimised candidate may:
    an fd simplified to 0), or None."""
    for s in _walk(doc["steps"]):
        op = op_of(s)
        args = s[op] if isinstance(s[op], list) else [s[op]]
        if op in ("read", "write", "close") and args and args[0] in CONSOLE_FDS:
            return f"{op} of fd {args[0]}"
        if op == "dup" and len(args) > 1 and args[1] in CONSOLE_FDS:
            return "dup onto a console fd"
        if op == "brk" and args and isinstance(args[0], int) and args[0] != 0:
            return "brk to a number"
        if op == "sleep" and args and isinstance(args[0], int) and args[0] > 1000:
            return "a long sleep"
    return None


def _walk(steps: list[Step]) -> list[Step]:
    out = []
    for s in steps:
        out.append(s)
        for key in ("child", "then"):
            if isinstance(s.get(key), list):
                out += _walk(s[key])
    return out


def op_of(step: Step) -> str:
    return next(k for k in step if k in OPS)


def calls_in(steps: list[Step]) -> set[str]:
    return {op_of(s) for s in _walk(steps) if OPS[op_of(s)].kind is OpKind.CALL}


def names_in(steps: list[Step]) -> set[str]:
    """Every word in the steps' arguments (buffer names among them)."""
    out: set[str] = set()

    def scan(v: Any) -> None:
        if isinstance(v, str):
            out.add(v.split("+", 1)[0])
        elif isinstance(v, list):
            for x in v:
                scan(x)

    for s in _walk(steps):
        scan(s[op_of(s)])
    return out


def to_yaml(doc: Doc, comment: str = "") -> str:
    """The document as a scenario file (what the fuzzer writes and compiles)."""
    import yaml

    head = "".join(f"# {line}\n" if line else "#\n" for line in comment.splitlines())
    return head + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=1000, default_flow_style=None)


def compile_doc(doc: Doc, arch: str) -> Any:
    """The compiled Scenario of DOC through its YAML text (the file a user would get);
    HarnessError (bad input) when the compiler refuses it."""
    from harness.scenario.compiler import compile_document
    from harness.scenario.loader import load_yaml_text

    name = f"{doc.get('name', 'fuzz')}.yaml"
    return compile_document(load_yaml_text(to_yaml(doc), name), name, arch)
