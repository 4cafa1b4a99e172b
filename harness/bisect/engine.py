"""The bisection: both ends verified first, then commit by commit to the first bad one.

Lessons from syzkaller's bisection (issue 12): broken boots and unrelated
crashes must not steer it (a boot crash skips by default, an unknown third
behaviour stops it), one lost connection is not a verdict (infrastructure
failures are retried, then skipped), flaky behaviour needs N runs and a
majority threshold, and both ends are verified before the first step.

Results directory::

    RESULTS/STAMP-bisect/
        command.txt  bisect.log (git bisect log format)  steps.jsonl  answer.txt  answer.json
        behaviour-change/NAME.diff.txt, NAME.diff.html     good end vs bad end, guest traces
        steps/NN-ROLE-HASH/build.log  kernel.sha256  verdict.json
                           run-K/ (console.log, ARCH/NAME.guest.jsonl, .model.jsonl, .diff.txt, summary.json)
"""

from __future__ import annotations

import enum
import json
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.bisect import git as g
from harness.bisect.behaviour import (
    BAD,
    GOOD,
    KernelUnusable,
    Observation,
    Outcome,
    Runner,
    Tally,
    difference,
    representative,
    tally,
)
from harness.bisect.build import Builder, BuildResult, bisect_cache
from harness.bisect.explain import Explanation, ModelRun, explain_change
from harness.errors import ExitCode
from harness.report import html as rhtml
from harness.report import text as rtext
from harness.report.results import ResultsDir
from harness.trace import diff as tdiff

SKIP_CODE = 125  # git bisect run's "cannot test this commit"


class Mark(enum.StrEnum):
    GOOD = "good"
    BAD = "bad"
    SKIP = "skip"
    THIRD = "third"


_MARKED = {Mark.GOOD: "is good", Mark.BAD: "is bad", Mark.SKIP: "skipped", Mark.THIRD: "behaves like neither end"}


@dataclass
class BisectConfig:
    repo: Path
    good: str
    bad: str
    build_cmd: str
    kernel_path: str
    runs: int = 3
    retries: int = 2  # extra attempts of a run that failed for infrastructure reasons
    third_skip: bool = False
    boot_crash_bad: bool = False
    rebuild: bool = False
    build_timeout: float = 3 * 3600.0


@dataclass
class StepRecord:
    n: int
    role: str  # "good end", "bad end", "step"
    commit: str
    subject: str
    mark: Mark | None  # None for the ends
    why: str
    build: dict[str, Any]
    tally: str = ""
    flaky: bool = False
    seconds: float = 0.0
    dir: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "role": self.role, "commit": self.commit, "subject": self.subject,
                "mark": self.mark.value if self.mark else None, "why": self.why, "build": self.build,
                "tally": self.tally, "flaky": self.flaky, "seconds": self.seconds, "dir": self.dir}


@dataclass
class BisectResult:
    exit_code: int
    message: str  # the headline
    first_bad: g.CommitInfo | None = None
    explanation: Explanation | None = None
    steps: list[StepRecord] = field(default_factory=list)
    detail: str = ""  # the behaviour change, or what stopped it
    notes: list[str] = field(default_factory=list)


