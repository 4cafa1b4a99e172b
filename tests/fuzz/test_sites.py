"""The rule-site registry against the model's code, the seed and the corpus's error-site table."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from harness.coverage import collect
from harness.coverage.sites import BY_ID, SITES, Kind, of_file
from harness.model.profiles import PROFILES
from tests.scenario.test_corpus import CORPUS, ERROR_SITES, SEED, UNREACHABLE_SITES, shared_text

MODEL = Path(__file__).resolve().parents[2] / "harness" / "model"


SITE_ID = re.compile(r"[a-z0-9/]+\.c(@[0-9a-f]{9})?:\d+")


def model_site_ids() -> dict[str, list[str]]:
    """Every site id of harness/model: string constants in rule(...) calls, and those shaped
    like a site id handed to rule() through a variable (a table of flag pairs, semseg's site)."""
    out: dict[str, list[str]] = {}
    for f in sorted(MODEL.glob("*.py")):
        tree = ast.parse(f.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "rule":
                assert node.args, f"{f.name}:{node.lineno}: rule() without a site"
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and SITE_ID.fullmatch(node.value):
                out.setdefault(node.value, []).append(f.name)
    return out


def test_every_site_the_model_marks_is_registered_and_every_reachable_one_is_marked() -> None:
    used = model_site_ids()
    assert set(used) - set(BY_ID) == set(), "rule() ids missing from harness/coverage/sites.py"
    unmarked = {s.id for s in SITES if s.reachable} - set(used)
    assert not unmarked, f"registered sites the model never marks: {sorted(unmarked)}"
    assert len(BY_ID) == len(SITES), "site ids are unique"


def test_site_ids_are_well_formed() -> None:
    for s in SITES:
        assert SITE_ID.fullmatch(s.id), s.id
        assert s.line > 0 and s.kernel_path.startswith("sys/src/9/")
        if s.switch:  # a switch's seed side is the seed's branch, its other side current's
            on = s.switch[0] == "+"
            assert s.switch[0] in "+-" and s.switch[1:] in PROFILES["9front-current"].switches
            assert s.applies(PROFILES["9front-2022.05"]) is not on, s.id
            assert s.applies(PROFILES["9front-current"]) is on, s.id


def test_sysproc_error_sites_are_the_corpus_table_and_the_seed() -> None:
    """The registry's error() sites of sysproc.c are exactly the corpus test's table
    (reached + unreachable), and each is an error( line of the seed."""
    errs = {s.line for s in of_file("sysproc.c") if s.kind is Kind.ERROR and s.commit == "e9bb7876e"}
    assert errs == set(ERROR_SITES) | set(UNREACHABLE_SITES)
    unreachable = {s.line for s in of_file("sysproc.c") if not s.reachable}
    assert unreachable == set(UNREACHABLE_SITES) | {97}
    lines = shared_text(SEED).splitlines()
    for n in errs:
        assert re.match(r"\s*error\(", lines[n - 1]), f"seed line {n} is not an error(): {lines[n - 1]!r}"


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["amd64", "mips"])
def test_the_corpus_reaches_every_error_site_of_its_table(arch: str) -> None:
    """The hit recorder agrees with the record-based check of test_corpus: the scenario
    the table names reaches the site's rule() on the model."""
    names = sorted({site.scenario for site in ERROR_SITES.values() if site.arch == arch})
    cov, skipped = collect.corpus([CORPUS / n for n in names], arch, "9front-2022.05", CORPUS)
    assert not skipped
    for line, site in ERROR_SITES.items():
        if site.arch != arch:
            continue
        who = cov.hits.get(f"sysproc.c:{line}", [])
        assert site.scenario in who, f"sysproc.c:{line}: {site.scenario} does not reach it (reached by {who})"


def test_switch_sites_follow_the_profile() -> None:
    """A seed branch is reached under the seed profile, its later commit's under current."""
    sc = [CORPUS / "fd" / "walk-errors-seed.yaml", CORPUS / "fd" / "walk-errors-current.yaml",
          CORPUS / "fd" / "boot-fds.yaml"]
    seed, _ = collect.corpus(sc, "amd64", "9front-2022.05")
    cur, _ = collect.corpus(sc, "amd64", "9front-current")
    assert {"chan.c:1246", "chan.c:1065", "initcode.c:27"} <= seed.reached()
    assert not {"chan.c@6eed7a478:1249", "initcode.c@e2509e765:40"} & seed.reached()
    assert {"chan.c@6eed7a478:1249", "chan.c@6eed7a478:1068", "initcode.c@e2509e765:40"} <= cur.reached()
    assert not {"chan.c:1246", "initcode.c:27"} & cur.reached()
