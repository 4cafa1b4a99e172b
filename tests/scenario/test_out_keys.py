"""The out keys the compiler accepts (the catalogue's) are the keys the model reports.

Every record of the whole corpus on the model, on the QEMU arches: each out key
of a call/action record must be one of its op's catalogue outs (or a common one),
each probe record's one of that probe's; note and start records have their own.
So `expect: {out.KEY}` is refused exactly when no record could carry KEY.
"""

from __future__ import annotations

from harness.ops import COMMON_OUTS, OPS, PROBE_TABLE
from harness.run.modelrun import default_profile, model_trace
from harness.scenario.compiler import compile_scenario, default_corpus

COMMON = {o.key for o in COMMON_OUTS}
OWN = {"start": {"pid"}, "note": {"note"}}  # the record kinds that are no op's


def test_every_out_key_the_model_reports_is_in_the_catalogue() -> None:
    seen: dict[str, set[str]] = {}
    for arch in ("amd64", "arm64"):
        for path in sorted(default_corpus().rglob("*.yaml")):
            sc = compile_scenario(path, arch)
            prof = default_profile(arch)
            if not sc.runs_on(arch, prof):
                continue
            for r in model_trace(sc, arch, prof, None).records:
                if r.kind in OWN:
                    allowed = OWN[r.kind] | COMMON
                    what = r.kind
                elif r.op == "probe":
                    what = f"probe {r.args[0][2:]}"
                    allowed = {o.key for o in PROBE_TABLE[r.args[0][2:]].outs} | COMMON
                else:
                    what = r.op
                    allowed = {o.key for o in OPS[r.op].outs} | COMMON
                extra = set(r.out) - allowed
                if extra:
                    seen.setdefault(what, set()).update(extra)
    assert seen == {}, f"out keys the catalogue does not list: {seen}"