class EndFailure(Exception):
    def __init__(self, code: int, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.code, self.message, self.detail = code, message, detail


class Bisect:
    def __init__(self, cfg: BisectConfig, runner: Runner, results: ResultsDir,
                 say: Callable[[str], None] = print) -> None:
        self.cfg = cfg
        self.runner = runner
        self.results = results
        self.say = say
        self.steps: list[StepRecord] = []
        self.log = g.BisectLog(results.path("bisect.log"), cfg.repo)
        self.worktree = g.Worktree(cfg.repo, bisect_cache() / "worktrees")
        self.builder = Builder(self.worktree, cfg.build_cmd, cfg.kernel_path, cfg.build_timeout, cfg.rebuild)
        self.step_seconds: list[float] = []
        self.third: Observation | None = None  # the last third behaviour seen
        self.started = time.monotonic()

    # -- one commit --------------------------------------------------------
    def _build(self, commit: str, step_dir: Path) -> BuildResult:
        self.say(f"  build {commit[:12]}: {self.cfg.build_cmd}")
        b = self.builder.build(commit)
        shutil.copyfile(b.log, step_dir / "build.log")
        if b.sha256:
            (step_dir / "kernel.sha256").write_text(f"{b.sha256}  {self.cfg.kernel_path}\n")
        self.say(f"  build {commit[:12]}: {'cached: ' if b.cached else ''}{b.why}"
                 + (f", kernel sha256 {b.sha256[:16]}" if b.sha256 else ""))
        return b

    def _observe(self, kernel: Path, step_dir: Path) -> list[Observation]:
        """--runs runs; a run that fails for infrastructure reasons is tried again (--retries)."""
        out: list[Observation] = []
        attempt = 0
        for k in range(self.cfg.runs):
            for _ in range(self.cfg.retries + 1):
                obs = self.runner.observe(kernel, step_dir / f"run-{attempt}", attempt)
                attempt += 1
                if obs.outcome is not Outcome.INFRA:
                    break
                self.say(f"  run {k + 1}: infrastructure failure (not a verdict): {obs.why}")
            desc = obs.why if obs.outcome is Outcome.OK else f"{obs.outcome.value}: {obs.why}"
            self.say(f"  run {k + 1}/{self.cfg.runs}: {desc}")
            out.append(obs)
        return out

    def _step_dir(self, role: str, commit: str) -> Path:
        d = self.results.path("steps", f"{len(self.steps):02d}-{role.replace(' ', '-')}-{commit[:12]}", ".keep").parent
        return d

    def _record(self, rec: StepRecord, step_dir: Path, started: float) -> None:
        rec.seconds = round(time.monotonic() - started, 3)
        rec.dir = str(step_dir.relative_to(self.results.root))
        self.steps.append(rec)
        (step_dir / "verdict.json").write_text(json.dumps(rec.to_json(), indent=1) + "\n")
        with self.results.path("steps.jsonl").open("a") as f:
            f.write(json.dumps(rec.to_json()) + "\n")

    # -- the ends ----------------------------------------------------------
    def _end(self, role: str, commit: str) -> Observation:
        started = time.monotonic()
        step_dir = self._step_dir(role, commit)
        subject = g.subject(self.cfg.repo, commit)
        self.say(f"bisect: {role} {commit[:12]} {subject!r}")
        b = self._build(commit, step_dir)
        rec = StepRecord(len(self.steps), role, commit, subject, None, "", b.to_json())
        if not b.ok or b.kernel is None:
            rec.why = f"the {role} could not be built: {b.why} (log: {step_dir / 'build.log'})"
            self._record(rec, step_dir, started)
            raise EndFailure(ExitCode.INFRA, rec.why)
        try:
            observations = self._observe(b.kernel, step_dir)
        except KernelUnusable as e:
            rec.why = f"the {role}'s build is not a usable kernel: {e}"
            self._record(rec, step_dir, started)
            raise EndFailure(ExitCode.INFRA, rec.why) from None
        t = tally(observations, {})
        rec.tally, rec.flaky = t.describe(), t.flaky
        label, n = t.top
        if not t.reliable:
            rec.why = f"the {role} does not behave reliably: {t.describe()}"
            self._record(rec, step_dir, started)
            raise EndFailure(ExitCode.DIVERGED, rec.why)
        if label in (Outcome.INFRA, Outcome.BOOT_CRASH):
            what = "booted" if label == Outcome.BOOT_CRASH else "run (infrastructure failures, retried)"
            rec.why = f"the {role} could not be {what}: {label} in {n} of {t.runs} run(s): " + next(
                o.why for o in observations if o.outcome.value == label)
            self._record(rec, step_dir, started)
            raise EndFailure(ExitCode.INFRA, rec.why)
        rep = representative(observations, t)
        rec.why = f"reference behaviour recorded ({rep.why}; {t.describe()})" + (", FLAKY" if t.flaky else "")
        self._record(rec, step_dir, started)
        self.log.mark(role.split()[0], commit)
        return rep

    # -- a middle commit ---------------------------------------------------
    def _judge(self, t: Tally, ends: dict[str, Observation]) -> tuple[Mark, str]:
        label, n = t.top
        if not t.reliable:
            return Mark.SKIP, f"runs disagree beyond the threshold: {t.describe()}"
        if label == GOOD:
            return Mark.GOOD, f"behaves like the good end ({t.describe()})"
        if label == BAD:
            return Mark.BAD, f"behaves like the bad end ({t.describe()})"
        if label == Outcome.INFRA:
            return Mark.SKIP, f"infrastructure failures, retried ({t.describe()})"
        if label == Outcome.BOOT_CRASH:
            if self.cfg.boot_crash_bad:
                return Mark.BAD, f"boot crash, counted bad by --boot-crash bad ({t.describe()})"
            return Mark.SKIP, f"boot crash ({t.describe()}; --boot-crash bad would count it bad)"
        third = t.thirds[int(label.split("-")[1]) - 1]
        self.third = third
        vs = (f"vs the good end: {difference(third, ends[GOOD], 'this', 'good end')}; "
              f"vs the bad end: {difference(third, ends[BAD], 'this', 'bad end')}")
        if self.cfg.third_skip:
            return Mark.SKIP, f"a third behaviour, skipped by --third skip ({vs})"
        return Mark.THIRD, f"a third behaviour, neither the good end's nor the bad end's ({vs})"

    def _step(self, commit: str, ends: dict[str, Observation], left: int) -> Mark:
        started = time.monotonic()
        step_dir = self._step_dir("step", commit)
        subject = g.subject(self.cfg.repo, commit)
        n = sum(1 for s in self.steps if s.role == "step") + 1
        est = math.ceil(math.log2(left + 1)) if left else 0
        eta = ""
        if self.step_seconds:
            eta = f", ~{_duration(est * sum(self.step_seconds) / len(self.step_seconds))} left"
        self.say(f"bisect: step {n}: {commit[:12]} {subject!r} ({left} commit(s) left to test, "
                 f"~{est} step(s){eta})")
        b = self._build(commit, step_dir)
        rec = StepRecord(len(self.steps), "step", commit, subject, Mark.SKIP, "", b.to_json())
        if not b.ok or b.kernel is None:
            rec.why = f"build failed ({b.why}): skip ({SKIP_CODE})"
        else:
            try:
                observations = self._observe(b.kernel, step_dir)
            except KernelUnusable as e:
                rec.why = f"the build is not a usable kernel ({e}): skip ({SKIP_CODE})"
            else:
                t = tally(observations, ends)
                rec.mark, rec.why = self._judge(t, ends)
                rec.tally, rec.flaky = t.describe(), t.flaky
                if t.flaky:
                    rec.why += ", FLAKY"
        self._record(rec, step_dir, started)
        self.step_seconds.append(rec.seconds)
        assert rec.mark is not None
        self.say(f"bisect: {commit[:12]} {_MARKED[rec.mark]}: {rec.why}")
        if rec.mark is not Mark.THIRD:
            self.log.mark(rec.mark.value, commit)
        return rec.mark

    # -- the whole -----------------------------------------------------------
    def run(self) -> BisectResult:
        try:
            return self._run()
        finally:
            self.worktree.close()

    def _run(self) -> BisectResult:
        cfg = self.cfg
        good, bad = cfg.good, cfg.bad
        self.log.start()
        n_range = len(g.candidates(cfg.repo, bad, [good]))
        self.say(f"bisect: {n_range} commit(s) in {good[:12]}..{bad[:12]}, {cfg.runs} run(s) per commit; "
                 f"at most ~{math.ceil(math.log2(max(n_range, 1)))} step(s) plus skips")
        try:
            ends = {GOOD: self._end("good end", good), BAD: self._end("bad end", bad)}
        except EndFailure as e:
            self.log.note(e.message)
            return BisectResult(e.code, e.message, steps=self.steps, detail=e.detail)
        change = difference(ends[GOOD], ends[BAD], "good end", "bad end")
        if change is None:
            msg = (f"the ends behave the same ({good[:12]} and {bad[:12]} give identical guest traces "
                   "for these scenarios): nothing to bisect; choose other scenarios or ends")
            self.log.note(msg)
            return BisectResult(ExitCode.BAD_INPUT, msg, steps=self.steps)
        self.say(f"bisect: the ends differ: {change}")
        goods, skipped = [good], set[str]()
        while True:
            cands = g.candidates(cfg.repo, bad, goods)
            testable = [c for c in cands if c != bad and c not in skipped]
            if not testable:
                break
            mark = self._step(testable[0], ends, len(testable))
            if mark is Mark.GOOD:
                goods.append(testable[0])
            elif mark is Mark.BAD:
                bad = testable[0]
            elif mark is Mark.SKIP:
                skipped.add(testable[0])
            else:
                third = self.steps[-1]
                msg = f"stopped: {third.commit[:12]} {third.subject!r} shows a third behaviour"
                self.log.note(f"{msg}: {third.why}")
                shown = ""
                if self.third is not None:
                    shown = self._diffs(ends[GOOD], self.third, "good end", "this commit",
                                        f"{third.dir}/third-vs-good")
                return BisectResult(ExitCode.DIVERGED, msg, steps=self.steps,
                                    detail=f"{third.why}\n(--third skip would skip such commits)\n\n{shown}")
        left = [c for c in g.candidates(cfg.repo, bad, goods) if c != bad]
        if left:
            msg = (f"the first bad commit could be any of {len(left) + 1} commits (the others were skipped): "
                   + " ".join(c[:12] for c in [*left, bad]))
            self.log.note(msg)
            return BisectResult(ExitCode.DIVERGED, msg, steps=self.steps)
        self.log.first_bad(bad)
        info = g.commit_info(cfg.repo, bad)
        detail = self._behaviour_change(ends)
        notes = [f"{s.role} {s.commit[:12]} was FLAKY: {s.tally}; the majority decided"
                 for s in self.steps if s.flaky]
        explanation = self._explain(ends)
        return BisectResult(ExitCode.OK, f"first bad commit: {info.hash} {info.subject!r}", info, explanation,
                            self.steps, detail, notes)

    def _behaviour_change(self, ends: dict[str, Observation]) -> str:
        return self._diffs(ends[GOOD], ends[BAD], "good end", "bad end", "behaviour-change")

    def _diffs(self, a: Observation, b: Observation, la: str, lb: str, where: str) -> str:
        """The guest-trace diffs of A and B, scenario by scenario (first divergence first),
        written whole to the results' WHERE/; the text shown without the rules block."""
        parts = []
        for name in sorted(a.traces):
            ta, tb = a.traces[name], b.traces.get(name)
            if tb is None:
                continue
            result = tdiff.diff(ta, tb, la, lb)
            if result.identical and a.crashes.get(name) == b.crashes.get(name):
                continue
            full = self.results.path(*where.split("/"), f"{name}.diff.txt")
            full.write_text(rtext.render_text(result, color=False))
            full.with_suffix(".html").write_text(rhtml.render_html(result))
            text = rtext.render_text(result, color=False, summary=False) + f"(whole diff: {full})\n"
            crash = [f"{lab}: guest crash {o.crashes[name]}" for lab, o in ((la, a), (lb, b)) if name in o.crashes]
            parts.append(f"== {name}" + (f" ({'; '.join(crash)})" if crash else "") + "\n" + text)
        return "\n".join(parts)

    def _explain(self, ends: dict[str, Observation]) -> Explanation:
        spec = self.runner.spec
        by_name = {sc.name: sc for sc in spec.scenarios}

        def runs(o: Observation) -> list[ModelRun]:
            return [ModelRun(by_name[name], trace) for name, trace in sorted(o.traces.items())]

        agent = ends[BAD].agent
        agent_image = agent.read_bytes() if agent is not None else None
        scratch = "perm" if ends[BAD].simulated else "dossrv"  # as harness.run's sessions serve it
        return explain_change(runs(ends[GOOD]), runs(ends[BAD]), spec.arch, spec.profile, agent_image, scratch)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 5400:
        return f"{seconds / 60:.0f}min"
    return f"{seconds / 3600:.1f}h"


def render(outcome: BisectResult) -> str:
    """The answer as the terminal and answer.txt show it."""
    lines = [f"bisect: {outcome.message}"]
    info = outcome.first_bad
    if info is not None:
        lines += [f"  commit  {info.hash}", f"  subject {info.subject}", f"  date    {info.date}",
                  f"  files under {g.KERNEL_SOURCE}: " + (", ".join(info.files) or "none")]
    if outcome.explanation is not None:
        lines += ["", "model's explanation:"] + [f"  {line}" for line in outcome.explanation.lines()]
    lines += [f"note: {n}" for n in outcome.notes]
    if outcome.detail:
        lines += ["", "behaviour change (good end -> bad end, guest traces; first divergence first):"
                  if info is not None else "detail:", outcome.detail.rstrip()]
    return "\n".join(lines) + "\n"


def answer_json(outcome: BisectResult) -> dict[str, Any]:
    return {"exit_code": outcome.exit_code, "message": outcome.message,
            "first_bad": outcome.first_bad.to_json() if outcome.first_bad else None,
            "explanation": outcome.explanation.to_json() if outcome.explanation else None,
            "steps": [s.to_json() for s in outcome.steps],
            "tested_steps": sum(1 for s in outcome.steps if s.role == "step"), "notes": outcome.notes}
