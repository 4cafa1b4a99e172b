"""Throwaway 9front-like git repositories whose build writes SIMULATED kernel files.

Commit i (0-based) carries sys/src/9/port/kernel.toml, the simulated kernel
its build produces: the behaviour changes at CHANGE (shebang-tokenize turned
on, in a commit that touches sys/src/9/port/sysproc.c), BROKEN fails to build,
BOOT_PANIC panics at boot, FLAKY panics on some runs of the scenario.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "testcases" / "exec" / "script-quote-seed.yaml"
SWITCH = "shebang-tokenize"

BUILD_SH = """#!/bin/sh
# what a kernel build looks like to the harness: a command that leaves a kernel file
if [ -e sys/src/9/port/BROKEN ]; then echo 'mk: sys/src/9/port/BROKEN: syntax error' >&2; exit 1; fi
mkdir -p 9sim
cp sys/src/9/port/kernel.toml 9sim/9pc64
"""


@dataclass
class Repo:
    path: Path
    commits: list[str]  # oldest first
    builds_file: Path  # the build command appends NH_COMMIT to it

    @property
    def build_cmd(self) -> str:
        # also checks what the harness promises the command: cwd = NH_WORKTREE, at NH_COMMIT
        return (f'echo "$NH_COMMIT" >> {self.builds_file} && [ "$(cd "$NH_WORKTREE" && pwd -P)" = "$(pwd -P)" ] '
                f'&& [ "$(git rev-parse HEAD)" = "$NH_COMMIT" ] && sh build.sh')

    def builds(self) -> list[str]:
        return self.builds_file.read_text().split() if self.builds_file.exists() else []


def git(repo: Path, *args: str, date: str = "2022-06-01T12:00:00Z") -> str:
    # fixed names and dates: the same repository (the same hashes) every time,
    # so git's choice among equally good bisection points is the same too
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org",
           "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          env=env).stdout


def kernel_toml(i: int, change: int, boot_panic: int | None, flaky: int | None,
                faults: list[str] | None = None) -> str:
    switches = [f"+{SWITCH}"] if i >= change else []
    faults = list(faults or [])
    if i == boot_panic:
        faults.append("panic-at-boot")
    if i == flaky:
        faults.append(f"flaky:{SCENARIO.stem}")
    return (f'[simulated-kernel]\n# commit {i}\narch = "amd64"\nprofile = "9front-2022.05"\n'
            f"switches = {switches!r}\nfaults = {faults!r}\n").replace("'", '"')


# Where git's bisection of these 24 commits goes (test_bisect.py asserts it):
# 11 flaky but good, 17 panics at boot, 18 bad, 14 does not build, 15 bad,
# 13 bad, 12 good: 13 is the first bad commit.  (Other positions give other
# hashes, hence other choices between equally good bisection points.)
CHANGE, BROKEN, BOOT_PANIC, FLAKY = 13, 14, 17, 11


def make_repo(base: Path, n: int = 24, change: int = CHANGE, broken: int | None = BROKEN,
              boot_panic: int | None = BOOT_PANIC, flaky: int | None = FLAKY,
              faults: dict[int, list[str]] | None = None) -> Repo:
    """N commits; FAULTS: more simulated faults of commit i."""
    path = base / "9front"
    port = path / "sys" / "src" / "9" / "port"
    port.mkdir(parents=True)
    git(path, "init", "-q", "-b", "front")
    (path / "build.sh").write_text(BUILD_SH)
    (path / ".gitignore").write_text("9sim/\n")
    commits = []
    for i in range(n):
        (port / "kernel.toml").write_text(kernel_toml(i, change, boot_panic, flaky, (faults or {}).get(i)))
        with (port / "log.c").open("a") as f:
            f.write(f"/* change {i} */\n")
        if i == change:
            (port / "sysproc.c").write_text("/* #! lines: tokenize */\n")
        broken_file = port / "BROKEN"
        if i == broken:
            broken_file.write_text("oops\n")
        elif broken_file.exists():
            broken_file.unlink()
        git(path, "add", "-A")
        git(path, "commit", "-q", "-m", f"commit {i}" + (": exec: tokenize #! lines" if i == change else ""),
            date=f"2022-06-{i + 1:02d}T12:00:00Z")
        commits.append(git(path, "rev-parse", "HEAD").strip())
    return Repo(path, commits, base / "builds.txt")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "cache"
    monkeypatch.setenv("NINE_HARNESS_CACHE", str(d))
    return d


def assert_clean(repo: Repo) -> None:
    """The user's checkout as it was: no changes, one worktree, no bisect, branch and HEAD kept."""
    assert git(repo.path, "status", "--porcelain") == ""
    assert git(repo.path, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert not (repo.path / ".git" / "BISECT_LOG").exists()
    assert not (repo.path / ".git" / "BISECT_START").exists()
    assert git(repo.path, "for-each-ref", "refs/bisect") == ""
    assert git(repo.path, "symbolic-ref", "HEAD").strip() == "refs/heads/front"
    assert git(repo.path, "rev-parse", "HEAD").strip() == repo.commits[-1]
    assert not (repo.path / ".git" / "worktrees").exists() or not any((repo.path / ".git" / "worktrees").iterdir())


def bisect_argv(repo: Repo, results: Path, *extra: str, good: int = 0, bad: int = -1) -> list[str]:
    return ["bisect", "--repo", str(repo.path), "--good", repo.commits[good], "--bad", repo.commits[bad],
            "--arch", "amd64", "--build", repo.build_cmd, "--kernel-path", "9sim/9pc64",
            "--scenario", str(SCENARIO), "--results", str(results), *extra]


def answer(results: Path) -> dict[str, Any]:
    (run,) = results.iterdir()
    return dict(json.loads((run / "answer.json").read_text()))
