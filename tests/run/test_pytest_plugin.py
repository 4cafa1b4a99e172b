"""The pytest plugin: opt-in collection, items per arch on the model, one booted guest per session."""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
QUOTE = REPO / "testcases" / "exec" / "script-quote-seed.yaml"  # diverges on +shebang-tokenize

GOOD = """covers: [rfork]
steps:
  - rfork: [RFFDG, RFCFDG]
    expect: {ret: -1, err: bad arg in system call}
"""
BAD = """covers: [rfork]
steps:
  - rfork: [RFFDG, RFCFDG]
    expect: {ret: 0}
"""
MALFORMED = """covers: [rfork]
steps:
  - rfork: [RFFDG, NO_SUCH_FLAG]
"""


def _pytest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)


def test_scenarios_become_items_per_arch(tmp_path: Path) -> None:
    cases = tmp_path / "testcases" / "rfork"
    cases.mkdir(parents=True)
    (cases / "good.yaml").write_text(GOOD)
    (cases / "bad.yaml").write_text(BAD)
    proc = _pytest(tmp_path, "testcases", "--nh-arch", "amd64,arm64")
    assert "2 failed, 2 passed" in proc.stdout, proc.stdout + proc.stderr
    assert "bad.yaml::amd64" in proc.stdout
    assert "ret: expected 0, got -1" in proc.stdout
    assert "nine-harness: 4 scenarios on 0 booted guests" in proc.stdout


def test_collection_is_opt_in(tmp_path: Path) -> None:
    cases = tmp_path / "testcases"
    cases.mkdir()
    (cases / "good.yaml").write_text(GOOD)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.yaml").write_text(GOOD)
    assert "no tests ran" in _pytest(tmp_path, "testcases").stdout  # nobody asked
    assert "no tests ran" in _pytest(tmp_path, "other", "--nh-arch", "amd64").stdout  # not under testcases/
    (tmp_path / "pytest.ini").write_text("[pytest]\nnh_collect = true\n")
    assert "3 passed" in _pytest(tmp_path, "testcases").stdout  # the ini asks: one item per default arch
    (tmp_path / "pytest.ini").unlink()
    (tmp_path / "other" / "nine-harness.toml").write_text("")
    proc = _pytest(tmp_path, "other", "--nh-arch", "amd64")
    assert "1 passed" in proc.stdout, proc.stdout + proc.stderr  # the directory asks


def test_old_unprefixed_options_are_gone(tmp_path: Path) -> None:
    proc = _pytest(tmp_path, "--arch", "amd64")
    assert proc.returncode == 4 and "unrecognized arguments: --arch" in proc.stderr


def test_a_malformed_scenario_fails_with_its_one_line(tmp_path: Path) -> None:
    cases = tmp_path / "testcases"
    cases.mkdir()
    (cases / "broken.yaml").write_text(MALFORMED)
    proc = _pytest(tmp_path, "testcases", "--nh-arch", "amd64", "-rf")
    assert "1 failed" in proc.stdout, proc.stdout + proc.stderr
    assert "broken.yaml:3: " in proc.stdout and "NO_SUCH_FLAG" in proc.stdout
    assert "Traceback" not in proc.stdout and "harness/scenario" not in proc.stdout


def _sim_corpus(tmp_path: Path, passing: int) -> Path:
    cases = tmp_path / "testcases"
    cases.mkdir()
    shutil.copy(QUOTE, cases / QUOTE.name)
    for n in range(passing):
        (cases / f"good{n}.yaml").write_text(GOOD)
    k = tmp_path / "9sim"
    k.write_text('[simulated-kernel]\narch = "amd64"\nswitches = ["+shebang-tokenize"]\n')
    return k


def _boots(results: Path) -> list[int]:
    """Simulators started per results directory (each pid the backend ever had)."""
    return sorted(len((d / "sim0" / "simulator.pid").read_text().split()) for d in results.iterdir())


def test_one_guest_for_the_session_and_the_diff_in_junit(tmp_path: Path) -> None:
    k = _sim_corpus(tmp_path, passing=3)
    proc = _pytest(tmp_path, "testcases", "--nh-kernel", str(k), "--junitxml", "junit.xml")
    out = proc.stdout + proc.stderr
    assert "1 failed, 3 passed" in proc.stdout, out
    assert "nine-harness: 4 scenarios on 1 booted guests" in proc.stdout, out
    assert _boots(tmp_path / "results") == [1]
    assert "SIMULATED kernel amd64" in proc.stdout
    (failure,) = ET.parse(tmp_path / "junit.xml").getroot().iter("failure")
    text = failure.text or ""
    assert "first divergence" in text.lower() or "@@" in text or "model" in text, text
    assert "diff: " in text and "script-quote-seed.diff.txt" in text
    diff_file = Path(text.rsplit("diff: ", 1)[1].split()[0])
    assert diff_file.is_file() and diff_file.read_text().strip().splitlines()[0] in text


def test_one_guest_per_xdist_worker(tmp_path: Path) -> None:
    k = _sim_corpus(tmp_path, passing=7)
    proc = _pytest(tmp_path, "testcases", "--nh-kernel", str(k), "-n", "2")
    out = proc.stdout + proc.stderr
    assert "1 failed, 7 passed" in proc.stdout, out
    assert "nine-harness: 8 scenarios on 2 booted guests" in proc.stdout, out
    assert _boots(tmp_path / "results") == [1, 1]  # one results directory and one boot per worker


def test_an_infra_verdict_is_an_error_not_a_failure(tmp_path: Path) -> None:
    cases = tmp_path / "testcases"
    cases.mkdir()
    (cases / "good.yaml").write_text(GOOD)
    k = tmp_path / "9sim"
    k.write_text('[simulated-kernel]\narch = "amd64"\nfaults = ["corrupt"]\n')
    proc = _pytest(tmp_path, "testcases", "--nh-kernel", str(k))
    assert "1 error" in proc.stdout and "failed" not in proc.stdout, proc.stdout + proc.stderr
    assert "infra-error" in proc.stdout and "Traceback" not in proc.stdout


def test_two_scenarios_of_one_name_are_refused_before_the_boot(tmp_path: Path) -> None:
    for d in ("a", "b"):
        (tmp_path / "testcases" / d).mkdir(parents=True)
        (tmp_path / "testcases" / d / "same.yaml").write_text(GOOD)
    k = tmp_path / "9sim"
    k.write_text('[simulated-kernel]\narch = "amd64"\n')
    proc = _pytest(tmp_path, "testcases", "--nh-kernel", str(k))
    assert "two scenarios are named 'same'" in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists()  # nothing booted
