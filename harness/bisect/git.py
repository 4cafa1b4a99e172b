"""The git side of a bisect: read-only queries of the user's tree and one worktree of our own.

The user's checkout, branch, index and refs are never touched: every commit is
checked out in a detached worktree that is removed at the end (also on a
signal), and the bisection is done here, by hand, with ``git rev-list
--bisect-all`` (git bisect itself would share refs/bisect with the user's
checkout).  The log is kept in ``git bisect log`` format, so ``git bisect
replay`` can replay it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness.errors import InfraError, UsageError

KERNEL_SOURCE = "sys/src/9"  # the answer lists the first bad commit's files under it


class GitError(InfraError):
    pass


def git(repo: Path, *args: str, check: bool = True) -> str:
    try:
        p = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=600)
    except FileNotFoundError:
        raise GitError("git is not installed") from None
    if check and p.returncode != 0:
        raise GitError(f"git {' '.join(args)}: {p.stderr.strip() or p.stdout.strip()}")
    return p.stdout


def open_repo(path: str) -> Path:
    """The top of the work tree (or the git dir of a bare repository) PATH is in; exit 2 if none."""
    p = Path(path)
    if not p.is_dir():
        raise UsageError(f"--repo {path}: no such directory")
    try:
        out = subprocess.run(["git", "-C", str(p), "rev-parse", "--absolute-git-dir"], capture_output=True,
                             text=True, timeout=60)
    except FileNotFoundError:
        raise GitError("git is not installed") from None
    if out.returncode != 0:
        raise UsageError(f"--repo {path}: not a git repository")
    return p.resolve()


def resolve(repo: Path, rev: str, flag: str) -> str:
    out = subprocess.run(["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise UsageError(f"{flag} {rev}: no such commit in {repo}")
    return out.stdout.strip()


def is_ancestor(repo: Path, a: str, b: str) -> bool:
    return subprocess.run(["git", "-C", str(repo), "merge-base", "--is-ancestor", a, b],
                          capture_output=True, timeout=60).returncode == 0


@dataclass(frozen=True)
class CommitInfo:
    hash: str
    subject: str
    date: str  # committer date, ISO 8601
    files: tuple[str, ...]  # changed under KERNEL_SOURCE

    @property
    def short(self) -> str:
        return self.hash[:12]

    def to_json(self) -> dict[str, object]:
        return {"hash": self.hash, "subject": self.subject, "date": self.date, "files": list(self.files)}


def commit_info(repo: Path, commit: str) -> CommitInfo:
    h, subject, date = git(repo, "show", "-s", "--format=%H%x00%s%x00%cI", commit).rstrip("\n").split("\0")
    files = git(repo, "diff-tree", "--root", "-r", "-m", "--first-parent", "--no-commit-id", "--name-only",
                commit, "--", KERNEL_SOURCE).split()
    return CommitInfo(h, subject, date, tuple(dict.fromkeys(files)))


def subject(repo: Path, commit: str) -> str:
    return git(repo, "show", "-s", "--format=%s", commit).strip()


def candidates(repo: Path, bad: str, goods: list[str]) -> list[str]:
    """The commits that may still be the first bad one (bad included), best
    bisection point first, as ``git rev-list --bisect-all`` orders them."""
    out = git(repo, "rev-list", "--bisect-all", bad, *(f"^{g}" for g in goods))
    return [line.split()[0] for line in out.splitlines() if line.strip()]


class Worktree:
    """One detached worktree of REPO, reused for every commit, removed by close().

    Named after the owning process (wt-PID-...), so the worktree of a bisect that
    was killed outright (SIGKILL, power loss) is removed by the next one."""

    def __init__(self, repo: Path, parent: Path) -> None:
        self.repo = repo
        parent.mkdir(parents=True, exist_ok=True)
        reap_stale(repo, parent)
        self.path = Path(tempfile.mkdtemp(prefix=f"wt-{os.getpid()}-", dir=parent))
        self.added = False

    def checkout(self, commit: str) -> None:
        if not self.added:
            git(self.repo, "worktree", "add", "--detach", "--force", str(self.path), commit)
            self.added = True
            return
        git(self.path, "checkout", "--detach", "--force", "--quiet", commit)

    def close(self) -> None:
        """Idempotent: the worktree and its administrative files in REPO go."""
        if self.added:
            git(self.repo, "worktree", "remove", "--force", "--force", str(self.path), check=False)
            self.added = False
        shutil.rmtree(self.path, ignore_errors=True)
        git(self.repo, "worktree", "prune", check=False)


def reap_stale(repo: Path, parent: Path) -> None:
    """Remove REPO's worktrees under PARENT whose owning process is gone."""
    for line in git(repo, "worktree", "list", "--porcelain", check=False).splitlines():
        if not line.startswith("worktree "):
            continue
        path = Path(line[len("worktree "):])
        if path.parent != parent.resolve() or not path.name.startswith("wt-"):
            continue
        pid = path.name.split("-")[1]
        if pid.isdigit() and not _alive(int(pid)):
            git(repo, "worktree", "remove", "--force", "--force", str(path), check=False)
            shutil.rmtree(path, ignore_errors=True)
    git(repo, "worktree", "prune", check=False)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class BisectLog:
    """``git bisect log`` format, written line by line as the bisection goes."""

    def __init__(self, path: Path, repo: Path) -> None:
        self.path = path
        self.repo = repo
        path.write_text("")

    def _write(self, text: str) -> None:
        with self.path.open("a") as f:
            f.write(text)

    def start(self) -> None:
        self._write("git bisect start\n")

    def mark(self, term: str, commit: str) -> None:
        """TERM: good, bad or skip."""
        self._write(f"# {term}: [{commit}] {subject(self.repo, commit)}\ngit bisect {term} {commit}\n")

    def first_bad(self, commit: str) -> None:
        self._write(f"# first bad commit: [{commit}] {subject(self.repo, commit)}\n")

    def note(self, text: str) -> None:
        self._write("".join(f"# {line}\n" for line in text.splitlines()))
