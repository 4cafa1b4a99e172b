"""Agent -t (the kernel's own syscall trace) in the host build.

The host build has no kernel whose /proc/N/ctl could trace the program, so -t
must fail cleanly there: a clear message, a failing exit status, and no record
written (a traced run never silently becomes an untraced one).  The tracing
itself is checked against real kernels: tests/trace/test_ktrace.py parses and
cross-checks output captured from 9pc64.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from harness.guest.hostbuild import AGENT_DIR, answers_text
from harness.trace.schema import Record

PROGRAM = """nhprog 1
scenario t
covers sleep
block main
1 sleep i:0
end
"""


def run_agent(agent: Path, tmp_path: Path, *flags: str) -> tuple[subprocess.CompletedProcess[bytes], Path]:
    prog = tmp_path / "program.nh"
    prog.write_text(PROGRAM)
    ans = tmp_path / "answers.txt"
    ans.write_text(answers_text([
        Record("main", 0, 0, "start", "start", [], None, None, {"pid": 100}),
        Record("main", 1, 1, "call", "sleep", ["i:0"], 0, None, {}),
    ]))
    out = tmp_path / "trace.frames"
    env = {k: v for k, v in os.environ.items() if k not in ("nhcont", "NHHOST_CTX")}
    env.update(NHHOST_ANSWERS=str(ans), NHHOST_AGENT=str(agent))
    proc = subprocess.run([str(agent), *flags, "-o", str(out), "-d", str(tmp_path), str(prog)], cwd=tmp_path,
                          env=env, capture_output=True, timeout=60, check=False)
    return proc, out


def test_host_build_refuses_t(host_agent: Path, tmp_path: Path) -> None:
    proc, out = run_agent(host_agent, tmp_path, "-t")
    assert proc.returncode != 0
    assert b"-t: no kernel syscall trace in the host build" in proc.stderr
    assert not out.exists() or out.read_bytes() == b""


def test_same_program_runs_without_t(host_agent: Path, tmp_path: Path) -> None:
    proc, out = run_agent(host_agent, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert b"NH1 main 1 " in out.read_bytes()


def test_t_takes_no_argument(host_agent: Path, tmp_path: Path) -> None:
    # the old "-t tracefile" form would swallow the program file: now a usage error
    proc, _ = run_agent(host_agent, tmp_path, "-t", str(tmp_path / "x.trace"))
    assert proc.returncode != 0 and b"usage: nhagent [-o outfile] [-d dir] [-k key] [-t] program-file" in proc.stderr


def test_agent_source_has_no_ratrace_dependency() -> None:
    src = (AGENT_DIR / "agent.c").read_text()
    assert "/bin/ratrace" not in src and '"startsyscall"' in src and "RFNOWAIT" in src
