"""The file servers under the scenarios: a tiny in-memory tree.

Holds the directories and files scenarios create (writefile/create), the
agent binary at AGENT_PATH and the device files the scenarios open
(/dev/null, /dev/cons, /dev/user; their behaviour is dev.py's).  /env and
/proc/N are the devices' (dev.py), made from process state.  Name
resolution and its errors are chan.py's.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from enum import StrEnum

AGENT_PATH = "/tmp/nh/nhagent"  # what s:$agent expands to in the model (the binary is nhagent in the guest too)
AGENT_TEXT = "nhagent"  # up->text of the agent: the last element of AGENT_PATH
SCRATCH_DIR = "/tmp/nh"  # what $dir expands to in the model
DMDIR = 0x80000000  # sys/include/libc.h


class ScratchServer(StrEnum):
    """What serves the scratch directory, which decides execute permission
    there (an exec's open(OEXEC) is the file server's to refuse, not the
    kernel's)."""

    # honours permission bits, as the file systems of the probes did
    PERM = "perm"
    # the guest's FAT delivery disk: dossrv has no execute bits and opens
    # any plain file for OEXEC (dossrv/dosfs.c ropen), so exec goes on
    DOSSRV = "dossrv"


PERM_SERVER, DOSSRV = ScratchServer.PERM, ScratchServer.DOSSRV

# The mount points of the name space the scenarios run in: a walk stops at
# each and goes on in the mounted tree (chan.c walk, findmount).  /dev, /env,
# /proc and /bin are lib/namespace's binds (#c, #e, #p, /$cputype/bin); /tmp is
# bound there too ("bind -c /usr/$user/tmp /tmp") and, in the QEMU guest, over
# the delivery disk's tmp (harness/run/backends/qemu.py mount_commands).
MOUNTS = frozenset({"/tmp", "/dev", "/env", "/proc", "/bin"})


@dataclass(eq=False)
class Node:
    data: bytearray = field(default_factory=bytearray)
    perm: int = 0o664
    isdir: bool = False


def _dir(perm: int) -> Node:
    return Node(isdir=True, perm=DMDIR | perm)


@dataclass
class FileTree:
    scratch_server: ScratchServer = ScratchServer.PERM
    nodes: dict[str, Node] = field(
        default_factory=lambda: {
            "/": _dir(0o775),
            "/tmp": _dir(0o777),
            SCRATCH_DIR: _dir(0o777),
            "/bin": _dir(0o775),
            "/dev": _dir(0o775),
            "/dev/null": Node(perm=0o666),
            "/dev/cons": Node(perm=0o666),
            "/dev/user": Node(perm=0o666),
            "/env": _dir(0o775),
            "/proc": _dir(0o555),
            AGENT_PATH: Node(perm=0o775),
        }
    )

    @staticmethod
    def clean(path: str, dot: str) -> str:
        if path.startswith("#c"):
            return "/dev" + path[2:]
        if not path.startswith("/"):
            path = posixpath.join(dot, path)
        p = posixpath.normpath(path)
        return "/" + p.lstrip("/") if p != "/" else "/"

    def parent_exists(self, full: str) -> bool:
        par = self.nodes.get(posixpath.dirname(full) or "/")
        return par is not None and par.isdir

    def on_dossrv(self, full: str) -> bool:
        """Is FULL in the scratch directory of a guest whose scratch is dossrv's?"""
        return self.scratch_server == ScratchServer.DOSSRV and full.startswith(SCRATCH_DIR + "/")

    def may_exec(self, full: str, node: Node) -> bool:
        """Does the file server let FULL be opened for OEXEC?"""
        if self.on_dossrv(full) and full != AGENT_PATH:
            return True
        return bool(node.perm & 0o111)

    def write_file(self, full: str, data: bytes, perm: int) -> None:
        self.nodes[full] = Node(bytearray(data), perm & 0o777)

    def mkdirs(self, full: str) -> None:
        """Every missing directory above FULL (the writefile action's set-up)."""
        parts = full.split("/")
        for i in range(2, len(parts)):
            d = "/".join(parts[:i])
            if d not in self.nodes:
                self.nodes[d] = _dir(0o775)

    def create(self, full: str, perm: int) -> Node:
        node = self.nodes[full] = Node(isdir=bool(perm & DMDIR), perm=perm)
        return node
