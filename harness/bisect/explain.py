"""Which profile switch makes the model reproduce a guest's traces (SPEC 3.4, 6).

The model runs each scenario under the base profile and under the base with one
switch toggled (turned on when the base lacks it, off when it has it); a switch
explains the guest when every trace is then reproduced exactly (the normalised
diff is empty).  When none does, the behaviour is a change the profiles do not
know yet, and the answer says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.guest.simkernel import profile_with
from harness.model.profiles import SWITCHES, get_profile
from harness.report import text as rtext
from harness.scenario.compiler import Scenario
from harness.trace import diff as tdiff
from harness.trace.schema import Header, Trace


@dataclass(frozen=True)
class ModelRun:
    scenario: Scenario
    trace: Trace  # the guest's


@dataclass
class Explanation:
    base: str
    base_reproduces: bool
    switches: list[str] = field(default_factory=list)  # "+name"/"-name" that reproduce every trace
    base_first: str = ""  # the base profile's first divergence from the guest, when it has one
    # the switches reproduce the change between two guests (explain_change), not the whole trace
    relative: bool = False

    @property
    def explained(self) -> bool:
        return self.base_reproduces or bool(self.switches)

    def lines(self) -> list[str]:
        if self.base_reproduces:
            return [f"the model under {self.base} already reproduces these traces: no switch needed"]
        if not self.switches:
            return [f"no switch explains it: the model under {self.base}, with any one switch turned on or off, "
                    f"does not reproduce these traces; this is a change the profiles do not know yet",
                    f"  {self.base}: {self.base_first}"]
        out = []
        for s in self.switches:
            sw = SWITCHES[s[1:]]
            turned = "turned on" if s[0] == "+" else "turned off"
            out.append(f"explained by switch {sw.name} {turned} ({self.base} {s}): {sw.summary} "
                       f"[{sw.commit} {sw.date}]")
        if self.relative:
            out.append(f"  (the switch changes the same fields of the same records of the model's traces as "
                       f"changed between the ends' guest traces; the model under {self.base} does not "
                       f"reproduce the ends themselves: {self.base_first})")
        return out

    def to_json(self) -> dict[str, object]:
        return {"base": self.base, "base_reproduces": self.base_reproduces, "switches": self.switches,
                "explained": self.explained, "base_first_divergence": self.base_first, "relative": self.relative}


def toggles(base: str) -> list[str]:
    """Every single-switch change of BASE: +name for those it lacks, -name for those it has."""
    prof = get_profile(base)
    return [("-" if name in prof.switches else "+") + name for name in SWITCHES]


def model_trace(scenario: Scenario, arch: str, base: str, switches: tuple[str, ...],
                agent_image: bytes | None, scratch_server: str) -> Trace:
    from harness.model.machine import Machine

    profile = profile_with(base, switches)
    records = Machine(arch=arch, profile=profile, agent_image=agent_image,
                      scratch_server=scratch_server).run(scenario.program)
    return Trace(Header("model", scenario.name, arch, profile.name), records)


def reproduces(runs: list[ModelRun], arch: str, base: str, switches: tuple[str, ...],
               agent_image: bytes | None, scratch_server: str) -> str | None:
    """None when the model under BASE+SWITCHES reproduces every guest trace, else the first divergence."""
    for run in runs:
        model = model_trace(run.scenario, arch, base, switches, agent_image, scratch_server)
        result = tdiff.diff(model, run.trace, "model", "guest")
        if not result.identical:
            return f"{run.scenario.name}: {rtext.first_line(result)}"
    return None


def explain(runs: list[ModelRun], arch: str, base: str, agent_image: bytes | None = None,
            scratch_server: str = "perm") -> Explanation:
    first = reproduces(runs, arch, base, (), agent_image, scratch_server)
    if first is None:
        return Explanation(base, True)
    found = [s for s in toggles(base) if reproduces(runs, arch, base, (s,), agent_image, scratch_server) is None]
    return Explanation(base, False, found, first)


def _change(result: tdiff.DiffResult) -> list[tuple[object, ...]]:
    """Where a diff changes things (record and field), not to what: the values may carry
    the kernel's other differences from the model (e.g. an error text another switch
    formats differently)."""
    return [(d.kind, d.proc, d.step, d.op, d.field) for d in result.divergences]


def explain_change(good: list[ModelRun], bad: list[ModelRun], arch: str, base: str,
                   agent_image: bytes | None = None, scratch_server: str = "perm") -> Explanation:
    """Explain BAD's traces; when no switch reproduces them exactly (the kernel differs
    from the model in other ways too, at both ends), the switches that change the
    model's traces where GOOD's and BAD's traces differ, and nowhere else."""
    exact = explain(bad, arch, base, agent_image, scratch_server)
    if exact.explained:
        return exact
    pairs = [(g, b) for g in good for b in bad if g.scenario.name == b.scenario.name]
    wanted = [_change(tdiff.diff(g.trace, b.trace)) for g, b in pairs]
    base_traces = [model_trace(g.scenario, arch, base, (), agent_image, scratch_server) for g, _ in pairs]
    for s in toggles(base):
        got = [_change(tdiff.diff(mt, model_trace(g.scenario, arch, base, (s,), agent_image, scratch_server)))
               for mt, (g, _) in zip(base_traces, pairs, strict=True)]
        if got == wanted and any(wanted):
            exact.switches.append(s)
    exact.relative = bool(exact.switches)
    return exact
