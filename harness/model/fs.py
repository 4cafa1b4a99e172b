"""A tiny in-memory file tree for the fd-table subset (port/sysfile.c, chan.c).

Holds: directories and files scenarios create (writefile/create), the agent
binary at AGENT_PATH, /dev/null, #c/cons (writes vanish, reads give EOF),
pipes.  /env and /proc/N are synthesised by syscalls.py from process state.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from harness.model.errors import Enonexist, KernelError
from harness.model.process import quote
from harness.model.profiles import Profile

AGENT_PATH = "/tmp/nh/nhagent"  # what s:$agent expands to in the model (the binary is nhagent in the guest too)
AGENT_TEXT = "nhagent"  # up->text of the agent: the last element of AGENT_PATH
SCRATCH_DIR = "/tmp/nh"  # what $dir expands to in the model
DMDIR = 0x80000000


@dataclass(eq=False)
class Node:
    data: bytearray = field(default_factory=bytearray)
    perm: int = 0o664
    isdir: bool = False


@dataclass(eq=False)
class Pipe:
    buf: list[bytearray] = field(default_factory=lambda: [bytearray(), bytearray()])
    open_ends: list[int] = field(default_factory=lambda: [0, 0])


@dataclass(eq=False)
class Chan:
    path: str
    mode: int  # open mode & 3
    node: Node | None = None
    pipe: Pipe | None = None
    end: int = 0
    offset: int = 0
    cexec: bool = False
    kind: str = "file"  # file | dir | null | cons | pipe | synth
    synth: bytes = b""  # contents of a synthesised file (/env, /proc)
    refs: int = 1


def namec_error(path: str, err: str, profile: Profile) -> KernelError:
    """chan.c namelenerror for short names: "%#q %s" (seed) / "%s: %#q" (6eed7a478)."""
    q = "'" + path.replace("'", "''") + "'"
    if profile.has("namec-error-suffix"):
        return KernelError(f"{err}: {q}"[:127])
    return KernelError(f"{q} {err}"[:127])


class FileTree:
    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {
            "/": Node(isdir=True, perm=DMDIR | 0o775),
            "/tmp": Node(isdir=True, perm=DMDIR | 0o777),
            SCRATCH_DIR: Node(isdir=True, perm=DMDIR | 0o777),
            "/bin": Node(isdir=True, perm=DMDIR | 0o775),
            "/dev": Node(isdir=True, perm=DMDIR | 0o775),
            "/dev/null": Node(perm=0o666),
            "/dev/cons": Node(perm=0o666),
            "/env": Node(isdir=True, perm=DMDIR | 0o775),
            "/proc": Node(isdir=True, perm=DMDIR | 0o555),
            AGENT_PATH: Node(perm=0o775),
        }

    @staticmethod
    def clean(path: str, dot: str) -> str:
        if path.startswith("#c"):
            return "/dev" + path[2:]
        if not path.startswith("/"):
            path = posixpath.join(dot, path)
        p = posixpath.normpath(path)
        return "/" + p.lstrip("/") if p != "/" else "/"

    def lookup(self, path: str, dot: str, profile: Profile, shown: str | None = None) -> tuple[str, Node]:
        full = self.clean(path, dot)
        node = self.nodes.get(full)
        if node is None:
            raise namec_error(shown if shown is not None else path, Enonexist, profile)
        return full, node

    def parent_exists(self, full: str) -> bool:
        par = self.nodes.get(posixpath.dirname(full) or "/")
        return par is not None and par.isdir

    def write_file(self, full: str, data: bytes, perm: int) -> None:
        self.nodes[full] = Node(bytearray(data), perm & 0o777)


__all__ = ["AGENT_PATH", "AGENT_TEXT", "SCRATCH_DIR", "Chan", "FileTree", "Node", "Pipe", "namec_error", "quote"]
