"""The model's shape: handlers registered by operation name, one rule for
rfork's groups, kernel error strings named once, no holes in the typing."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest

from harness.model import machine  # noqa: F401  (fills the system call table)
from harness.model.arch import get_arch
from harness.model.errors import Eintr, KernelError
from harness.model.fs import FileTree, ScratchServer
from harness.model.kernel import Kernel
from harness.model.pgrp import (
    RFCENVG,
    RFCFDG,
    RFCNAMEG,
    RFENVG,
    RFFDG,
    RFNAMEG,
    RFNOMNT,
    RFNOTEG,
    RFREND,
    closefgrp,
    rfork_groups,
)
from harness.model.portdat import Chan, ChanKind, Pipe, Proc, Wake
from harness.model.profiles import PROFILES, SEED, ProfileName, get_profile
from harness.model.segments import SG_SHARED, Segment
from harness.model.syscall import SYSCALLS, Result, syscall
from harness.model.sysproc import syssemacquire
from harness.program import OPS

MODEL = Path(__file__).resolve().parents[2] / "harness" / "model"


def kernel() -> Kernel:
    return Kernel(get_arch("amd64"), get_profile(SEED), FileTree())


def test_every_call_of_the_program_format_has_one_handler() -> None:
    calls = {name for name, op in OPS.items() if op.kind == "call"}
    assert set(SYSCALLS) == calls


def test_a_second_handler_for_a_name_is_refused() -> None:
    with pytest.raises(ValueError, match="two handlers"):
        syscall("open")(lambda k, p, a: Result(0))


def _sources() -> list[Path]:
    return sorted(MODEL.glob("*.py"))


def test_no_any_and_no_type_ignore_in_the_model() -> None:
    for f in _sources():
        text = f.read_text()
        assert "type: ignore" not in text, f
        tree = ast.parse(text)
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        names |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        assert "Any" not in names, f


def test_errors_are_raised_by_name_not_as_literals() -> None:
    """error(Ebadarg), never error("bad arg ..."): every errstr is in errors.py."""
    raisers = {"KernelError", "Exit", "namec_error"}
    for f in _sources():
        if f.name == "errors.py":
            continue
        for n in ast.walk(ast.parse(f.read_text())):
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in raisers:
                lits = [a for a in n.args if isinstance(a, ast.Constant) and isinstance(a.value, str) and a.value]
                assert not lits, f"{f.name}:{n.lineno} {n.func.id}({lits[0].value!r})"


def test_semacquire_sleeps_again_when_woken_without_a_count() -> None:
    # The loop of sysproc.c:1141 semacquire: a wakeup that finds the count
    # still 0 sleeps again (the old model raised UnboundLocalError here).
    k = kernel()
    p = Proc(pid=1, text="t", user="u")
    p.segs[4] = Segment(SG_SHARED, 0x10000000, 0x10001000)
    gen = syssemacquire(k, p, [0x10000000, 1])
    assert not isinstance(gen, Result)
    next(gen)
    gen.send(Wake.OK)
    gen.send(Wake.OK)
    k.mem(p).set_long(0x10000000, 1)
    with pytest.raises(StopIteration) as done:
        gen.send(Wake.OK)
    assert done.value.value == Result(1)
    assert k.mem(p).long(0x10000000) == 0
    gen = syssemacquire(k, p, [0x10000000, 1])
    assert not isinstance(gen, Result)
    next(gen)
    with pytest.raises(KernelError) as intr:
        gen.send(Wake.INTR)
    assert intr.value.errstr == Eintr


GROUP_FLAGS = (RFFDG, RFCFDG, RFNAMEG, RFCNAMEG, RFENVG, RFCENVG, RFREND, RFNOTEG, RFNOMNT)


def _groups(p: Proc) -> tuple[object, ...]:
    return (p.fgrp, p.pgrp, p.egrp, p.rgrp)


ILLEGAL = (RFFDG | RFCFDG, RFNAMEG | RFCNAMEG, RFENVG | RFCENVG)  # refused first (sysproc.c:41-46)
LEGAL = [a | b for a, b in itertools.combinations_with_replacement(GROUP_FLAGS, 2) if a | b not in ILLEGAL]


@pytest.mark.parametrize("flag", LEGAL)
def test_rfork_gives_the_same_groups_with_and_without_rfproc(flag: int) -> None:
    """sysproc.c:53-90 and 111-213 make the same choice per group: a fresh
    one where FLAG asks, else the caller's."""
    k = kernel()
    src = Proc(pid=1, text="t", user="u", noteid=7)
    src.egrp.env["k"] = b"v"
    before = _groups(src)
    child = Proc(pid=2, text="t", user="u")
    rfork_groups(k, src, child, flag)
    rfork_groups(k, src, src, flag)
    fresh_child = [a is not b for a, b in zip(_groups(child), before, strict=True)]
    fresh_self = [a is not b for a, b in zip(_groups(src), before, strict=True)]
    assert fresh_child == fresh_self
    assert fresh_child == [bool(flag & (RFFDG | RFCFDG)), bool(flag & (RFNAMEG | RFCNAMEG)),
                           bool(flag & (RFENVG | RFCENVG)), bool(flag & RFREND)]
    assert (child.noteid != 7) == bool(flag & RFNOTEG) == (src.noteid != 7)
    assert child.pgrp.nomnt == bool(flag & RFNOMNT) == src.pgrp.nomnt
    assert child.egrp.env == ({} if flag & RFCENVG else {"k": b"v"})


def test_a_shared_fd_table_closes_with_its_last_sharer() -> None:  # pgrp.c closefgrp
    k = kernel()
    src = Proc(pid=1, text="t", user="u")
    pipe = Pipe(open_ends=[1, 1])
    src.fgrp.fds[3] = Chan("#|/data", 2, pipe=pipe, kind=ChanKind.PIPE)
    child = Proc(pid=2, text="t", user="u")
    rfork_groups(k, src, child, 0)
    assert child.fgrp is src.fgrp and src.fgrp.ref == 2
    closefgrp(child.fgrp)
    assert pipe.open_ends == [1, 1]
    closefgrp(src.fgrp)
    assert pipe.open_ends == [0, 1]


def test_names_said_once() -> None:
    assert set(PROFILES) == set(ProfileName)
    assert machine.Machine("amd64", scratch_server="dossrv").scratch_server is ScratchServer.DOSSRV
    with pytest.raises(ValueError):
        ScratchServer("fat32")


def test_every_switch_is_in_the_profile_audit() -> None:
    """docs/PROFILES.md lists each switch with its commit, and its audit
    table names each switch's commit."""
    from harness.model.profiles import SWITCHES

    doc = (MODEL.parents[1] / "docs" / "PROFILES.md").read_text()
    for sw in SWITCHES.values():
        assert f"| `{sw.name}` | {sw.commit} |" in doc, sw.name
        assert f"\n| {sw.commit} |" in doc, sw.commit
