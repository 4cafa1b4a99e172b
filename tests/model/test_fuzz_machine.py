"""Random programs never crash the model: kernel errors are results."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.model.machine import Machine
from harness.model.profiles import CURRENT, SEED
from harness.ops import OPERATIONS, OPS, OpKind
from harness.program import parse

INTS = st.sampled_from(["0", "1", "-1", "0x10", "0x30", "0x1000", "0x30000000", "0x7fffffffffff", "0xffffffff", "100"])
ARG = st.one_of(
    INTS.map(lambda v: "i:" + v),
    st.sampled_from(["b:b1", "b:b1+4", "a:end", "a:stack", "a:text", "a:bss+8", "n:", "s:shared", "s:/tmp/nh/f", "v:pid"]),
)
CALLS = sorted(o.name for o in OPERATIONS if o.kind is OpKind.CALL and o.name not in ("exec",))


@st.composite
def programs(draw: st.DrawFn) -> str:
    lines = []
    for step in range(1, draw(st.integers(1, 12)) + 1):
        op = draw(st.sampled_from(CALLS))
        lo, hi = OPS[op].min_args, OPS[op].max_args
        n = draw(st.integers(lo, hi if hi >= 0 else lo + 2))
        args = [draw(ARG) for _ in range(n)]
        if op == "rfork" and n == 2:
            args[1] = "c:kid"
        if op == "notify":
            args = [draw(st.sampled_from(["h:cont", "h:dflt", "h:exit", "h:none"]))]
        lines.append(f"{step} {op} {' '.join(args)}")
    return "nhprog 1\nscenario f\nbuf b1 64\nblock main\n" + "\n".join(lines) + "\nend\nblock kid\n99 sleep i:5\nend\n"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs(), st.sampled_from(["amd64", "arm64"]), st.sampled_from([SEED, CURRENT]))
def test_random_programs_run_cleanly(text: str, arch: str, profile: str) -> None:
    recs = Machine(arch, profile).run(parse(text))
    assert recs and recs[0].kind == "start"
