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
        return out

    def to_json(self) -> dict[str, object]:
        return {"base": self.base, "base_reproduces": self.base_reproduces, "switches": self.switches,
                "explained": self.explained, "base_first_divergence": self.base_first}


def toggles(base: str) -> list[str]:
    """Every single-switch change of BASE: +name for those it lacks, -name for those it has."""
    prof = get_profile(base)
    return [("-" if name in prof.switches else "+") + name for name in SWITCHES]


def reproduces(runs: list[ModelRun], arch: str, base: str, switches: tuple[str, ...],
               agent_image: bytes | None, scratch_server: str) -> str | None:
    """None when the model under BASE+SWITCHES reproduces every guest trace, else the first divergence."""
    from harness.model.machine import Machine

    profile = profile_with(base, switches)
    for run in runs:
        records = Machine(arch=arch, profile=profile, agent_image=agent_image,
                          scratch_server=scratch_server).run(run.scenario.program)
        model = Trace(Header("model", run.scenario.name, arch, profile.name), records)
        result = tdiff.diff(model, run.trace, "model", "guest")
        if not result.identical:
            return f"{run.scenario.name}: {tdiff.first_line(result)}"
    return None


def explain(runs: list[ModelRun], arch: str, base: str, agent_image: bytes | None = None,
            scratch_server: str = "perm") -> Explanation:
    first = reproduces(runs, arch, base, (), agent_image, scratch_server)
    if first is None:
        return Explanation(base, True)
    found = [s for s in toggles(base) if reproduces(runs, arch, base, (s,), agent_image, scratch_server) is None]
    return Explanation(base, False, found, first)
