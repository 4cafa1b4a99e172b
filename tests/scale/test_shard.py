"""Shard selection (harness.run.shard): disjoint, complete, deterministic, balanced."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.errors import UsageError
from harness.run.shard import Shard, load_durations, parse_shard, partition, plan_shard, select

NAMES = st.lists(st.text("abcdefghij-", min_size=1, max_size=8), unique=True, max_size=60)
COUNTS = st.integers(1, 12)


@given(NAMES, COUNTS)
def test_by_count_disjoint_complete_balanced(names: list[str], n: int) -> None:
    parts = partition(names, n)
    flat = [x for p in parts for x in p]
    assert sorted(flat) == sorted(names) and len(flat) == len(set(flat))
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    assert parts == partition(list(reversed(names)), n)  # order of discovery does not matter
    assert [select(names, Shard(i, n)) for i in range(n)] == parts


@given(st.dictionaries(st.text("abcdefghij", min_size=1, max_size=6),
                       st.floats(0, 1000, allow_nan=False), max_size=50),
       st.lists(st.text("klmnop", min_size=1, max_size=4), unique=True, max_size=10), COUNTS)
def test_by_durations_disjoint_complete_and_near_ideal(durations: dict[str, float], new: list[str],
                                                       n: int) -> None:
    names = sorted(durations) + new  # new: scenarios the previous run did not have
    parts = partition(names, n, durations)
    flat = [x for p in parts for x in p]
    assert sorted(flat) == sorted(names) and len(flat) == len(set(flat))
    assert parts == partition(list(reversed(names)), n, dict(reversed(list(durations.items()))))
    if durations and not new:
        loads = [sum(durations[x] for x in p) for p in parts]
        # greedy onto the least-loaded shard: no shard exceeds the mean by more than one scenario
        assert max(loads) <= sum(loads) / n + max(durations.values()) + 1e-6


def test_durations_beat_count_on_a_skewed_run() -> None:
    durations = {"slow": 100.0, **{f"q{i:02}": 1.0 for i in range(10)}}
    by_count = partition(sorted(durations), 2)
    by_time = partition(sorted(durations), 2, durations)
    load = [sum(durations[x] for x in p) for p in by_time]
    assert by_time[0] == ["slow"] or by_time[1] == ["slow"]
    assert max(load) == 100.0
    assert max(sum(durations[x] for x in p) for p in by_count) > 100.0


@pytest.mark.parametrize(("text", "env", "want"), [
    ("0/4", {}, Shard(0, 4)),
    ("3/4", {}, Shard(3, 4)),
    ("auto", {"NH_SHARD": "2/5"}, Shard(2, 5)),
    ("auto/3", {"JOB_COMPLETION_INDEX": "2"}, Shard(2, 3)),
    ("auto", {"JOB_COMPLETION_INDEX": "0", "NH_SHARD_COUNT": "2"}, Shard(0, 2)),
    ("auto", {"CI_NODE_INDEX": "1", "CI_NODE_TOTAL": "3"}, Shard(0, 3)),  # GitLab counts from 1
])
def test_parse(text: str, env: dict[str, str], want: Shard) -> None:
    assert parse_shard(text, env) == want


@pytest.mark.parametrize(("text", "env", "message"), [
    ("4/4", {}, "0..3"),
    ("-1/4", {}, "0..3"),
    ("1/0", {}, "at least 1"),
    ("1", {}, "not I/N"),
    ("a/b", {}, "not I/N"),
    ("auto", {}, "none of NH_SHARD"),
    ("auto", {"JOB_COMPLETION_INDEX": "1"}, "NH_SHARD_COUNT"),
    ("auto/2", {"JOB_COMPLETION_INDEX": "2"}, "0..1"),
])
def test_parse_refuses(text: str, env: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_shard(text, env)


def test_durations_from_a_summary(tmp_path: Path) -> None:
    (tmp_path / "summary.json").write_text(json.dumps({"verdicts": [
        {"scenario": "a", "seconds": 2.0}, {"scenario": "a", "seconds": 4.0}, {"scenario": "b", "seconds": 1.0}]}))
    assert load_durations(tmp_path) == {"a": 3.0, "b": 1.0}
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(UsageError, match="not a harness summary"):
        load_durations(tmp_path / "bad.json")


def test_plan_id_agrees_between_shards_and_changes_with_the_run() -> None:
    names = ["a", "b", "c"]
    plans = [plan_shard(Shard(i, 2), names, None, "amd64", "p") for i in range(2)]
    assert plans[0].plan == plans[1].plan and plans[0].names + plans[1].names == ["a", "c", "b"]
    assert plan_shard(Shard(0, 2), names, None, "arm64", "p").plan != plans[0].plan
    assert plan_shard(Shard(0, 3), names, None, "amd64", "p").plan != plans[0].plan
    with pytest.raises(UsageError, match="repeat"):
        partition(["a", "a"], 2)
