"""`harness merge` on real shard runs (SIMULATED guest): one summary, one JUnit file
(junitparser), one HTML report; shards of different runs and missing shards refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from junitparser import Failure, JUnitXml

from harness.cli import main
from harness.run.shard import Shard, select

CORPUS = Path(__file__).resolve().parents[2] / "testcases"
FILES = [str(CORPUS / f) for f in ("rfork/cow.yaml", "exits/short.yaml", "rfork/child-exits-await.yaml",
                                   "errstr/after-failure-seed.yaml", "rfork/bad-fdg-cfdg.yaml")]


def run_shards(base: Path, n: int, *extra: str, run_id: str = "night-1") -> list[Path]:
    dirs = []
    for i in range(n):
        out = base / f"s{i}"
        rc = main(["run", *FILES, "--simulate", "--arch", "amd64", "--shard", f"{i}/{n}",
                   "--run-id", run_id, "--results", str(out), "--timeout", "20", *extra])
        assert rc in (0, 1), rc
        [d] = list(out.iterdir())
        dirs.append(d)
    return dirs


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return run_shards(tmp_path_factory.mktemp("shards"), 3)


def test_shards_of_a_run_cover_it_once(three: list[Path]) -> None:
    ran = [[v["scenario"] for v in json.loads((d / "summary.json").read_text())["verdicts"]] for d in three]
    names = sorted(Path(f).stem for f in FILES)
    assert sorted(x for r in ran for x in r) == names
    assert [sorted(r) for r in ran] == [select(names, Shard(i, 3)) for i in range(3)]
    for d, names in zip(three, ran, strict=True):  # each run also wrote its JUnit file
        assert sorted(c.name for suite in JUnitXml.fromfile(str(d / "junit.xml")) for c in suite) == sorted(names)
    shard = json.loads((three[1] / "summary.json").read_text())["shard"]
    assert shard["index"] == 1 and shard["count"] == 3 and shard["scenarios"] == sorted(ran[1])


def test_merge_makes_one_summary_junit_and_report(three: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "merged"
    (three[0] / "vm0").mkdir(exist_ok=True)
    (three[0] / "vm0" / "deliver.qcow2").write_bytes(b"QFI\xfb")  # a VM disk: an input, not a result
    assert main(["merge", *map(str, three), "--out", str(out)]) == 0
    assert (out / "shard-0" / "vm0").is_dir() and not (out / "shard-0" / "vm0" / "deliver.qcow2").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run_id"] == "night-1" and summary["finished"] is True
    assert summary["counts"] == {"pass": len(FILES)} and summary["exit_code"] == 0
    assert [s["index"] for s in summary["shards"]] == [0, 1, 2]
    for v in summary["verdicts"]:
        for rel in v["files"].values():
            assert (out / rel).is_file(), rel  # the shard's artefacts came along
    xml = JUnitXml.fromfile(str(out / "junit.xml"))
    cases = sorted(c.name for suite in xml for c in suite)
    assert cases == sorted(Path(f).stem for f in FILES) and xml.tests == len(FILES)
    page = (out / "report.html").read_text()
    assert "SIMULATED" in page and all(Path(f).stem in page for f in FILES)
    assert "shard-0/amd64/" in page  # links into the copied shard


def test_a_parent_directory_stands_for_its_shards(three: list[Path], tmp_path: Path) -> None:
    volume = tmp_path / "vol"
    volume.mkdir()
    for d in three:
        (volume / d.name).symlink_to(d)
    assert main(["merge", str(volume), "--out", str(volume / "merged")]) == 0
    assert json.loads((volume / "merged" / "summary.json").read_text())["counts"] == {"pass": len(FILES)}


def test_a_missing_shard_is_named(three: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["merge", str(three[0]), str(three[2]), "--out", str(tmp_path / "m")]) == 2
    assert "shard 1/3 missing" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_a_retried_shard_counts_once_its_latest_finished_attempt(three: list[Path], tmp_path: Path) -> None:
    volume = tmp_path / "vol"
    for d in three:
        shutil.copytree(d, volume / "shard" / d.name, symlinks=True)
    # an earlier attempt of shard 1 that died (a pod that lost its node): superseded
    first = json.loads((three[1] / "summary.json").read_text())
    first.update(finished=False, exit_code=3, started="2000-01-01T00:00:00", verdicts=first["verdicts"][:1])
    (volume / "attempt-1").mkdir()
    (volume / "attempt-1" / "summary.json").write_text(json.dumps(first))
    out = volume / "merged"
    assert main(["merge", str(volume), str(volume / "attempt-1"), "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"] == {"pass": len(FILES)} and summary["finished"] is True
    assert [s["source"] for s in summary["superseded"]] == [str(volume / "attempt-1")]
    # merging the volume again skips the merged output inside it
    assert main(["merge", str(volume), "--out", str(tmp_path / "again")]) == 0


def test_shards_of_different_runs_are_refused(three: list[Path], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    other = run_shards(tmp_path / "other", 3, run_id="night-2")
    assert main(["merge", str(three[0]), str(other[1]), str(three[2]), "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert "different runs" in err and "night-2" in err


def test_an_unsharded_run_is_not_a_shard(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", FILES[0], "--simulate", "--arch", "amd64", "--results", str(tmp_path / "r")]) == 0
    [d] = list((tmp_path / "r").iterdir())
    assert main(["merge", str(d), "--out", str(tmp_path / "m")]) == 2
    assert "not a shard" in capsys.readouterr().err


def test_junit_is_one_suite_per_shard_and_a_crash_fails_the_run(tmp_path: Path) -> None:
    crash = Path(FILES[1]).stem
    dirs = run_shards(tmp_path / "runs", 2, "--fault", f"panic:{crash}")
    own = {d: JUnitXml.fromfile(str(d / "junit.xml")) for d in dirs}  # `harness run` writes one
    out = tmp_path / "m"
    assert main(["merge", *map(str, dirs), "--out", str(out)]) == 1
    xml = JUnitXml.fromfile(str(out / "junit.xml"))
    by_suite = {s.name: sorted(c.name for c in s) for s in xml}
    assert sorted(by_suite) == ["shard-0", "shard-1"]
    assert sorted(n for names in by_suite.values() for n in names) == sorted(Path(f).stem for f in FILES)
    # the merged suites are what each shard's own junit.xml said (one writer: harness.report.junit)
    for i, d in enumerate(dirs):
        assert by_suite[f"shard-{i}"] == sorted(c.name for s in own[d] for c in s)
    failed = [c.name for s in xml for c in s if c.result and isinstance(c.result[0], Failure)]
    assert failed == [crash]
    summary = json.loads((out / "summary.json").read_text())
    crashed = [v for v in summary["verdicts"] if v["status"] == "guest-crash"]
    assert [v["scenario"] for v in crashed] == [crash]


def test_a_killed_shard_contributes_what_its_journal_kept(three: list[Path], tmp_path: Path) -> None:
    """A shard SIGKILLed mid-run never wrote its final summary: its verdicts come from
    verdicts.jsonl, and the merged run is incomplete (exit 3)."""
    killed = tmp_path / "killed"
    shutil.copytree(three[1], killed)
    s = json.loads((killed / "summary.json").read_text())
    kept = s["verdicts"]
    s.update(verdicts=[], ended=False, finished=False)  # as written at the start of the run
    (killed / "summary.json").write_text(json.dumps(s))
    assert main(["merge", str(three[0]), str(killed), str(three[2]), "--out", str(tmp_path / "m")]) == 3
    merged = json.loads((tmp_path / "m" / "summary.json").read_text())
    assert sorted(v["scenario"] for v in merged["verdicts"] if v["shard"] == 1) == sorted(v["scenario"] for v in kept)
    xml = JUnitXml.fromfile(str(tmp_path / "m" / "junit.xml"))
    assert sorted(c.name for s in xml if s.name == "shard-1" for c in s) == sorted(v["scenario"] for v in kept)


def test_an_interrupted_shard_makes_the_merged_run_incomplete(three: list[Path], tmp_path: Path) -> None:
    copies = []
    for d in three:
        c = tmp_path / d.name
        c.mkdir()
        (c / "summary.json").write_text((d / "summary.json").read_text())
        copies.append(c)
    s = json.loads((copies[2] / "summary.json").read_text())
    s["finished"] = False
    (copies[2] / "summary.json").write_text(json.dumps(s))
    assert main(["merge", *map(str, copies), "--out", str(tmp_path / "m")]) == 3
    assert json.loads((tmp_path / "m" / "summary.json").read_text())["finished"] is False


def test_same_run_id_but_a_different_split_is_refused(three: list[Path], tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    # what a shard that booted another kernel (or selected other scenarios) looks like
    other = tmp_path / "other"
    shutil.copytree(three[1], other, symlinks=True)
    s = json.loads((other / "summary.json").read_text())
    s["shard"]["plan"] = "0123456789abcdef"
    (other / "summary.json").write_text(json.dumps(s))
    assert main(["merge", str(three[0]), str(other), str(three[2]), "--out", str(tmp_path / "m")]) == 2
    assert "split different runs (shard plan" in capsys.readouterr().err


def test_run_balances_by_a_previous_summary(three: list[Path], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    from harness.run.shard import load_durations

    merged = tmp_path / "m"
    assert main(["merge", *map(str, three), "--out", str(merged)]) == 0
    capsys.readouterr()
    assert main(["run", *FILES, "--simulate", "--arch", "amd64", "--shard", "1/2", "--durations",
                 str(merged / "summary.json"), "--results", str(tmp_path / "r")]) == 0
    assert "balanced by durations" in capsys.readouterr().out
    [d] = list((tmp_path / "r").iterdir())
    ran = sorted(v["scenario"] for v in json.loads((d / "summary.json").read_text())["verdicts"])
    names = [Path(f).stem for f in FILES]
    assert ran == select(names, Shard(1, 2), load_durations(merged))
