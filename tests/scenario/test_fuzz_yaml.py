"""Hypothesis fuzzing of scenario YAML: whatever the text, the loader and the
compiler either compile it or raise one ScenarioError naming the file and a
line; nothing else escapes (no RecursionError, MemoryError, ValueError,
TypeError ...).  What compiles parses back and runs on the model."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.errors import ScenarioError
from harness.model.machine import Machine
from harness.ops import HANDLER_MODES, OPS, PROBE_NAMES
from harness.program import parse
from harness.scenario.compiler import compile_document
from harness.scenario.constants import ALL as CONSTANTS
from harness.scenario.loader import load_yaml_text

CORPUS = Path(__file__).resolve().parents[2] / "testcases"
SEEDS = sorted(p.read_text() for p in CORPUS.rglob("*.yaml") if p.stat().st_size < 4000)

WORDS = st.sampled_from([*OPS, *PROBE_NAMES, *HANDLER_MODES, *list(CONSTANTS)[:12], "b", "buf", "$kid", "$pid",
                         "text", "end+8", "stack", "kid", "main", "size", "repeat", "times", "pad", "aout",
                         "hex", "expect", "ret", "out.text", "child", "then", "as", "covers", "steps", "buffers"])
SCALARS = st.one_of(
    st.none(), st.booleans(), WORDS,
    st.integers(-(1 << 70), 1 << 70), st.integers(-3, 300),
    st.text(max_size=12), st.sampled_from(["0x10", "RFPROC|RFFDG", "-1", "1e3", ".nan", "~", "'", "\x0b", "\u2028"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(WORDS, inner, max_size=4)),
    max_leaves=20,
)


@st.composite
def scenario_docs(draw: st.DrawFn) -> str:
    """Scenario-shaped documents: real keys and ops, random values."""
    steps = []
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.sampled_from(sorted(OPS)))
        step = {op: draw(VALUES)}
        if draw(st.booleans()):
            step[draw(st.sampled_from(["as", "child", "then", "expect", "doc"]))] = draw(VALUES)
        steps.append(step)
    doc = {"covers": draw(st.one_of(st.just(["x"]), VALUES)), "steps": steps}
    if draw(st.booleans()):
        doc["buffers"] = draw(st.dictionaries(WORDS, VALUES, max_size=3))
    if draw(st.booleans()):
        doc[draw(WORDS)] = draw(VALUES)
    return yaml.safe_dump(doc, allow_unicode=True)


@st.composite
def mutated_seeds(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        j = min(len(text), i + draw(st.integers(0, 8)))
        piece = draw(st.one_of(st.text(max_size=6), st.sampled_from(
            ["[", "]", "{", "}", ": ", "- ", "\n  ", "&a ", "*a", "!!python/object:x", "0x" + "f" * 20,
             "99999999999", "-5", "'", '"', "\t", "\n- child:\n  - ", "%YAML 1.1\n"])))
        text = text[:i] + piece + text[j:]
    return text


def _compile_or_clean_error(text: str, tmp_path: Path) -> None:
    name = str(tmp_path / "fuzz.yaml")
    try:
        sc = compile_document(load_yaml_text(text, name), name, "amd64")
    except ScenarioError as e:
        assert e.path == name and isinstance(e.line, int) and e.line >= 0
        assert "\n" not in str(e)
        return
    prog = parse(sc.program.dumps())
    assert prog.blocks.keys() == sc.program.blocks.keys()
    recs = Machine("amd64", "9front-2022.05").run(sc.program)
    assert recs and recs[0].kind == "start"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(scenario_docs())
def test_scenario_shaped_yaml_compiles_or_fails_cleanly(tmp_path: Path, text: str) -> None:
    _compile_or_clean_error(text, tmp_path)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(mutated_seeds())
def test_mutated_corpus_files_compile_or_fail_cleanly(tmp_path: Path, text: str) -> None:
    _compile_or_clean_error(text, tmp_path)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=200))
def test_any_text_compiles_or_fails_cleanly(tmp_path: Path, text: str) -> None:
    _compile_or_clean_error(text, tmp_path)
