"""A tiny in-memory file tree for the fd-table subset (port/sysfile.c, chan.c).

Holds: directories and files scenarios create (writefile/create), the agent
binary at AGENT_PATH, /dev/null, #c/cons (writes vanish, reads give EOF),
#c/user (reads the user, a write can only make it none: auth.c userwrite),
pipes.  /env and /proc/N are synthesised by syscalls.py from process state.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

from harness.model.errors import Enonexist, KernelError
from harness.model.process import ERRMAX, fmt_trunc, quote
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
    kind: str = "file"  # file | dir | null | cons | user | pipe | synth
    synth: bytes = b""  # contents of a synthesised file (/env, /proc)
    refs: int = 1


ENOTDIR = "not a directory"
_GENBUF = 128  # portdat.h: Proc.genbuf


def shown_name(aname: bytes, n: int, err: str) -> bytes:
    """chan.c namelenerror: the first N bytes of the name, or for a long one
    "..." and a suffix starting at a slash (or the last ERRMAX/4 bytes)."""
    errlen = len(err.encode("utf-8", "surrogateescape"))
    n = min(n, len(aname))

    def short(ln: int) -> bool:
        return ln < ERRMAX // 3 or ln + errlen < 2 * ERRMAX // 3

    if short(n):
        return _fit(aname[:n], _GENBUF - 1)
    ename = nxt = n
    while True:
        name = nxt
        if nxt == 0:
            break
        while nxt > 0:
            nxt -= 1
            if aname[nxt] == ord("/"):
                break
        if not short(ename - nxt):
            break
    if name == ename:  # one ridiculously long element: its last ERRMAX/4 bytes
        name = max(ename - ERRMAX // 4, 1)
        i = 0
        while name < ename and aname[name] & 0xC0 == 0x80 and i < 4:
            name += 1
            i += 1
    return _fit(b"..." + aname[name:ename], _GENBUF - 1)


def _fit(b: bytes, limit: int) -> bytes:
    """%.*s of utfnlen runes into a buffer: whole runes only."""
    return fmt_trunc(b, limit)


def namec_error(path: str, err: str, profile: Profile, length: int | None = None) -> KernelError:
    """chan.c namelenerror: "%#q %s" (seed) / "%s: %#q" (6eed7a478) naming the
    first LENGTH bytes of PATH (all of it by default); %#q always quotes."""
    raw = path.encode("utf-8", "surrogateescape")
    shown = shown_name(raw, len(raw) if length is None else length, err).decode("utf-8", "surrogateescape")
    q = "'" + shown.replace("'", "''") + "'"
    msg = f"{err}: {q}" if profile.has("namec-error-suffix") else f"{q} {err}"
    return KernelError(fmt_trunc(msg.encode("utf-8", "surrogateescape"), ERRMAX - 1).decode("utf-8", "surrogateescape"))


# What serves the scratch directory, which decides execute permission there
# (an exec's open(OEXEC) is the file server's to refuse, not the kernel's):
# PERM_SERVER honours permission bits, as the file systems of the probes did;
# DOSSRV is the guest's FAT delivery disk: dossrv has no execute bits and
# opens any plain file for OEXEC (dossrv/dosfs.c ropen), so exec goes on.
PERM_SERVER, DOSSRV = "perm", "dossrv"
SCRATCH_SERVERS = (PERM_SERVER, DOSSRV)


class FileTree:
    def __init__(self, scratch_server: str = PERM_SERVER) -> None:
        if scratch_server not in SCRATCH_SERVERS:
            raise ValueError(f"unknown scratch file server {scratch_server!r}")
        self.scratch_server = scratch_server
        self.nodes: dict[str, Node] = {
            "/": Node(isdir=True, perm=DMDIR | 0o775),
            "/tmp": Node(isdir=True, perm=DMDIR | 0o777),
            SCRATCH_DIR: Node(isdir=True, perm=DMDIR | 0o777),
            "/bin": Node(isdir=True, perm=DMDIR | 0o775),
            "/dev": Node(isdir=True, perm=DMDIR | 0o775),
            "/dev/null": Node(perm=0o666),
            "/dev/cons": Node(perm=0o666),
            "/dev/user": Node(perm=0o666),
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
            if shown is not None:
                raise namec_error(shown, Enonexist, profile)
            raise self.walk_error(path, dot, profile)
        return full, node

    def walk_error(self, path: str, dot: str, profile: Profile, upto: int | None = None) -> KernelError:
        """The error namec raises when PATH (its first UPTO elements) does not
        resolve: chan.c walk sets nerror to the element that failed, and
        namec names the name up to the end of that element -- "does not
        exist" for a missing one, "not a directory" past a file."""
        if path.startswith("#"):
            return namec_error(path, Enonexist, profile)
        cur = "/" if path.startswith("/") else dot
        prev_end = 0
        for k, m in enumerate(re.finditer(r"[^/]+", path)):
            if upto is not None and k >= upto:
                break
            node = self.nodes.get(cur)
            if node is not None and not node.isdir:
                return namec_error(path, ENOTDIR, profile, prev_end)
            elem = m.group()
            nxt = cur if elem == "." else posixpath.dirname(cur) if elem == ".." else posixpath.join(cur, elem)
            if nxt not in self.nodes:
                return namec_error(path, Enonexist, profile, m.end())
            cur, prev_end = nxt, m.end()
        return namec_error(path, Enonexist, profile)

    def parent_exists(self, full: str) -> bool:
        par = self.nodes.get(posixpath.dirname(full) or "/")
        return par is not None and par.isdir

    def may_exec(self, full: str, node: Node) -> bool:
        """Does the file server let FULL be opened for OEXEC?"""
        if self.scratch_server == DOSSRV and full.startswith(SCRATCH_DIR + "/") and full != AGENT_PATH:
            return True
        return bool(node.perm & 0o111)

    def write_file(self, full: str, data: bytes, perm: int) -> None:
        self.nodes[full] = Node(bytearray(data), perm & 0o777)


__all__ = [
    "AGENT_PATH", "AGENT_TEXT", "ENOTDIR", "SCRATCH_DIR", "Chan", "FileTree", "Node", "Pipe", "namec_error", "quote",
]
