"""Hostile scenarios and programs: each ends as one line naming the file (and
the line), exit 2, before anything runs; nothing hangs, recurses or builds
what it then refuses."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import ExitCode, ProgramError
from harness.program import parse as parse_program
from harness.scenario.compiler import DEPTH_MAX, compile_scenario

ROOT = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, text: str, name: str = "bad.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text).lstrip("\n"))
    return p


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    rc = main(list(args))
    out, err = capsys.readouterr()
    return rc, err


def _one_line_exit_2(capsys: pytest.CaptureFixture[str], path: Path, command: str = "compile") -> str:
    rc, err = _cli(capsys, command, str(path))
    assert rc == ExitCode.BAD_INPUT, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"harness: {path}:"), lines[0]
    return lines[0]


def _nested_children(depth: int) -> str:
    text = "covers: [rfork]\nsteps:\n"
    indent = "  "
    for _ in range(depth):
        text += f"{indent}- rfork: [RFPROC]\n{indent}  child:\n"
        indent += "    "
    return text + f"{indent}- exits: done\n"


def _laughs(levels: int) -> str:
    """Each level a child block of ten copies of the one before (a billion steps at 9)."""
    text = "covers: [rfork]\nsteps:\n  - rfork: [RFPROC]\n    child: &l0 [" + ", ".join(["{nsec: null}"] * 10) + "]\n"
    for i in range(1, levels):
        body = ", ".join([f"{{rfork: [RFPROC], child: *l{i - 1}}}"] * 10)
        text += f"  - rfork: [RFPROC]\n    child: &l{i} [{body}]\n"
    return text


@pytest.mark.parametrize("case, text, reason", [
    ("5000 nested [", "covers: [x]\nsteps: " + "[" * 5000 + "]" * 5000 + "\n", "not valid YAML"),
    ("200 nested child blocks", _nested_children(200), "nested more than"),
    ("deep child blocks", _nested_children(DEPTH_MAX + 1), f"blocks nested more than {DEPTH_MAX} deep"),
    ("pad huge", "covers: [exec]\nbuffers:\n  h: {aout: {}, pad: 99999999999}\nsteps:\n  - nsec:\n",
     "pad must be a byte count"),
    ("pad negative", "covers: [exec]\nbuffers:\n  h: {aout: {}, pad: -5}\nsteps:\n  - nsec:\n", "pad must be"),
    ("pad text", "covers: [exec]\nbuffers:\n  h: {aout: {}, pad: xyz}\nsteps:\n  - nsec:\n", "pad must be"),
    ("repeat x times buffer", "covers: [read]\nbuffers:\n  b: {repeat: abcdefgh, times: 100000000}\n"
     "steps:\n  - nsec:\n", "more than 1048576"),
    ("repeat x times string", "covers: [exec]\nsteps:\n  - exits: {repeat: abcdefgh, times: 100000000}\n",
     "more than 33554432"),
    ("integer over 64 bits", "covers: [sleep]\nsteps:\n  - sleep: 0x1ffffffffffffffff\n", "does not fit in 64 bits"),
    ("negative integer over 64 bits", "covers: [sleep]\nsteps:\n  - sleep: -0x8000000000000001\n",
     "does not fit in 64 bits"),
    ("decimal string over 64 bits", "covers: [sleep]\nsteps:\n  - sleep: '" + "9" * 5000 + "'\n",
     "does not fit in 64 bits"),
    ("5000-digit YAML integer", "covers: [sleep]\nsteps:\n  - sleep: " + "9" * 5000 + "\n", "not valid YAML"),
    ("address over 64 bits", "covers: [brk]\nsteps:\n  - brk: 0x10000000000000000\n", "does not fit in 64 bits"),
    ("alias cycle", "covers: [rfork]\nsteps: &a\n  - rfork: [RFPROC]\n    child: *a\n", "recursive"),
    ("aliases multiplying steps", _laughs(9), "more than 16384 steps"),
    ("too many steps", "covers: [nsec]\nsteps:\n" + "  - nsec:\n" * 16385, "more than 16384 steps"),
    ("too many buffers", "covers: [nsec]\nbuffers:\n" + "".join(f"  b{i}: 1\n" for i in range(257))
     + "steps:\n  - nsec:\n", "more than 256 buffers"),
])
def test_hostile_scenario_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             case: str, text: str, reason: str) -> None:
    line = _one_line_exit_2(capsys, _write(tmp_path, text))
    assert reason in line, line


def test_repeated_long_strings_are_bounded_in_total(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    big = "x" * (20 << 20)
    p = _write(tmp_path, f"covers: [exec]\ns: &s {big}\nsteps:\n  - exec: [$agent, *s, *s, *s, *s]\n    then: []\n")
    # s: is an unknown top-level key; the limit must also hold when it is not the first error
    assert "unknown top-level key" in _one_line_exit_2(capsys, p)
    p = _write(tmp_path, "covers: [exec]\nsteps:\n  - exec: [$agent, &s " + big + ", *s, *s, *s]\n    then: []\n")
    assert "exceed 64 MiB together" in _one_line_exit_2(capsys, p)


@pytest.mark.slow
def test_size_limits_hold_before_anything_is_built(tmp_path: Path) -> None:
    """Under a 1 GiB address-space limit an 800 MB buffer or a 99 GB pad
    would end in MemoryError; refused first, they end as exit 2."""
    cases = {
        "repeat.yaml": "covers: [read]\nbuffers:\n  b: {repeat: abcdefgh, times: 100000000}\nsteps:\n  - nsec:\n",
        "pad.yaml": "covers: [exec]\nbuffers:\n  h: {aout: {}, pad: 99999999999}\nsteps:\n  - nsec:\n",
        "str.yaml": "covers: [exec]\nsteps:\n  - exits: {repeat: abcdefgh, times: 100000000}\n",
    }

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    for name, text in cases.items():
        p = _write(tmp_path, text, name)
        proc = subprocess.run([sys.executable, "-m", "harness", "compile", str(p)], capture_output=True,
                              text=True, timeout=120, preexec_fn=limit, cwd=ROOT,
                              env={**os.environ, "NINE_HARNESS_COMPILE_CACHE": "0"})
        assert proc.returncode == ExitCode.BAD_INPUT, proc.stderr
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def _harness(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def test_fifo_in_a_scenario_directory_is_refused_not_read(tmp_path: Path) -> None:
    d = tmp_path / "corpus"
    d.mkdir()
    (d / "ok.yaml").write_text("covers: [nsec]\nsteps:\n  - nsec:\n")
    os.mkfifo(d / "trap.yaml")
    for command in ("model", "compile"):
        proc = _harness(command, str(d))  # a read of the FIFO would block until the timeout
        assert proc.returncode == ExitCode.BAD_INPUT, proc.stderr
        assert proc.stderr.strip() == f"harness: {d / 'trap.yaml'}:0: not a regular file (a FIFO): a scenario is a .yaml file"


def test_fifo_and_symlink_loop_given_directly_say_what_they_are(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "f.yaml"
    os.mkfifo(fifo)
    loop = tmp_path / "loop.yaml"
    loop.symlink_to(loop)
    assert "not a regular file (a FIFO)" in _one_line_exit_2(capsys, fifo, "model")
    assert "cannot read: a symlink loop" in _one_line_exit_2(capsys, loop, "model")
    rc, err = _cli(capsys, "model", str(tmp_path / "absent.yaml"))
    assert rc == ExitCode.BAD_INPUT and "no such scenario file or directory" in err


@pytest.mark.parametrize("text", ["a\x0bb", "a\x0cb", "\x1c\x1d\x1e", "a\x85b", "a\u2028b", "a\u2029b", "a\rb"])
def test_strings_with_python_line_breaks_compile_and_parse_back(tmp_path: Path, text: str) -> None:
    """The program format splits at newlines only: strings may hold what
    str.splitlines() would also split at."""
    escaped = text.encode("unicode_escape").decode().replace("\\x", "\\x")
    p = _write(tmp_path, f'covers: [werrstr]\nsteps:\n  - werrstr: "{escaped}"\n  - exits: "{escaped}"\n')
    sc = compile_scenario(p)
    args = [s.args[0].text for s in sc.program.blocks["main"]]
    assert args == [text, text]
    again = parse_program(sc.program.dumps())
    assert [s.args[0].text for s in again.blocks["main"]] == [text, text]


@pytest.mark.parametrize("stmt, reason", [
    ("rfork h:cont", "rfork argument 1 takes a value (i: s: b: a: v: n:), not 'h:cont'"),
    ("rfork i:16 i:3", "rfork argument 2 takes a block (c:), not 'i:3'"),
    ("exits w:segments", "exits argument 1 takes a value"),
    ("exits h:cont", "exits argument 1 takes a value"),
    ("exits c:main", "exits argument 1 takes a value"),
    ("exec c:main c:main", "exec argument 1 takes a value"),
    ("exec s:x s:y", "exec argument 2 takes a block (c:), not 's:y'"),
    ("exec s:x c:main s:a h:cont", "exec argument 4 takes a value"),
    ("writefile w:x b:b", "writefile argument 1 takes a value"),
    ("writefile s:f h:cont", "writefile argument 2 takes a value"),
    ("putenv c:main s:v", "putenv argument 1 takes a value"),
    ("putenv s:n w:w", "putenv argument 2 takes a value"),
    ("notify i:1", "notify argument 1 takes a handler mode (h:), not 'i:1'"),
    ("probe w:buf c:main", "probe argument 2 takes a value"),
    ("sleep i:0x10000000000000000", "integer '0x10000000000000000' does not fit in 64 bits"),
    ("sleep i:-9223372036854775809", "does not fit in 64 bits"),
    ("sleep i:" + "9" * 5000, "does not fit in 64 bits"),
    ("brk a:text+0x10000000000000000", "does not fit in 64 bits"),
    ("pipe b:b+0x10000000000000000", "does not fit in 64 bits"),
])
def test_program_parse_rejects_wrong_kinds_and_wide_integers(stmt: str, reason: str) -> None:
    text = f"nhprog 1\nscenario x\nbuf b 8\nblock main\n1 {stmt}\nend\n"
    with pytest.raises(ProgramError) as info:
        parse_program(text)
    assert info.value.line == 5 and reason in info.value.reason, info.value.reason


def test_64_bit_extremes_are_accepted() -> None:
    text = ("nhprog 1\nscenario x\nbuf b 8\nblock main\n1 sleep i:0xffffffffffffffff\n2 sleep i:-9223372036854775808\n"
            "3 brk a:0xffffffffffffffff-0xffffffffffffffff\nend\n")
    prog = parse_program(text)
    assert [s.args[0].int_value() if s.args[0].kind == "i" else s.args[0].address_ref()
            for s in prog.blocks["main"]] == [(1 << 64) - 1, -(1 << 63), ((1 << 64) - 1, -((1 << 64) - 1))]


def test_a_run_the_model_cuts_short_does_not_pass() -> None:
    """Three children running one 7000-step block pass the model agent's 20000-step
    limit; the model records out.hung = step-limit, and check() never calls that ok."""
    from harness.model.agent import STEP_LIMIT
    from harness.model.machine import Machine
    from harness.scenario.compiler import Scenario
    from harness.scenario.expect import check

    body = "\n".join(f"{n} nsec" for n in range(10, 7010))
    text = (f"nhprog 1\nscenario cut\nblock main\n1 rfork i:16 c:k\n2 rfork i:16 c:k\n3 rfork i:16 c:k\nend\n"
            f"block k\n{body}\nend\n")
    assert STEP_LIMIT < 3 * 7000
    sc = Scenario(name="cut", path="cut.yaml", program=parse_program(text), covers=["nsec"])
    recs = Machine("amd64", "9front-2022.05").run(sc.program)
    assert any(r.out.get("hung") == "step-limit" for r in recs)
    assert [m.field for m in check(sc, recs, "amd64", "9front-2022.05")] == ["run"]
