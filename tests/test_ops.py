"""The catalogue of operations (harness/ops) and the files generated from it.

Like syzkaller's executor/defs.h check: a generated file that does not match
the catalogue fails here, with the command that regenerates it.  The views
(program format, compiler, ktrace, normaliser, agent, model) must agree with
the catalogue too.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness import ops
from harness.model.machine import Machine
from harness.ops import OPERATIONS, OPS, PROBES, OpKind, Ret, Slot, generate
from harness.program import ProgramError, parse
from harness.scenario.compiler import SIGNATURES
from harness.trace import ktrace, normalise

AGENT_C = (generate.AGENT_HEADER.parent / "agent.c").read_text(encoding="utf-8")


@pytest.mark.parametrize("path", sorted(generate.generated_files(), key=str))
def test_generated_file_is_fresh(path: Path) -> None:
    want = generate.generated_files()[path]
    assert path.read_text(encoding="utf-8") == want, f"{path} is stale: run python -m harness.ops --write"


def test_check_command_reports_a_stale_header(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / "ops.h"
    stale.write_text(generate.agent_header().replace('"rfork", 1, 2', '"rfork", 1, 3'))
    monkeypatch.setattr(generate, "AGENT_HEADER", stale)
    assert generate.stale_files() == [stale]
    assert generate.main(["--check"]) == 1
    assert generate.main(["--write"]) == 0
    assert stale.read_text() == generate.agent_header() and generate.stale_files() == []


def test_check_command_passes_on_the_tree() -> None:
    proc = subprocess.run([sys.executable, "-m", "harness.ops", "--check"], capture_output=True, text=True,
                          cwd=generate.ROOT, check=False)
    assert proc.returncode == 0, proc.stderr


def test_names_are_unique_and_kinds_closed() -> None:
    assert len(OPS) == len(OPERATIONS) and len(ops.PROBE_TABLE) == len(PROBES)
    assert {o.kind for o in OPERATIONS} == set(OpKind)
    for o in OPERATIONS:
        assert re.fullmatch(r"_?[a-z0-9]+", o.name), o.name
        assert len({p.name for p in o.params}) == len(o.params), o.name
        assert not any(p.optional for p in o.params[: o.min_args]), f"{o.name}: optional before required"


def test_every_call_has_a_model_handler() -> None:
    """The model registers a handler per call (harness.model.syscall.SYSCALLS) and
    per action (harness.model.agent.ACTIONS), keyed by the catalogue's names."""
    from harness.model.agent import ACTIONS
    from harness.model.syscall import SYSCALLS

    assert Machine is not None  # importing the machine fills the tables
    for o in OPERATIONS:
        if o.kind is OpKind.CALL:
            assert callable(SYSCALLS.get(o.name)), f"model has no handler for {o.name}"
        elif o.kind is OpKind.ACTION:
            assert callable(ACTIONS.get(o.name)), f"model has no action {o.name}"
    calls = {o.name for o in OPERATIONS if o.kind is OpKind.CALL}
    assert set(SYSCALLS) <= calls, f"handlers for ops the catalogue lacks: {set(SYSCALLS) - calls}"


def test_every_op_has_a_case_in_the_agent() -> None:
    body = AGENT_C[AGENT_C.index("\nperform(Proc *p, Stmt *st)"):]
    body = body[: body.index("\n}\n")]
    cases = re.findall(r"^\tcase (O\w+):", body, flags=re.M)
    assert sorted(cases) == sorted("O" + o.name for o in OPERATIONS)


def test_the_agent_uses_the_generated_table_and_no_copy_of_it() -> None:
    assert '#include "ops.h"' in AGENT_C
    assert "static Op ops[]" not in AGENT_C and "Orfork, Oexec" not in AGENT_C
    header = generate.agent_header()
    for o in OPERATIONS:
        assert f'{{"{o.name}", {o.min_args}, {o.max_args},' in header


def test_syscall_names_are_the_kernels() -> None:
    assert {o.name: o.syscall for o in OPERATIONS if o.syscall} == ktrace.OP_SYSCALLS
    assert set(ktrace.OP_SYSCALLS.values()) <= ktrace.SYSCALL_NAMES
    assert {o.syscall for o in OPERATIONS if o.syscall} >= ktrace.POINTER_RETURNS


