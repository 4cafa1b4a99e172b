"""`harness bisect` on real throwaway git repositories whose builds write SIMULATED kernels.

The repositories (conftest.make_repo) are real git history; the build command
really runs in a worktree; the kernels are simulated-kernel files booted on the
SIMULATED console, so the guest traces come through the real console protocol,
framing and normaliser.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import (
    BOOT_PANIC,
    BROKEN,
    CHANGE,
    FLAKY,
    SWITCH,
    Repo,
    answer,
    assert_clean,
    bisect_argv,
    git,
    make_repo,
)
from harness.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _index(repo: Repo, commit: str) -> int:
    return repo.commits.index(commit)


@pytest.mark.slow
def test_bisect_names_the_commit_through_a_broken_build_a_boot_panic_and_a_flaky_commit(
        tmp_path: Path, cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_repo(tmp_path)
    results = tmp_path / "results"
    rc = main(bisect_argv(repo, results))
    out = capsys.readouterr()
    assert rc == 0, out.err
    ans = answer(results)
    assert ans["first_bad"]["hash"] == repo.commits[CHANGE]
    assert ans["first_bad"]["subject"] == f"commit {CHANGE}: exec: tokenize #! lines"
    assert ans["first_bad"]["date"].startswith(f"2022-06-{CHANGE + 1:02d}")
    assert "sys/src/9/port/sysproc.c" in ans["first_bad"]["files"]
    assert ans["explanation"]["switches"] == [f"+{SWITCH}"]
    steps = [s for s in ans["steps"] if s["role"] == "step"]
    by_index = {_index(repo, s["commit"]): s for s in steps}
    # the commits git's bisection visits here include each kind of trouble
    assert by_index[BROKEN]["mark"] == "skip" and "build failed" in by_index[BROKEN]["why"]
    assert by_index[BOOT_PANIC]["mark"] == "skip" and "boot crash" in by_index[BOOT_PANIC]["why"]
    assert by_index[FLAKY]["mark"] == "good" and by_index[FLAKY]["flaky"]
    assert "2 good, 1 third-1 of 3 run(s) (majority threshold 2/3)" in by_index[FLAKY]["tally"]
    skips = sum(1 for s in steps if s["mark"] == "skip")
    in_range = len(repo.commits) - 1
    assert len(steps) <= math.ceil(math.log2(in_range)) + skips
    assert all(s["mark"] in ("good", "bad", "skip") for s in steps)
    # the terminal answer: commit, explanation, the behaviour change first divergence first
    assert repo.commits[CHANGE] in out.out and f"switch {SWITCH} turned on" in out.out
    assert "first divergence: step 3, process main, record 3, exec, field out.argv" in out.out
    assert f"note: step {repo.commits[FLAKY][:12]} was FLAKY: 2 good, 1 third-1 of 3" in out.out
    assert "bisect: step 1:" in out.err and "commit(s) left to test" in out.err
    (run,) = results.iterdir()
    summary = json.loads((run / "summary.json").read_text())  # the bisect's own run: finished, its exit code
    assert summary["command"] == "bisect" and summary["finished"] and summary["exit_code"] == 0
    # per step: build log, kernel sha256, console log, traces, the step's verdict and why
    for s in ans["steps"]:
        d = run / s["dir"]
        assert (d / "build.log").is_file() and (d / "verdict.json").is_file()
        if s["build"]["ok"]:
            sha = (d / "kernel.sha256").read_text().split()[0]
            assert sha == s["build"]["sha256"]
    flaky_dir = run / by_index[FLAKY]["dir"]
    assert "SIMULATED" in (flaky_dir / "run-0" / "console.log").read_text()
    assert (flaky_dir / "run-0" / "amd64" / "script-quote-seed.guest.jsonl").is_file()
    assert "panic:" in (flaky_dir / "run-2" / "console.log").read_text()
    kernel = subprocess.run(["git", "-C", str(repo.path), "show", f"{repo.commits[CHANGE]}:sys/src/9/port/kernel.toml"],
                            capture_output=True, check=True).stdout
    assert by_index[CHANGE]["build"]["sha256"] == hashlib.sha256(kernel).hexdigest()
    assert (run / "behaviour-change" / "script-quote-seed.diff.txt").is_file()
    assert_clean(repo)
    assert not any((cache / "bisect" / "worktrees").iterdir())
    # the log is git's own format: git bisect replay (in a clone) reaches the same commit
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo.path), str(clone))
    replay = subprocess.run(["git", "-C", str(clone), "bisect", "replay", str(run / "bisect.log")],
                            capture_output=True, text=True)
    assert f"{repo.commits[CHANGE]} is the first bad commit" in replay.stdout

    # a second bisect over the same range rebuilds nothing
    built = repo.builds()
    assert len(built) == len(set(built)) == len(ans["steps"])
    assert set(built) == {s["commit"] for s in ans["steps"]}
    results2 = tmp_path / "results2"
    rc = main(bisect_argv(repo, results2, "--runs", "1"))
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert repo.builds() == built
    assert "0 build(s) run" in out.out and "cached: built" in out.err
    assert answer(results2)["first_bad"]["hash"] == repo.commits[CHANGE]
    assert_clean(repo)

    # --boot-crash bad counts the boot panic as bad; the answer stays the same
    results3 = tmp_path / "results3"
    rc = main(bisect_argv(repo, results3, "--runs", "1", "--boot-crash", "bad"))
    assert rc == 0, capsys.readouterr().err
    ans3 = answer(results3)
    marks = {_index(repo, s["commit"]): s["mark"] for s in ans3["steps"] if s["role"] == "step"}
    assert marks[BOOT_PANIC] == "bad"
    assert ans3["first_bad"]["hash"] == repo.commits[CHANGE]


def test_ends_that_behave_the_same_are_bad_input(tmp_path: Path, cache: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_repo(tmp_path, n=20, broken=None, boot_panic=None, flaky=None)
    results = tmp_path / "r"
    # fork's copy-on-write does not see the #! change
    rc = main(_with_scenario(bisect_argv(repo, results, "--runs", "1"), ROOT / "testcases/rfork/cow.yaml"))
    assert rc == 2
    assert "the ends behave the same" in answer(results)["message"]
    assert "the ends behave the same" in capsys.readouterr().out
    assert_clean(repo)


def _with_scenario(argv: list[str], scenario: Path) -> list[str]:
    i = argv.index("--scenario")
    return [*argv[:i + 1], str(scenario), *argv[i + 2:]]


@pytest.mark.parametrize(("kw", "code", "words"), [
    ({"broken": 0}, 3, "the good end could not be built: build command exited 1"),
    ({"boot_panic": 7}, 3, "the bad end could not be booted: boot-crash in 2 of 2 run(s)"),
    ({"flaky": 0}, 1, "the good end does not behave reliably: 2 "),
])
def test_ends_are_verified_first(tmp_path: Path, cache: Path, kw: dict[str, int], code: int, words: str) -> None:
    repo = make_repo(tmp_path, n=8, change=4, broken=kw.get("broken"), boot_panic=kw.get("boot_panic"),
                     flaky=kw.get("flaky"))
    results = tmp_path / "r"
    # 4 runs of the flaky good end: runs 0..3 of script-quote-seed misbehave on 2 and 3
    runs = "4" if "flaky" in kw else "2"
    assert main(bisect_argv(repo, results, "--runs", runs)) == code
    ans = answer(results)
    assert words in ans["message"]
    assert ans["first_bad"] is None and not [s for s in ans["steps"] if s["role"] == "step"]
    assert_clean(repo)


def test_a_third_behaviour_stops_the_bisect_or_is_skipped(tmp_path: Path, cache: Path) -> None:
    # commit 3 panics in the scenario every time: neither end's behaviour.  It is the
    # last commit before the change, so any bisection must test it.
    repo = make_repo(tmp_path, n=8, change=4, broken=None, boot_panic=None, flaky=None,
                     faults={3: ["panic:script-quote-seed"]})
    results = tmp_path / "r"
    assert main(bisect_argv(repo, results, "--runs", "1")) == 1
    ans = answer(results)
    assert ans["message"].startswith(f"stopped: {repo.commits[3][:12]} 'commit 3' shows a third behaviour")
    last = ans["steps"][-1]
    assert last["mark"] == "third" and "guest crash: this panic, good end none" in last["why"]
    assert ans["first_bad"] is None
    (run,) = results.iterdir()
    assert (run / last["dir"] / "third-vs-good" / "script-quote-seed.diff.txt").is_file()
    # skipped instead, the bisection goes on and says what it cannot tell apart
    results2 = tmp_path / "r2"
    assert main(bisect_argv(repo, results2, "--runs", "1", "--third", "skip")) == 1
    ans2 = answer(results2)
    assert ans2["message"] == (f"the first bad commit could be any of 2 commits (the others were skipped): "
                               f"{repo.commits[3][:12]} {repo.commits[4][:12]}")
    assert any(s["mark"] == "skip" and "third behaviour, skipped by --third skip" in s["why"] for s in ans2["steps"])
    assert_clean(repo)


def test_everything_skipped_is_not_a_verdict(tmp_path: Path, cache: Path) -> None:
    repo = make_repo(tmp_path, n=3, change=2, broken=1, boot_panic=None, flaky=None)
    results = tmp_path / "r"
    assert main(bisect_argv(repo, results, "--runs", "1")) == 1
    msg = answer(results)["message"]
    assert msg.startswith("the first bad commit could be any of 2 commits")
    assert repo.commits[1][:12] in msg and repo.commits[2][:12] in msg
    # failed builds are cached like the others; --rebuild builds everything again
    assert len(repo.builds()) == 3
    assert main(bisect_argv(repo, tmp_path / "r2", "--runs", "1")) == 1
    assert len(repo.builds()) == 3
    assert main(bisect_argv(repo, tmp_path / "r3", "--runs", "1", "--rebuild")) == 1
    assert len(repo.builds()) == 6


def test_infrastructure_failures_are_retried_and_never_a_verdict(tmp_path: Path, cache: Path) -> None:
    # the bad end's console corrupts a record every time: a transport error, not behaviour
    repo = make_repo(tmp_path, n=8, change=4, broken=None, boot_panic=None, flaky=None,
                     faults={7: ["corrupt:script-quote-seed"]})
    results = tmp_path / "r"
    assert main(bisect_argv(repo, results, "--runs", "1", "--retries", "2")) == 3
    ans = answer(results)
    assert ans["message"].startswith("the bad end could not be run (infrastructure failures, retried): "
                                     "infra in 1 of 1 run(s): script-quote-seed: transport error")
    (run,) = results.iterdir()
    bad_end = run / ans["steps"][-1]["dir"]
    assert sorted(p.name for p in bad_end.glob("run-*")) == ["run-0", "run-1", "run-2"]


@pytest.mark.parametrize("argv_change", [
    ["--good", "no-such-rev"],
    ["--kernel-path", "/abs/9pc64"],
    ["--arch", "sparc"],
    ["--profile", "9front-1999"],
])
def test_bad_input_is_exit_2_before_anything_runs(tmp_path: Path, cache: Path, argv_change: list[str],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_repo(tmp_path, n=3, change=2, broken=None, boot_panic=None, flaky=None)
    argv = bisect_argv(repo, tmp_path / "r")
    if argv_change[0] in argv:
        argv[argv.index(argv_change[0]) + 1] = argv_change[1]
    else:
        argv += argv_change
    assert main(argv) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert repo.builds() == []
    assert not (tmp_path / "r").exists()


def test_a_worktree_left_by_a_killed_bisect_is_removed_by_the_next(tmp_path: Path, cache: Path) -> None:
    repo = make_repo(tmp_path, n=3, change=2, broken=None, boot_panic=None, flaky=None)
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = cache / "bisect" / "worktrees" / f"wt-{dead.pid}-killed"
    stale.parent.mkdir(parents=True)
    git(repo.path, "worktree", "add", "--detach", str(stale), repo.commits[0])
    assert main(bisect_argv(repo, tmp_path / "r", "--runs", "1")) == 0
    assert_clean(repo)
    assert not stale.exists()


def test_good_must_be_an_ancestor_of_bad(tmp_path: Path, cache: Path) -> None:
    repo = make_repo(tmp_path, n=3, change=2, broken=None, boot_panic=None, flaky=None)
    assert main(bisect_argv(repo, tmp_path / "r", good=2, bad=0)) == 2


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_mid_bisect_leaves_the_users_repository_clean(tmp_path: Path, cache: Path,
                                                               sig: signal.Signals) -> None:
    repo = make_repo(tmp_path, broken=None, boot_panic=None, flaky=None)
    argv = [sys.executable, "-m", "harness", *bisect_argv(repo, tmp_path / "r", "--runs", "1")]
    env = {**os.environ, "NINE_HARNESS_CACHE": str(cache)}
    p = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stderr is not None
    seen = []
    for line in p.stderr:  # wait until the bisection proper is under way
        seen.append(line)
        if line.startswith("bisect: step 1:"):
            break
    time.sleep(0.3)
    p.send_signal(sig)
    rest, _ = p.communicate(timeout=60)[1], None
    assert p.returncode == 130, "".join(seen) + rest
    assert "interrupted; worktree removed" in rest
    assert_clean(repo)
    assert not any((cache / "bisect" / "worktrees").iterdir())
    (run,) = (tmp_path / "r").iterdir()
    log = (run / "bisect.log").read_text()
    assert log.startswith("git bisect start\n") and "# interrupted" in log


def test_a_change_no_switch_explains_is_named_and_said_so(tmp_path: Path, cache: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    # from commit 4 on, the kernel panics in the scenario: no profile switch does that
    repo = make_repo(tmp_path, n=8, change=99, broken=None, boot_panic=None, flaky=None,
                     faults={i: ["panic:script-quote-seed"] for i in range(4, 8)})
    results = tmp_path / "r"
    assert main(bisect_argv(repo, results, "--runs", "1")) == 0
    ans = answer(results)
    assert ans["first_bad"]["hash"] == repo.commits[4]
    assert ans["explanation"]["explained"] is False and ans["explanation"]["switches"] == []
    out = capsys.readouterr().out
    assert "no switch explains it" in out and "guest crash panic" in out
