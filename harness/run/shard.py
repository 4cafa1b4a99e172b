"""Shards: one run split over N CI jobs or Kubernetes pods, with no scheduler.

Every shard computes the same partition from the same inputs (the full list of
scenario names, N, and optionally the durations a previous run recorded), so
no shard needs to talk to another.  Shard indices are 0-based, like
Kubernetes' ``JOB_COMPLETION_INDEX``: ``--shard 0/4`` .. ``--shard 3/4``.

- Without durations: round robin over the sorted names (balanced by count).
- With durations (a previous ``summary.json``, whose verdicts carry ``seconds``):
  longest first onto the least-loaded shard (LPT), ties broken by shard index,
  so the partition is deterministic.  A name the previous run did not have
  weighs the median recorded duration.

``--shard auto`` (or ``auto/N``) takes the index from the environment: ``NH_SHARD``
(``I/N``), else ``JOB_COMPLETION_INDEX`` (Kubernetes Indexed Job; the count from
``N`` or ``NH_SHARD_COUNT``, which the Job manifest sets to ``completions``), else
GitLab's ``CI_NODE_INDEX``/``CI_NODE_TOTAL`` (1-based there, converted).
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.errors import UsageError

AUTO = "auto"


@dataclass(frozen=True)
class Shard:
    index: int  # 0-based
    count: int

    def __post_init__(self) -> None:
        if self.count < 1:
            raise UsageError(f"shard {self.index}/{self.count}: the count must be at least 1")
        if not 0 <= self.index < self.count:
            raise UsageError(f"shard {self.index}/{self.count}: the index must be 0..{self.count - 1} "
                             "(shards are 0-based, like JOB_COMPLETION_INDEX)")

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def to_json(self) -> dict[str, int]:
        return {"index": self.index, "count": self.count}


def _ints(text: str, what: str) -> tuple[int, int]:
    i, sep, n = text.partition("/")
    try:
        if not sep:
            raise ValueError
        return int(i), int(n)
    except ValueError:
        raise UsageError(f"{what}: {text!r} is not I/N (e.g. 0/4)") from None


def parse_shard(text: str, env: Mapping[str, str] | None = None) -> Shard:
    """``I/N``, ``auto`` or ``auto/N`` (see the module doc) -> Shard; bad input is exit 2."""
    env = os.environ if env is None else env
    head, _, tail = text.strip().partition("/")
    if head != AUTO:
        return Shard(*_ints(text.strip(), "--shard"))
    if tail:
        _ints(f"0/{tail}", "--shard auto/N")  # checks N
    if env.get("NH_SHARD") and not tail:
        return Shard(*_ints(env["NH_SHARD"], "NH_SHARD"))
    if env.get("JOB_COMPLETION_INDEX"):
        count = tail or env.get("NH_SHARD_COUNT")
        if not count:
            raise UsageError("--shard auto: JOB_COMPLETION_INDEX is set but not the count: "
                             "give --shard auto/N or set NH_SHARD_COUNT (the Job's completions)")
        return Shard(*_ints(f"{env['JOB_COMPLETION_INDEX']}/{count}", "JOB_COMPLETION_INDEX"))
    if env.get("CI_NODE_INDEX") and env.get("CI_NODE_TOTAL"):
        i, n = _ints(f"{env['CI_NODE_INDEX']}/{env['CI_NODE_TOTAL']}", "CI_NODE_INDEX/CI_NODE_TOTAL")
        return Shard(i - 1, int(tail) if tail else n)  # GitLab's parallel: counts from 1
    raise UsageError("--shard auto: none of NH_SHARD, JOB_COMPLETION_INDEX, CI_NODE_INDEX is set")


def partition(names: Sequence[str], count: int,
              durations: Mapping[str, float] | None = None) -> list[list[str]]:
    """All shards' names (each list sorted): disjoint, together exactly ``names``."""
    if count < 1:
        raise UsageError(f"shard count {count}: must be at least 1")
    unique = sorted(set(names))
    if len(unique) != len(names):
        dup = sorted({n for n in names if list(names).count(n) > 1})
        raise UsageError(f"cannot shard: scenario names repeat ({', '.join(dup[:5])})")
    shards: list[list[str]] = [[] for _ in range(count)]
    known = {n: float(d) for n, d in (durations or {}).items() if n in unique and d >= 0}
    if not known:
        for i, name in enumerate(unique):
            shards[i % count].append(name)
        return shards
    default = statistics.median(known.values())
    load = [0.0] * count
    for name in sorted(unique, key=lambda n: (-known.get(n, default), n)):
        best = min(range(count), key=lambda k: (load[k], len(shards[k]), k))
        shards[best].append(name)
        load[best] += known.get(name, default)
    return [sorted(s) for s in shards]


def select(names: Sequence[str], shard: Shard, durations: Mapping[str, float] | None = None) -> list[str]:
    """The names that shard runs (sorted)."""
    return partition(names, shard.count, durations)[shard.index]


def plan_id(names: Sequence[str], count: int, *context: str) -> str:
    """A fingerprint of what was split: every shard of one run has the same one.
    ``context`` is what else must agree (arch, profile, kernel)."""
    h = hashlib.sha256(json.dumps([sorted(names), count, list(context)]).encode())
    return h.hexdigest()[:16]


def load_durations(path: str | Path) -> dict[str, float]:
    """Scenario name -> seconds from a previous summary.json (or a results dir holding one).
    A scenario seen several times (arches, kernels) weighs its mean."""
    p = Path(path)
    if p.is_dir():
        p = p / "summary.json"
    try:
        data = json.loads(p.read_text())
        seen: dict[str, list[float]] = {}
        for v in data["verdicts"]:
            seen.setdefault(str(v["scenario"]), []).append(float(v["seconds"]))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UsageError(f"--durations {path}: not a harness summary.json with verdicts "
                         f"({type(e).__name__}: {e})") from None
    return {n: statistics.fmean(s) for n, s in seen.items()}


def run_id_from_env(env: Mapping[str, str] | None = None) -> str | None:
    """The id CI gives every job of one pipeline run, so shards of it can be merged:
    NH_RUN_ID (the Job manifest sets it to the Job's name), GitHub's run id (not the
    attempt: a re-run shard joins its run), GitLab's pipeline id."""
    env = os.environ if env is None else env
    if env.get("NH_RUN_ID"):
        return env["NH_RUN_ID"]
    if env.get("GITHUB_RUN_ID"):
        return f"github-{env['GITHUB_RUN_ID']}"
    if env.get("CI_PIPELINE_ID"):
        return f"gitlab-{env['CI_PIPELINE_ID']}"
    return None


@dataclass(frozen=True)
class ShardPlan:
    """What one shard of a run runs, and what identifies the run it is part of."""

    shard: Shard
    names: list[str]  # this shard's scenarios, sorted
    plan: str  # plan_id: equal in every shard of one run
    balanced_by: str  # "durations" or "count"

    def to_json(self) -> dict[str, object]:
        return {**self.shard.to_json(), "plan": self.plan, "balanced_by": self.balanced_by,
                "scenarios": self.names}


def plan_shard(shard: Shard, names: Sequence[str], durations_file: str | None,
               *context: str) -> ShardPlan:
    """The entry point for `run`, `nightly` and the pytest plugin: NAMES is the whole
    selection before sharding (every shard must see the same), CONTEXT what else
    must agree between the shards (arch, profile, kernel hash)."""
    durations = load_durations(durations_file) if durations_file else None
    mine = select(names, shard, durations)
    by = "durations" if durations and any(n in durations for n in names) else "count"
    return ShardPlan(shard, mine, plan_id(names, shard.count, *context), by)