def test_normaliser_symbolises_what_the_catalogue_says() -> None:
    assert normalise.PID_RET_OPS == {"rfork", "_wait"} == ops.ops_returning(Ret.PID)
    assert normalise.ADDRESS_RET_OPS == {"segattach"} == ops.ops_returning(Ret.ADDRESS)


def test_compiler_signatures_are_the_catalogue_in_program_order() -> None:
    for name, sig in SIGNATURES.items():
        assert [p for p, _ in sig] == [p.name for p in OPS[name].params]
    assert set(SIGNATURES) == set(OPS) - {"probe", "touch"}


def _program(stmt: str) -> str:
    return f"nhprog 1\nscenario x\nbuf b 8\nblock main\n1 {stmt}\nend\nblock k\nend\n"


_SAMPLE = {Slot.VALUE: "i:1", Slot.BLOCK: "c:k", Slot.MODE: "h:cont", Slot.WORD: "w:w"}
_WORDS = {"probe": "w:segments", "touch": "w:w"}


@pytest.mark.parametrize("name", sorted(OPS))
def test_parse_takes_exactly_the_catalogue_arity_and_slots(name: str) -> None:
    o = OPS[name]
    lo, hi = o.min_args, o.max_args
    n_max = hi if hi >= 0 else lo + 2
    for n in range(lo, n_max + 1):
        toks = [_WORDS.get(name, _SAMPLE[o.slot_at(0)]) if i == 0 else _SAMPLE[o.slot_at(i)] for i in range(n)]
        if name == "probe" and n > 1:
            toks[0] = "w:buf"
        parse(_program(" ".join([name, *toks])))
        for i in range(n):
            if i == 0 and name in _WORDS:
                continue
            wrong = "h:cont" if o.slot_at(i) is not Slot.MODE else "i:1"
            bad = toks[:i] + [wrong] + toks[i + 1:]
            with pytest.raises(ProgramError, match=f"{name} argument {i + 1} takes"):
                parse(_program(" ".join([name, *bad])))
    if hi >= 0:
        with pytest.raises(ProgramError, match="arguments, got"):
            parse(_program(" ".join([name, *["i:1"] * (hi + 1)])))


def test_reference_lists_every_op_probe_and_out_key() -> None:
    doc = generate.SCENARIOS_DOC.read_text(encoding="utf-8")
    ref = doc[doc.index(generate.DOC_BEGIN):doc.index(generate.DOC_END)]
    for o in OPERATIONS:
        assert f"| `{o.name}` |" in ref
        for p in o.params:
            assert f"`{p.name}` {p.ptype.value}" in ref
        for out in o.outs:
            assert f"`out.{out.key}`" in ref
    for p in PROBES:
        assert f"| `{p.name}` |" in ref


def test_ctypes_are_plan9_c() -> None:
    known = {"int", "uint", "long", "ulong", "vlong", "uintptr", "char*", "char**", "void*", "long*", "int*",
             "uchar*", "u32int", "u32int*", "OWaitmsg*", ""}
    for o in OPERATIONS:
        for p in o.params:
            assert p.ctype in known, (o.name, p.name, p.ctype)
            assert (p.ctype == "") == (p.ptype.value in ("block", "word") or o.kind is OpKind.PROBE), (o.name, p.name)


def test_every_libc_routine_is_answered_once_on_the_host() -> None:
    """compat/host.c answers each op's routine by hand, or answers.h does (Libc.stub): never both, never neither."""
    host = (generate.AGENT_HEADER.parent / "compat" / "host.c").read_text(encoding="utf-8")
    answers = generate.compat_answers()
    for o in OPERATIONS:
        if o.libc is None:
            continue
        by_hand = re.search(rf"^nh_{re.escape(o.libc.name)}\(", host, flags=re.M) is not None
        generated = re.search(rf"^nh_{re.escape(o.libc.name)}\(", answers, flags=re.M) is not None
        assert by_hand != generated, (o.name, by_hand, generated)
        assert generated == o.libc.stub
