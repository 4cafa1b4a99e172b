"""The fuzzing loop: generate, run on the reference and the guest, diff, minimise, keep.

Deterministic on the model side: program I of seed S is a function of (S, I,
the corpus before I's batch); the corpus grows from the model's rule-site hits
only, in program order, so the same seed and batch size give the same
programs whatever the guest does and however many jobs run them.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.coverage.collect import Coverage
from harness.errors import HarnessError
from harness.files import write_atomic
from harness.fuzz import gen
from harness.fuzz.minimise import count_steps, minimise
from harness.fuzz.target import ModelTarget, Outcome, Target
from harness.report import text as rtext
from harness.scenario.compiler import Scenario
from harness.trace import diff as tdiff
from harness.trace.schema import CALL

BATCH = 32  # programs per guest batch (one delivery, one boot for a real guest)
MUTATE = 0.4  # share of programs made from a kept one once the corpus has any


@dataclass(frozen=True)
class Signature:
    """What kind of disagreement: the op, the field and how they differ."""

    op: str
    field: str
    kind: str

    @property
    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9_.+-]+", "_", f"{self.op}-{self.field}-{self.kind}").strip("_")

    def __str__(self) -> str:
        return f"{self.op} {self.field} {self.kind}"


def signature(result: tdiff.DiffResult | None, crash: str | None) -> Signature | None:
    if crash is not None:
        return Signature("guest", "crash", crash.split(":", 1)[0])
    if result is None or result.first is None:
        return None
    d = result.first
    if d.kind != tdiff.FIELD:
        return Signature(d.op or "?", "record", d.kind)
    present = (d.a is not None, d.b is not None)
    return Signature(d.op or "?", d.field or "record", "value" if all(present) else "presence")


@dataclass
class Finding:
    signature: Signature
    program: int  # the index of the first program that showed it
    doc: gen.Doc  # minimised
    original: gen.Doc
    diff: str
    seen: int = 1

    @property
    def steps(self) -> int:
        """The scenario's steps (a child or then block is part of its step)."""
        return len(self.doc["steps"])

    @property
    def statements(self) -> int:
        """Every step, those inside child and then blocks included."""
        return count_steps(self.doc["steps"])

    def to_json(self) -> dict[str, Any]:
        return {"signature": str(self.signature), "op": self.signature.op, "field": self.signature.field,
                "kind": self.signature.kind, "program": self.program, "steps": self.steps,
                "statements": self.statements,
                "original_steps": count_steps(self.original["steps"]), "seen": self.seen}


@dataclass
class Stats:
    programs: int = 0
    invalid: int = 0  # the compiler refused (never run)
    skipped: int = 0  # the model says it would hang: not sent to a guest
    divergences: int = 0
    infra: int = 0
    started: float = field(default_factory=time.monotonic)
    model_seconds: float = 0.0
    guest_seconds: float = 0.0

    def rate(self) -> float:
        return self.programs / max(1e-9, time.monotonic() - self.started)


@dataclass
class FuzzConfig:
    arch: str
    seed: int = 0
    programs: int | None = None
    budget: float | None = None  # seconds
    batch: int = BATCH
    minimise: bool = True
    max_findings: int | None = None  # stop once this many distinct divergences are found


