"""Name resolution and its errors (port/chan.c: namec, walk, namelenerror),
and closing a channel (cclose)."""

from __future__ import annotations

import posixpath
import re

from harness.model.coverage import rule
from harness.model.errors import Edoesnotexist, Enonexist, Enotdir, KernelError
from harness.model.fmt import fmt_trunc, raw, unraw
from harness.model.fs import MOUNTS, FileTree, Node
from harness.model.portdat import ERRMAX, Chan
from harness.model.profiles import Profile, Sw

_GENBUF = 128  # portdat.h: Proc.genbuf


def shown_name(aname: bytes, n: int, err: str) -> bytes:
    """chan.c namelenerror: the first N bytes of the name, or for a long one
    "..." and a suffix starting at a slash (or the last ERRMAX/4 bytes)."""
    errlen = len(raw(err))
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
    b = raw(path)
    shown = unraw(shown_name(b, len(b) if length is None else length, err))
    q = "'" + shown.replace("'", "''") + "'"
    suffix = profile.has(Sw.NAMEC_ERROR_SUFFIX)
    rule("chan.c@6eed7a478:1249" if suffix else "chan.c:1246")
    msg = f"{err}: {q}" if suffix else f"{q} {err}"
    return KernelError(unraw(fmt_trunc(raw(msg), ERRMAX - 1)))


MAXWELEM = 16  # fcall.h: names in one walk message


def walk_error(fs: FileTree, path: str, dot: str, profile: Profile, upto: int | None = None) -> KernelError:
    """The error namec raises when PATH (its first UPTO elements) does not
    resolve: chan.c walk sets nerror to the element that failed, and namec
    names the name up to the end of that element -- "not a directory" past
    a file; for a missing name the file server's (or device's) own error
    when it is the first of a walk batch (ewalk returns nil, chan.c:1027),
    else walk's own (chan.c:1065, profile switch walk-error-enonexist).  A
    batch ends at a mount point, before "..", and after MAXWELEM names."""
    if path.startswith("#"):
        return namec_error(path, Enonexist, profile)
    cur = "/" if path.startswith("/") else dot
    prev_end, nbatch = 0, 0
    for k, m in enumerate(re.finditer(r"[^/]+", path)):
        if upto is not None and k >= upto:
            break
        node = fs.nodes.get(cur)
        if node is not None and not node.isdir:
            return namec_error(path, Enotdir, profile, prev_end)
        elem = m.group()
        if elem == ".." or nbatch == MAXWELEM:
            nbatch = 0
        nxt = cur if elem == "." else posixpath.dirname(cur) if elem == ".." else posixpath.join(cur, elem)
        if nxt not in fs.nodes:
            partial = nbatch > 0 and not profile.has(Sw.WALK_ERROR_ENONEXIST)
            if nbatch > 0:
                rule("chan.c:1065" if partial else "chan.c@6eed7a478:1068")
            return namec_error(path, Edoesnotexist if partial else Enonexist, profile, m.end())
        nbatch = 0 if elem == ".." or nxt in MOUNTS else nbatch + 1
        cur, prev_end = nxt, m.end()
    return namec_error(path, Enonexist, profile)


def lookup(fs: FileTree, path: str, dot: str, profile: Profile) -> tuple[str, Node]:
    """namec(Aaccess): the clean name and the file, or walk's error."""
    full = fs.clean(path, dot)
    node = fs.nodes.get(full)
    if node is None:
        raise walk_error(fs, path, dot, profile)
    return full, node


def nelems(path: str) -> int:
    return len([e for e in path.split("/") if e])


def cclose(c: Chan) -> None:
    """chan.c cclose: the last reference to a pipe end closes that end."""
    c.refs -= 1
    if c.refs == 0 and c.pipe is not None:
        c.pipe.open_ends[c.end] -= 1
