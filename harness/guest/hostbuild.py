"""Build the guest agent with the host C compiler and run it against a trace.

The guest agent (``agent/agent.c``) is Plan 9 C.  Inside 9front it is built
with ``mk`` (``agent/mkfile``).  On the host the *same file* is compiled with
gcc against ``agent/compat/`` (u.h, libc.h, host.c): a thin Plan 9 libc whose
system calls are answered from a trace - normally the golden model's trace of
the same program.  Running it proves, without a 9front guest, that the agent
parses what ``harness.program.parse`` accepts, dispatches every statement to
the right call, keeps per-process state across rfork and exec, and frames
records exactly as ``harness.trace.frame`` decodes them: its decoded output
must equal the trace it was answered from.

The answer file (read by compat/host.c) has one line per record::

    PROC SEQ KIND OP ARG0 RET ERR DATA CHILD

``ARG0`` is a probe's name, ``ERR``/``DATA``/``ARG0`` are hex (``-`` = none),
``CHILD`` names the process an rfork creates.  ``DATA`` is what the call hands
back to the agent in memory or through a file: the text await/errstr/fd2path
put in the buffer, the bytes read, the /proc/N/segment text a segments probe
reads (rendered back from ``out.segments``), and so on (``answer_data``).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, InfraError
from harness.model.sysproc import owaitmsg
from harness.ops import OPS, PROBE_TABLE, Answer
from harness.program import Program
from harness.trace.frame import MAX_PAYLOAD, decode_stream, record_payload
from harness.trace.schema import Record, abbreviated, split_end

AGENT_DIR = Path(__file__).resolve().parent / "agent"
SOURCES = ("agent.c", "compat/host.c")
CFLAGS = ("-std=c11", "-O1", "-g", "-Wall", "-Wextra", "-Werror")


class HostBuildError(InfraError):
    """The host compiler is missing or the agent does not compile."""


class HostRunError(HarnessError):
    """The host agent failed in a way that is not a trace difference."""


def compiler() -> str | None:
    return shutil.which(os.environ.get("CC", "gcc"))


def build_host_agent(outdir: str | Path, extra_flags: tuple[str, ...] = ()) -> Path:
    """Compile agent.c + compat/host.c with -Wall -Wextra -Werror; returns the binary."""
    cc = compiler()
    if cc is None:
        raise HostBuildError("no host C compiler (gcc) found: install gcc to build the host agent")
    out = Path(outdir) / "nhagent-host"
    cmd = [cc, *CFLAGS, *extra_flags, "-I", str(AGENT_DIR / "compat"), "-o", str(out),
           *(str(AGENT_DIR / s) for s in SOURCES)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        first = (proc.stderr.strip().splitlines() or ["(no output)"])[0]
        raise HostBuildError(f"host agent does not compile: {first}")
    if proc.stderr.strip():  # -Werror makes this unreachable unless the compiler only notes
        raise HostBuildError(f"host agent compiles with diagnostics: {proc.stderr.strip().splitlines()[0]}")
    return out


# -- answers ---------------------------------------------------------------


def render_segment_file(rows: list[list[Any]]) -> str:
    """``out.segments`` rows back to /proc/N/segment text (devproc.c's format)."""
    lines = []
    for name, flags, base, top, ref in rows:
        f = (str(flags) + "  ")[:2]
        lines.append(f"{name:<6} {f} {int(base):8x} {int(top):8x} {int(ref):4d}\n")
    return "".join(lines)


def render_fd_file(rows: list[list[Any]]) -> str:
    """``out.fds`` rows back to /proc/N/fd text: dot, then procfdprint lines."""
    lines = ["/\n"]
    for fd, mode, path in rows:
        col = {"r": "r ", "w": "w ", "rw": "rw"}.get(str(mode), "")  # OEXEC: %.2s of ""
        lines.append(f"{int(fd):3d} {col} M {0:4d} ({0:016x} 0 00) {8192:5d} {0:8d} {path}\n")
    return "".join(lines)


def answer_data(rec: Record) -> bytes | None:
    """What the agent gets back from the kernel for this record (see module doc):
    the value of the one ``out`` key the catalogue marks with an ``Answer``."""
    out = rec.out
    if rec.kind == "start":
        return str(out.get("pid", 0)).encode()
    if rec.kind == "note":
        return _enc(out.get("note"))
    if rec.kind == "probe":
        probe = PROBE_TABLE.get(rec.args[0][2:] if rec.args else "")
        outs = probe.outs if probe else ()
    else:
        spec = OPS.get(rec.op)
        outs = spec.outs if spec else ()
    for o in outs:
        if o.answer is not None and o.key in out:
            return _ANSWERS[o.answer](out[o.key], rec)
    return None


def _owaitmsg(msg: Any, rec: Record) -> bytes | None:
    if not isinstance(rec.ret, int) or rec.ret <= 0:
        return None
    return owaitmsg(rec.ret, str(msg).encode("utf-8", "surrogateescape"))


def _argv(argv: Any, rec: Record) -> bytes | None:
    # the argv the kernel built (a #! line rewrites it): NUL-separated
    if rec.ret != 0 or not isinstance(argv, list):
        return None
    return b"".join(str(x).encode("utf-8", "surrogateescape") + b"\0" for x in argv)


_ANSWERS: dict[Answer, Callable[[Any, Record], bytes | None]] = {
    Answer.TEXT: lambda v, _: _enc(v),
    Answer.HEX: lambda v, _: bytes.fromhex(str(v)),
    Answer.DECIMAL: lambda v, _: str(int(v)).encode(),
    Answer.FDPAIR: lambda v, _: f"{v[0]} {v[1]}".encode(),
    Answer.ARGV: _argv,
    Answer.OWAITMSG: _owaitmsg,
    Answer.SEGMENTS: lambda v, _: render_segment_file(v).encode(),
    Answer.BRK: lambda v, _: render_segment_file([["Bss", "", 0, v, 1]]).encode(),
    Answer.FDTABLE: lambda v, _: _enc(render_fd_file(v)),
}


def _enc(v: Any) -> bytes | None:
    if v is None:
        return None
    # kernel bytes that are not UTF-8 travel as U+0000..U+00FF (the agent's \u00XX)
    s = str(v)
    try:
        return s.encode("utf-8")
    except UnicodeEncodeError:
        return s.encode("utf-8", "surrogatepass")


def _hex(b: bytes | None) -> str:
    return "-" if b is None else (b.hex() or "")


def answers_text(records: list[Record]) -> str:
    procs = {r.proc for r in records}
    lines = []
    for r in records:
        arg0 = r.args[0][2:].encode() if r.kind == "probe" and r.args else None
        ret = "-" if r.ret is None or isinstance(r.ret, bool) else str(int(r.ret))
        err = None if r.err is None else r.err.encode()
        child = f"s{r.step}" if r.op == "rfork" and f"s{r.step}" in procs else "-"
        fields = [r.proc, str(r.seq), r.kind, r.op, _hex(arg0), ret, _hex(err), _hex(answer_data(r)), child]
        # an empty field ("" = empty string) stays a field: host.c splits at each blank
        lines.append(" ".join(fields))
    return "\n".join(lines) + "\n"


# -- running ---------------------------------------------------------------


@dataclass
class HostRun:
    records: list[Record]
    transport_errors: list[str]
    returncode: int
    stderr: str
    console: bytes = b""
    workdir: Path = field(default_factory=Path)
    elapsed_ns: int | None = None  # the agent's own time (its END record, taken out of records)


def run_host_agent(agent: str | Path, program: Program | str, answers: list[Record],
                   workdir: str | Path | None = None, timeout: float = 60) -> HostRun:
    """Run the host agent on PROGRAM, its system calls answered from ANSWERS."""
    wd = (Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="nhhost-"))).resolve()
    wd.mkdir(parents=True, exist_ok=True)
    text = program.dumps() if isinstance(program, Program) else program
    prog = wd / "program.nh"
    prog.write_text(text, encoding="utf-8")
    ans = wd / "answers.txt"
    ans.write_text(answers_text(answers), encoding="utf-8")
    out = wd / "trace.frames"
    agent = Path(agent).resolve()
    env = {k: v for k, v in os.environ.items() if k not in ("nhcont", "NHHOST_CTX")}
    env.update(NHHOST_ANSWERS=str(ans), NHHOST_AGENT=str(agent))
    key = secrets.token_hex(8)  # a frame key, as every real run has (harness.trace.frame)
    try:
        proc = subprocess.run([str(agent), "-o", str(out), "-k", key, "-d", str(wd), str(prog)], cwd=wd, env=env,
                              capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as e:
        raise HostRunError(f"host agent did not finish within {timeout:.0f}s") from e
    data = out.read_bytes() if out.exists() else b""
    dec = decode_stream(data, key)
    records, elapsed = split_end(dec.records)
    return HostRun(records, [str(e) for e in dec.errors], proc.returncode,
                   proc.stderr.decode("utf-8", "replace"), dec.text, wd, elapsed)


def comparable(rec: Record, nondet: list[str]) -> dict[str, Any]:
    """The record as JSON with the fields NONDET names (ret, err, out.KEY) dropped."""
    obj = rec.to_json()
    obj.pop("nondet", None)
    for f in nondet:  # "~pc"/"~times" mark patterns inside strings: equal here by construction
        if f in ("ret", "err"):
            obj.pop(f, None)
        elif f.startswith("out."):
            obj["out"].pop(f[4:], None)
    return obj


TOO_LARGE = "record too large for a frame"

def comparable_framed(rec: Record, nondet: list[str]) -> dict[str, Any]:
    """As ``comparable``, for a record that cannot travel in one frame
    (payload over MAX_PAYLOAD): the agent then keeps proc/seq/step/kind/op,
    ret and err, and says so in ``out`` instead of the args and out."""
    obj = abbreviated(comparable(rec, nondet))
    if len(record_payload(Record.from_json(abbreviated(rec.to_json())))) > MAX_PAYLOAD:
        obj["args"] = []
        obj["out"] = {"agent-error": TOO_LARGE}
    return obj


def differences(expected: list[Record], got: list[Record]) -> list[str]:
    """Per-process, record-by-record differences; empty when the agent reproduced the trace."""
    diffs: list[str] = []
    procs = sorted({r.proc for r in expected} | {r.proc for r in got})
    for p in procs:
        exp = [r for r in expected if r.proc == p]
        act = [r for r in got if r.proc == p]
        for i in range(max(len(exp), len(act))):
            if i >= len(exp):
                diffs.append(f"{p}[{i}]: agent wrote an extra record {act[i].to_json()}")
                continue
            if i >= len(act):
                diffs.append(f"{p}[{i}]: agent never wrote {exp[i].to_json()}")
                continue
            a, b = comparable_framed(exp[i], exp[i].nondet), comparable(act[i], exp[i].nondet)
            if a != b:
                diffs.append(f"{p}[{i}]: expected {a}, agent wrote {b}")
    return diffs


def model_records(program: Program, arch: str = "amd64", profile: str | None = None) -> list[Record]:
    """The golden model's trace of PROGRAM (harness.model.machine)."""
    from harness.model.machine import Machine  # the model is a separate package; imported late
    from harness.model.profiles import DEFAULT_PROFILE

    return list(Machine(arch, profile or DEFAULT_PROFILE).run(program))


def check_against_model(agent: str | Path, program: Program, arch: str = "amd64",
                        profile: str | None = None, workdir: str | Path | None = None) -> list[str]:
    """Run the host agent answered by the model; the differences (empty = agreement)."""
    recs = model_records(program, arch, profile)
    run = run_host_agent(agent, program, recs, workdir)
    problems = [f"transport: {e}" for e in run.transport_errors]
    if "hostcompat:" in run.stderr:
        problems.append(run.stderr.strip().splitlines()[-1])
    return problems + differences(recs, run.records)
