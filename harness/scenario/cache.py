"""Compiled scenarios, kept by content hash so a corpus compiles once.

Two levels:

* in the process: every ``compile_scenario`` of the same file (same path, same
  bytes) returns the same ``Scenario``; a scenario whose compile never looked
  at the arch (only ``aout:`` buffers do) is shared by every arch, so
  ``--arch all`` compiles each file once;
* on disk: ``cache_root()/compiled/KEY.pickle`` (``$NINE_HARNESS_CACHE``, else
  ``~/.cache/nine-harness``), KEY the sha256 of the file's bytes, its path as
  given, the arch (or ``*``), the PyYAML build and the source of every module
  the compiler runs.  Editing a scenario or the compiler misses the cache;
  nothing is ever stale.  Only successful compiles are kept (errors are
  recomputed, so their file:line is always the current one).
  ``NINE_HARNESS_COMPILE_CACHE=0`` turns the disk level off.

A cache entry that cannot be read (truncated, from another Python) is
ignored and rewritten.  Entries are pickles written by this user into its
own cache directory (mode 0700), the same trust as the built agents beside
them.  Scenarios returned from the cache are shared: callers must not
mutate them (none does).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from functools import lru_cache
from pathlib import Path

import yaml

from harness.cachedir import cache_root

ANY_ARCH = "*"
_HARNESS = Path(__file__).resolve().parent.parent
# what compiling reads besides the scenario: a change to any of these is a new compiler
_SOURCES = ("scenario/compiler.py", "scenario/loader.py", "scenario/constants.py", "scenario/cache.py", "libc.py",
            "program.py", "ops/__init__.py", "errors.py", "model/arch.py", "model/fs.py")

# values are harness.scenario.compiler.Scenario; kept opaque here so this
# module does not import the compiler (which imports it)
_memo: dict[tuple[str, str, str], object] = {}


@lru_cache(maxsize=1)
def compiler_version() -> str:
    h = hashlib.sha256(f"pyyaml {yaml.__version__} libyaml {yaml.__with_libyaml__}".encode())
    for rel in _SOURCES:
        h.update(rel.encode() + b"\0" + (_HARNESS / rel).read_bytes())
    return h.hexdigest()


def content_key(path: str, data: bytes) -> str:
    return hashlib.sha256(data).hexdigest() + ":" + path


def _disk_enabled() -> bool:
    return os.environ.get("NINE_HARNESS_COMPILE_CACHE", "1") not in ("0", "no", "off", "")


def _entry(key: str, arch: str) -> Path:
    name = hashlib.sha256(f"{compiler_version()}\0{key}\0{arch}".encode()).hexdigest()
    return cache_root() / "compiled" / f"{name}.pickle"


def lookup(key: str, arch: str) -> object | None:
    for a in (ANY_ARCH, arch):
        hit = _memo.get((key, a, compiler_version()))
        if hit is not None:
            return hit
    if not _disk_enabled():
        return None
    for a in (ANY_ARCH, arch):
        sc = _load(_entry(key, a))
        if sc is not None:
            _memo[(key, a, compiler_version())] = sc
            return sc
    return None


def store(key: str, arch: str, sc: object, arch_used: bool) -> None:
    a = arch if arch_used else ANY_ARCH
    _memo[(key, a, compiler_version())] = sc
    if _disk_enabled():
        _save(_entry(key, a), sc)


def _load(path: Path) -> object | None:
    try:
        with path.open("rb") as f:
            return pickle.load(f)
    except FileNotFoundError:
        return None
    except Exception:  # a broken entry is a miss; it is rewritten after the compile
        return None


def _save(path: Path, sc: object) -> None:
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            pickle.dump(sc, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:  # a read-only or full cache only costs the next run a compile
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def clear_memo() -> None:
    """Forget the in-process level (tests)."""
    _memo.clear()
