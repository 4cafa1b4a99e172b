"""Kernel builds of a bisect, cached per commit and per build command.

CMD runs through the shell with cwd = the worktree and NH_COMMIT, NH_WORKTREE
in its environment (e.g. ``cd sys/src/9/pc64 && mk 'CONF=pc64'``); afterwards
the kernel must be at REL inside the worktree.  The worktree is reused from
commit to commit (incremental builds, as in a developer's tree), so the file
at REL is removed before each build: a failed build never leaves the previous
commit's kernel to be tested.

Cache: ``CACHE/bisect/builds/KEY/COMMIT/`` with ``kernel``, ``build.log`` and
``result.json`` (written last: a build interrupted half-way is not cached).
KEY hashes CMD and REL.  Failed builds are cached too (the same commit fails
the same way); ``--rebuild`` ignores the cache.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from harness.bisect.git import Worktree
from harness.guest.build import cache_root, file_sha256


@dataclass(frozen=True)
class BuildResult:
    commit: str
    ok: bool
    why: str  # one line: "built in 3.1s", "build command exited 2", "no kernel at REL"
    kernel: Path | None  # the cached kernel
    sha256: str | None
    log: Path
    cached: bool
    seconds: float

    def to_json(self) -> dict[str, object]:
        return {"commit": self.commit, "ok": self.ok, "why": self.why, "sha256": self.sha256,
                "cached": self.cached, "seconds": self.seconds}


def bisect_cache() -> Path:
    return cache_root() / "bisect"


class Builder:
    def __init__(self, worktree: Worktree, cmd: str, rel: str, timeout: float = 3 * 3600.0,
                 rebuild: bool = False) -> None:
        self.worktree = worktree
        self.cmd = cmd
        self.rel = rel
        self.timeout = timeout
        self.rebuild = rebuild
        key = hashlib.sha256(f"{cmd}\0{rel}".encode()).hexdigest()[:20]
        self.root = bisect_cache() / "builds" / key
        self.builds = 0  # builds actually run (not served from the cache)

    def build(self, commit: str) -> BuildResult:
        d = self.root / commit
        self.root.mkdir(parents=True, exist_ok=True)
        # one build of a commit at a time, whichever bisect asks (two may share the cache)
        with (self.root / f"{commit}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not self.rebuild:
                hit = self._cached(commit, d)
                if hit is not None:
                    return hit
            return self._build(commit, d)

    def _cached(self, commit: str, d: Path) -> BuildResult | None:
        try:
            r = json.loads((d / "result.json").read_text())
        except (OSError, ValueError):
            return None
        kernel = d / "kernel"
        if r.get("ok") and (not kernel.is_file() or file_sha256(kernel) != r.get("sha256")):
            return None  # damaged entry: build again
        return BuildResult(commit, bool(r["ok"]), str(r["why"]), kernel if r["ok"] else None, r.get("sha256"),
                           d / "build.log", True, float(r.get("seconds", 0.0)))

    def _build(self, commit: str, d: Path) -> BuildResult:
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        log = d / "build.log"
        self.worktree.checkout(commit)
        target = self.worktree.path / self.rel
        if target.is_file() or target.is_symlink():
            target.unlink()
        env = {**os.environ, "NH_COMMIT": commit, "NH_WORKTREE": str(self.worktree.path)}
        started = time.monotonic()
        self.builds += 1
        with log.open("w") as f:
            f.write(f"# commit {commit}\n# cwd {self.worktree.path}\n# cmd {self.cmd}\n")
            f.flush()
            rc = _run(self.cmd, self.worktree.path, env, f, self.timeout)
        seconds = round(time.monotonic() - started, 3)
        if rc is None:
            ok, why = False, f"build command timed out after {self.timeout:.0f}s"
        elif rc != 0:
            ok, why = False, f"build command exited {rc}"
        elif not target.is_file():
            ok, why = False, f"build command succeeded but left no kernel at {self.rel}"
        else:
            ok, why = True, f"built in {seconds:.1f}s"
        sha = None
        if ok:
            shutil.copyfile(target, d / "kernel")
            sha = file_sha256(d / "kernel")
        result = BuildResult(commit, ok, why, d / "kernel" if ok else None, sha, log, False, seconds)
        tmp = d / "result.json.tmp"
        tmp.write_text(json.dumps(result.to_json(), indent=1) + "\n")
        tmp.replace(d / "result.json")
        return result


def _run(cmd: str, cwd: Path, env: dict[str, str], log: IO[str], timeout: float) -> int | None:
    """Run CMD in its own process group; on timeout or interrupt the whole group dies."""
    p = subprocess.Popen(["/bin/sh", "-c", cmd], cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        return p.wait(timeout)
    except subprocess.TimeoutExpired:
        _kill_group(p)
        return None
    except BaseException:
        _kill_group(p)
        raise


def _kill_group(p: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(p.pid, signal.SIGKILL)
    p.wait()
