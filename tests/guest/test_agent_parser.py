"""The agent accepts exactly what harness.program.parse accepts.

Malformed programs are rejected by both with the same line and reason: the
agent prints ``nhagent: FILE:LINE: REASON`` and exits with that status.
Random mutations of valid programs are accepted or rejected alike.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from harness.errors import ProgramError
from harness.guest.hostbuild import run_host_agent
from harness.program import parse
from harness.trace.schema import Record

# Only a start record: a program that parses stops at its first system call
# (the answers end there), one that does not parse never gets that far.
START_ONLY = [Record("main", 0, 0, "start", "start", [], None, None, {"pid": 100})]

GOOD = """nhprog 1
scenario good
covers rfork await
buf wbuf 256
data hdr 00000000ff
block main
1 rfork i:0x10 c:b2 >kid
3 await b:wbuf+8 i:256
4 segattach i:0 s:shared a:0x10000000 i:4096 >va
5 touch w:w a:va+4 i:-1
6 probe w:buf b:hdr i:2
7 exec s:$agent c:b2 s:'a b' s:'it''s' n:
end
block b2
2 exits s:bye
end
"""

BAD = {
    "no header": "scenario x\n",
    "wrong version": "nhprog 2\nscenario x\nblock main\nend\n",
    "no scenario": "nhprog 1\nblock main\nend\n",
    "empty": "",
    "comments only": "# x\n   # y\n",
    "no main": "nhprog 1\nscenario x\nblock other\nend\n",
    "missing end": "nhprog 1\nscenario x\nblock main\n1 nsec\n",
    "nested block": "nhprog 1\nscenario x\nblock main\nblock b\nend\n",
    "end outside": "nhprog 1\nscenario x\nend\n",
    "step not a number": "nhprog 1\nscenario x\nblock main\nx nsec\nend\n",
    "step twice": "nhprog 1\nscenario x\nblock main\n1 nsec\n1 nsec\nend\n",
    "no op": "nhprog 1\nscenario x\nblock main\n1\nend\n",
    "unknown op": "nhprog 1\nscenario x\nblock main\n1 frob\nend\n",
    "bad prefix": "nhprog 1\nscenario x\nblock main\n1 sleep q:1\nend\n",
    "bad int": "nhprog 1\nscenario x\nblock main\n1 sleep i:0x\nend\n",
    "bad address": "nhprog 1\nscenario x\nblock main\n1 brk a:text+\nend\n",
    "bad buffer ref": "nhprog 1\nscenario x\nbuf b 8\nblock main\n1 pipe b:b+1+2\nend\n",
    "bad var name": "nhprog 1\nscenario x\nblock main\n1 sleep v:1x\nend\n",
    "bad handler": "nhprog 1\nscenario x\nblock main\n1 notify h:maybe\nend\n",
    "n with value": "nhprog 1\nscenario x\nblock main\n1 exits n:x\nend\n",
    "too few args": "nhprog 1\nscenario x\nblock main\n1 await i:1\nend\n",
    "too many args": "nhprog 1\nscenario x\nblock main\n1 nsec i:1\nend\n",
    "bad probe": "nhprog 1\nscenario x\nblock main\n1 probe w:nothing\nend\n",
    "bad touch": "nhprog 1\nscenario x\nblock main\n1 touch w:x a:0\nend\n",
    "bad result": "nhprog 1\nscenario x\nblock main\n1 nsec >9\nend\n",
    "no such block": "nhprog 1\nscenario x\nblock main\n1 rfork i:16 c:nope\nend\n",
    "no such buffer": "nhprog 1\nscenario x\nblock main\n1 pipe b:nope\nend\n",
    "unset variable": "nhprog 1\nscenario x\nblock main\n1 sleep v:never\nend\n",
    "unknown address base": "nhprog 1\nscenario x\nblock main\n1 brk a:heap+4\nend\n",
    "buffer twice": "nhprog 1\nscenario x\nbuf a 1\ndata a 00\nblock main\nend\n",
    "buf size": "nhprog 1\nscenario x\nbuf a -1\nblock main\nend\n",
    "data not hex": "nhprog 1\nscenario x\ndata a 0g\nblock main\nend\n",
    "block twice": "nhprog 1\nscenario x\nblock main\nend\nblock main\nend\n",
    "outside block": "nhprog 1\nscenario x\n1 nsec\nblock main\nend\n",
    "covers in block": "nhprog 1\nscenario x\nblock main\ncovers x\nend\n",
    "scenario resets": "nhprog 1\nscenario x\nblock main\nend\nscenario y\n",
    "scenario args": "nhprog 1\nscenario\n",
    "crlf and vt lines": "nhprog 1\r\nscenario x\x0bblock main\r1 sleep i:x\nend\n",
    "lines split at newlines only": "nhprog 1\nscenario x\nblock main\n1 werrstr s:a\x0bb\x85c\u2028d\r\n2 sleep i:x\nend\n",
    "mode where a value is due": "nhprog 1\nscenario x\nblock main\n1 rfork h:cont\nend\n",
    "word where a value is due": "nhprog 1\nscenario x\nblock main\n1 exits w:segments\nend\n",
    "block where a value is due": "nhprog 1\nscenario x\nblock main\n1 putenv c:main s:v\nend\n",
    "value where a block is due": "nhprog 1\nscenario x\nblock main\n1 exec s:x s:y\nend\n",
    "exec argv of the wrong kind": "nhprog 1\nscenario x\nblock main\n1 exec s:x c:main s:a h:cont\nend\n",
    "value where a mode is due": "nhprog 1\nscenario x\nblock main\n1 notify i:1\nend\n",
    "integer over 64 bits": "nhprog 1\nscenario x\nblock main\n1 sleep i:0x1ffffffffffffffff\nend\n",
    "negative integer over 64 bits": "nhprog 1\nscenario x\nblock main\n1 sleep i:-9223372036854775809\nend\n",
    "address over 64 bits": "nhprog 1\nscenario x\nblock main\n1 brk a:text+0x10000000000000000\nend\n",
    "buffer offset over 64 bits": "nhprog 1\nscenario x\nbuf b 8\nblock main\n1 pipe b:b+18446744073709551616\nend\n",
}

# Accepted by both: the 64-bit extremes, line-break characters inside a line.
EDGES = [
    "nhprog 1\nscenario x\nblock main\n1 sleep i:0xffffffffffffffff\n2 sleep i:-9223372036854775808\n"
    "3 sleep i:18446744073709551615\n4 brk a:0x000000000000000000001-0xffffffffffffffff\nend\n",
    "nhprog 1\nscenario x\nblock main\n1 werrstr s:a\x0bb\x0cc\x1cd\x85e\u2028f\u2029g\nend\n",
]


def _agent_verdict(agent: Path, text: str, wd: Path) -> tuple[int, str] | None:
    """None if the agent accepted the program, else (line, reason)."""
    run = run_host_agent(agent, text, START_ONLY, wd)
    m = re.search(r"nhagent: .*?program\.nh:(\d+): (.*)", run.stderr)
    if m is None:
        assert run.returncode == 0, run.stderr
        return None
    assert run.returncode != 0
    return int(m.group(1)), m.group(2)


def _python_verdict(text: str) -> tuple[int, str] | None:
    try:
        parse(text)
    except ProgramError as e:
        return e.line, e.reason
    return None


def test_good_program_is_accepted(host_agent: Path, tmp_path: Path) -> None:
    assert _python_verdict(GOOD) is None
    assert _agent_verdict(host_agent, GOOD, tmp_path) is None


@pytest.mark.parametrize("text", EDGES)
def test_edge_programs_are_accepted_by_both(host_agent: Path, tmp_path: Path, text: str) -> None:
    assert _python_verdict(text) is None
    assert _agent_verdict(host_agent, text, tmp_path) is None


@pytest.mark.parametrize("name", sorted(BAD))
def test_malformed_program_rejected_like_python(host_agent: Path, tmp_path: Path, name: str) -> None:
    text = BAD[name]
    want = _python_verdict(text)
    assert want is not None, "the example must be malformed"
    assert _agent_verdict(host_agent, text, tmp_path) == want


_PIECES = ["", " ", "'", "''", ":", "+", "-", "x", "0x", "9", "#", "\t", "b:", "a:", "i:", "v:", ">",
           "end", "block", "main", "\n", "s:'q q'", "c:b2", "w:segments", "0x1f", "-3"]


def _mutate(rng: random.Random, text: str) -> str:
    lines = text.split("\n")
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(lines))
        line = lines[i]
        choice = rng.randrange(4)
        if choice == 0 and line:  # replace a character run
            a = rng.randrange(len(line))
            lines[i] = line[:a] + rng.choice(_PIECES) + line[a + rng.randint(0, 3):]
        elif choice == 1:  # drop a line
            del lines[i]
            if not lines:
                lines = [""]
        elif choice == 2:  # duplicate a line
            lines.insert(i, line)
        else:  # swap tokens
            toks = line.split(" ")
            rng.shuffle(toks)
            lines[i] = " ".join(toks)
    return "\n".join(lines)


def test_mutated_programs_agree_with_python(host_agent: Path, tmp_path: Path) -> None:
    rng = random.Random(1)
    seen = {"accepted": 0, "rejected": 0}
    for n in range(150):
        text = _mutate(rng, GOOD)
        want = _python_verdict(text)
        got = _agent_verdict(host_agent, text, tmp_path / str(n))
        assert got == want, f"program:\n{text}"
        seen["accepted" if want is None else "rejected"] += 1
    assert seen["accepted"] > 5 and seen["rejected"] > 50