class Fuzzer:
    """REFERENCE is the model (coverage and feedback come from it) or, kernel
    against kernel, a second guest (the model then runs beside it for
    coverage only).  GUESTS: one target per job."""

    def __init__(self, cfg: FuzzConfig, model: ModelTarget, guests: list[Target], out: Path,
                 reference: Target | None = None, echo: Callable[[str], None] | None = None) -> None:
        self.cfg = cfg
        self.model = model
        self.reference = reference
        self.guests = guests
        self.out = out
        self.echo = echo or (lambda s: None)
        self.coverage = Coverage(cfg.arch, model.profile_name)
        self.corpus: list[gen.Doc] = []
        self.outcomes: set[str] = set()  # op:errstr pairs the model has shown
        self.findings: dict[Signature, Finding] = {}
        self.stats = Stats()
        self.stop = threading.Event()
        self.in_play = in_play(cfg.arch, model.profile)

    # -- generation --------------------------------------------------------------
    def program(self, index: int) -> gen.Doc:
        rng = random.Random(f"pick:{self.cfg.seed}:{index}")
        if self.corpus and rng.random() < MUTATE:
            return mutate(rng.choice(self.corpus), rng, self.cfg.seed, index, self.cfg.arch)
        return gen.generate(self.cfg.seed, index, self.cfg.arch)

    def _done(self) -> bool:
        if self.stop.is_set():
            return True
        if self.cfg.programs is not None and self.stats.programs >= self.cfg.programs:
            return True
        if self.cfg.max_findings is not None and len(self.findings) >= self.cfg.max_findings:
            return True
        return self.cfg.budget is not None and time.monotonic() - self.stats.started >= self.cfg.budget

    # -- the loop ------------------------------------------------------------------
    def run(self) -> None:
        index = 0
        while not self._done():
            n = self.cfg.batch
            if self.cfg.programs is not None:
                n = min(n, self.cfg.programs - self.stats.programs)
            batch = []
            for _ in range(n):
                doc = self.program(index)
                doc["name"] = f"fuzz-{self.cfg.seed}-{index}"
                batch.append((index, doc))
                index += 1
            self.run_batch(batch)
            self.echo(self.progress_line())
        self.write_summary()

    def run_batch(self, batch: list[tuple[int, gen.Doc]]) -> None:
        ready: list[tuple[int, gen.Doc, Scenario, Outcome]] = []
        t0 = time.monotonic()
        for index, doc in batch:
            sc = _compile(doc, self.cfg.arch)
            self.stats.programs += 1
            if sc is None:
                self.stats.invalid += 1
                continue
            try:
                trace, hits = self.model.run_one(sc)
            except Exception as e:  # noqa: BLE001 - the model must never crash: that is a finding
                self.model_crash(index, doc, e)
                continue
            if any(r.out.get("hung") for r in trace.records):
                self.stats.skipped += 1  # a real guest would sit there until the timeout
                continue
            # kept: a new rule site, or a call failing a way no program made it fail
            # before (finer than the sites: one error() serves many calls)
            outcomes = {f"{r.op}:{r.err}" for r in trace.records if r.kind == CALL}
            new = self.coverage.add(doc["name"], hits) | (outcomes - self.outcomes)
            self.outcomes |= outcomes
            if new:
                self.corpus.append(doc)
            ready.append((index, doc, sc, Outcome(trace)))
        self.stats.model_seconds += time.monotonic() - t0
        if not ready:
            return
        t1 = time.monotonic()
        guest = self._on_guests([sc for _i, _d, sc, _o in ready])
        ref = self.reference.run_batch([sc for _i, _d, sc, _o in ready]) if self.reference else None
        self.stats.guest_seconds += time.monotonic() - t1
        for k, (index, doc, _sc, model_out) in enumerate(ready):
            if self.cfg.max_findings is not None and len(self.findings) >= self.cfg.max_findings:
                break
            a = ref[k] if ref is not None else model_out
            sig, result = self.judge(a, guest[k])
            if sig is None:
                continue
            self.stats.divergences += 1
            if sig in self.findings:
                self.findings[sig].seen += 1
                continue
            self.record(sig, index, doc, result)

    def _on_guests(self, scs: list[Scenario]) -> list[Outcome]:
        """SCS split over the job targets, in parallel; outcomes in order."""
        if len(self.guests) == 1:
            return self.guests[0].run_batch(scs)
        parts = [scs[i::len(self.guests)] for i in range(len(self.guests))]
        results: list[list[Outcome]] = [[] for _ in parts]

        def work(j: int) -> None:
            results[j] = self.guests[j].run_batch(parts[j]) if parts[j] else []

        threads = [threading.Thread(target=work, args=(j,), daemon=True) for j in range(len(parts))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        out: list[Outcome] = [Outcome(None, infra="lost")] * len(scs)
        for j, part in enumerate(results):
            for k, o in enumerate(part):
                out[j + k * len(self.guests)] = o
        return out

    def judge(self, a: Outcome, b: Outcome) -> tuple[Signature | None, tdiff.DiffResult | None]:
        if a.infra or b.infra or a.trace is None:
            self.stats.infra += int(bool(a.infra or b.infra))
            return None, None
        if b.crash is not None:
            return signature(None, b.crash), None
        if b.trace is None:
            return None, None
        result = tdiff.diff_traces(a.trace, b.trace)
        return signature(result, None), result

    # -- one disagreement ------------------------------------------------------------
    def still(self, sig: Signature) -> Callable[[list[gen.Doc]], list[bool]]:
        def test(docs: list[gen.Doc]) -> list[bool]:
            compiled = [(i, None if gen.unsafe(d) else _compile(d, self.cfg.arch)) for i, d in enumerate(docs)]
            real = [(i, sc) for i, sc in compiled if sc is not None]
            ans = [False] * len(docs)
            if not real:
                return ans
            scs = [sc for _i, sc in real]
            model = [self.model.run_one(sc)[0] for sc in scs]
            ref = self.reference.run_batch(scs) if self.reference else [Outcome(t) for t in model]
            guest = self._on_guests(scs)
            for k, (i, _sc) in enumerate(real):
                if any(r.out.get("hung") for r in model[k].records):
                    continue  # not sent to a guest while fuzzing either
                got, _r = self.judge(ref[k], guest[k])
                ans[i] = got == sig
            return ans

        return test

    def record(self, sig: Signature, index: int, doc: gen.Doc, result: tdiff.DiffResult | None) -> None:
        small = minimise(doc, self.still(sig)) if self.cfg.minimise else doc
        slug = f"{len(self.findings) + 1:03d}-{sig.slug}"
        small = dict(small)
        small["name"] = f"fuzz-{slug}"
        small["description"] = f"harness fuzz: {sig} (seed {self.cfg.seed}, program {index})"
        diff_text = self._diff_of(small, sig) or (rtext.render_text(result, color=False) if result else str(sig))
        f = Finding(sig, index, small, doc, diff_text)
        self.findings[sig] = f
        self.write_finding(slug, f)
        self.echo(f"fuzz: new divergence {sig}: program {index}, minimised to {f.steps} steps"
                  f" ({f.statements} with blocks)"
                  f" -> {self.out / 'findings' / slug}")

    def model_crash(self, index: int, doc: gen.Doc, e: Exception) -> None:
        """The model raised: a model bug (SPEC 7), minimised on the model alone."""
        import traceback

        self.stats.divergences += 1
        sig = Signature("model", "exception", type(e).__name__)
        if sig in self.findings:
            self.findings[sig].seen += 1
            return

        def still(docs: list[gen.Doc]) -> list[bool]:
            out = []
            for d in docs:
                sc = _compile(d, self.cfg.arch)
                try:
                    if sc is not None:
                        self.model.run_one(sc)
                    out.append(False)
                except Exception as e2:  # noqa: BLE001
                    out.append(type(e2) is type(e))
            return out

        small = minimise(doc, still) if self.cfg.minimise else doc
        slug = f"{len(self.findings) + 1:03d}-{sig.slug}"
        small = {**small, "name": f"fuzz-{slug}", "description": f"harness fuzz: the model raised {sig.kind}"}
        text = "".join(traceback.format_exception(e))
        f = Finding(sig, index, small, doc, f"the model raised (a model bug, not a kernel verdict):\n{text}")
        self.findings[sig] = f
        self.write_finding(slug, f)
        self.echo(f"fuzz: THE MODEL RAISED {type(e).__name__}: {e}: program {index} -> {self.out / 'findings' / slug}")

    def _diff_of(self, doc: gen.Doc, sig: Signature) -> str | None:
        sc = _compile(doc, self.cfg.arch)
        if sc is None:
            return None
        a = self.reference.run_batch([sc])[0] if self.reference else Outcome(self.model.run_one(sc)[0])
        b = self._on_guests([sc])[0]
        if b.crash is not None:
            return f"guest crash: {b.crash}\n"
        if a.trace is None or b.trace is None:
            return None
        return rtext.render_text(tdiff.diff_traces(a.trace, b.trace), color=False)

    # -- output ------------------------------------------------------------------------
    def write_finding(self, slug: str, f: Finding) -> None:
        d = self.out / "findings" / slug
        _mkdir(d)
        comment = (f"harness fuzz finding: {f.signature}\nseed {self.cfg.seed}, program {f.program},"
                   f" minimised from {len(f.original['steps'])} to {f.steps} steps\n"
                   f"reference: {(self.reference or self.model).label}; guest: {self.guests[0].label}")
        write_atomic(d / "scenario.yaml", gen.to_yaml(f.doc, comment))
        write_atomic(d / "original.yaml", gen.to_yaml(f.original, "the program as generated"))
        write_atomic(d / "diff.txt", f.diff)
        write_atomic(d / "finding.json", json.dumps(f.to_json(), indent=1) + "\n")

    def progress_line(self) -> str:
        s = self.stats
        return (f"fuzz: {s.programs} programs ({s.rate():.0f}/s), {s.divergences} divergences,"
                f" {len(self.findings)} distinct, coverage {len(self.coverage.reached())} of {self.in_play} sites,"
                f" corpus {len(self.corpus)}" + (f", {s.invalid} invalid" if s.invalid else "")
                + (f", {s.infra} infra" if s.infra else ""))

    def summary(self) -> dict[str, Any]:
        s = self.stats
        return {"arch": self.cfg.arch, "seed": self.cfg.seed, "programs": s.programs, "invalid": s.invalid,
                "skipped_hang": s.skipped, "divergences": s.divergences, "infra": s.infra,
                "elapsed_seconds": round(time.monotonic() - s.started, 3),
                "model_seconds": round(s.model_seconds, 3), "guest_seconds": round(s.guest_seconds, 3),
                "reference": (self.reference or self.model).label, "guest": self.guests[0].label,
                "simulated": any(g.simulated for g in self.guests),
                "findings": [f.to_json() | {"dir": f"findings/{i + 1:03d}-{f.signature.slug}"}
                             for i, f in enumerate(self.findings.values())],
                "coverage": self.coverage.to_json()}

    def write_summary(self) -> None:
        _mkdir(self.out / "corpus")
        write_atomic(self.out / "summary.json", json.dumps(self.summary(), indent=1) + "\n")
        for i, doc in enumerate(self.corpus):
            write_atomic(self.out / "corpus" / f"{i:04d}.yaml", gen.to_yaml(doc, "kept: reached new rule sites"))


def in_play(arch: str, profile: object) -> int:
    """The reachable rule sites a model of PROFILE on ARCH can reach."""
    from harness.coverage.sites import SITES
    from harness.model.profiles import Profile, get_profile

    prof = profile if isinstance(profile, Profile) else get_profile(str(profile))
    return sum(1 for s in SITES if s.reachable and s.applies(prof, arch))


def _mkdir(d: Path) -> None:
    from harness.files import write_error

    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise write_error(d, e) from None


def _compile(doc: gen.Doc, arch: str) -> Scenario | None:
    try:
        sc = gen.compile_doc(doc, arch)
    except HarnessError:
        return None
    assert isinstance(sc, Scenario)
    return sc


def mutate(doc: gen.Doc, rng: random.Random, seed: int, index: int, arch: str) -> gen.Doc:
    """A kept program changed: a step inserted, dropped or replaced, or a generated tail."""
    import copy

    base = copy.deepcopy(doc)
    st = gen.State(rng, arch, buffers=dict(base.get("buffers", {})), nvar=100 * (index + 1))
    st.segs = [s["as"] for s in base["steps"] if "segattach" in s and "as" in s]
    st.fds = [s["as"] for s in base["steps"] if any(k in s for k in ("open", "create", "dup")) and "as" in s]
    st.pids = [s["as"] for s in base["steps"] if "rfork" in s and "as" in s]
    steps = list(base["steps"])
    how = rng.random()
    if how < 0.4 or not steps:
        at = rng.randint(0, len(steps))
        steps[at:at] = gen.one_step(st)
    elif how < 0.6 and len(steps) > 1:
        del steps[rng.randrange(len(steps))]
    elif how < 0.8:
        at = rng.randrange(len(steps))
        steps[at:at + 1] = gen.one_step(st)
    else:
        steps += gen.one_step(st)
    return gen.document(steps, st.buffers, doc["name"])
