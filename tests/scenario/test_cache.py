"""Compiled scenarios are kept by content hash (harness/scenario/cache.py):
once per file in a process, shared across arches unless the program depends
on the arch, and on disk between processes; an edit or a broken entry is a miss."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.scenario import cache
from harness.scenario.compiler import compile_scenario

PLAIN = "covers: [sleep]\nsteps:\n  - sleep: 1\n"
AOUT = "covers: [exec]\nbuffers:\n  h: {aout: {text: 4096, entry: start}}\nsteps:\n  - nsec:\n"


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NINE_HARNESS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("NINE_HARNESS_COMPILE_CACHE", raising=False)
    cache.clear_memo()
    return tmp_path / "cache" / "compiled"


def _file(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_one_compile_per_file_shared_by_arches(tmp_path: Path, cache_dir: Path) -> None:
    p = _file(tmp_path, PLAIN)
    a = compile_scenario(p, "amd64")
    assert compile_scenario(p, "amd64") is a and compile_scenario(p, "arm64") is a
    assert len(list(cache_dir.glob("*.pickle"))) == 1


def test_an_arch_dependent_program_is_compiled_per_arch(tmp_path: Path, cache_dir: Path) -> None:
    p = _file(tmp_path, AOUT)
    amd, arm = compile_scenario(p, "amd64"), compile_scenario(p, "arm64")
    assert amd is not arm and amd.program.buffers["h"] != arm.program.buffers["h"]
    assert compile_scenario(p, "arm64") is arm
    assert len(list(cache_dir.glob("*.pickle"))) == 2


def test_disk_cache_serves_a_new_process_and_an_edit_misses(tmp_path: Path, cache_dir: Path) -> None:
    p = _file(tmp_path, PLAIN)
    first = compile_scenario(p).program.dumps()
    cache.clear_memo()
    again = compile_scenario(p)
    assert again.program.dumps() == first
    p.write_text(PLAIN.replace("sleep: 1", "sleep: 2"))
    assert "i:2" in compile_scenario(p).program.dumps()
    assert len(list(cache_dir.glob("*.pickle"))) == 2


def test_a_broken_entry_is_a_miss_and_is_rewritten(tmp_path: Path, cache_dir: Path) -> None:
    p = _file(tmp_path, PLAIN)
    want = compile_scenario(p).program.dumps()
    (entry,) = cache_dir.glob("*.pickle")
    entry.write_bytes(b"not a pickle")
    cache.clear_memo()
    assert compile_scenario(p).program.dumps() == want
    assert entry.read_bytes() != b"not a pickle"


def test_errors_are_never_cached(tmp_path: Path, cache_dir: Path) -> None:
    from harness.errors import ScenarioError

    p = _file(tmp_path, "covers: [sleep]\nsteps:\n  - sleep: nope\n")
    for _ in range(2):
        with pytest.raises(ScenarioError):
            compile_scenario(p)
    assert not cache_dir.exists() or not list(cache_dir.glob("*.pickle"))


def test_the_disk_level_can_be_turned_off(tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NINE_HARNESS_COMPILE_CACHE", "0")
    compile_scenario(_file(tmp_path, PLAIN))
    assert not cache_dir.exists()


def test_the_same_bytes_under_another_path_keep_their_own_path(tmp_path: Path, cache_dir: Path) -> None:
    a, b = _file(tmp_path, PLAIN, "a.yaml"), _file(tmp_path, PLAIN, "b.yaml")
    assert compile_scenario(a).path == str(a) and compile_scenario(b).path == str(b)
