"""The fd-table subset of port/sysfile.c the scenarios need."""

from __future__ import annotations

from typing import Literal

from harness.libc import OPEN
from harness.model.chan import cclose, lookup, namec_error, nelems, walk_error
from harness.model.dev import DEVFILES, ENV, NOMNT_DEVS, devread, devwrite, synth
from harness.model.errors import (
    Ebadarg,
    Ebadfd,
    Ebadusefd,
    Eexist,
    Eisdir,
    Eisstream,
    Enegoff,
    Enoattach,
    Enonexist,
    Enotdir,
    Enotempty,
    Eperm,
    KernelError,
)
from harness.model.fmt import text, unraw, utfecpy
from harness.model.fs import DMDIR
from harness.model.kernel import ULONG, Args, Kernel
from harness.model.notes import mknote, postnote
from harness.model.portdat import NUSER, Chan, ChanKind, Pipe, Proc, ProcState
from harness.model.profiles import Sw
from harness.model.syscall import Result, Sleeps, syscall

OREAD, OWRITE, ORDWR, OEXEC = 0, 1, 2, 3  # sys/include/libc.h
OTRUNC, OCEXEC = 16, 32
ORCLOSE, OEXCL = OPEN["ORCLOSE"], OPEN["OEXCL"]
NFD_LIMIT = 100  # sysdup: a new fd beyond the table's growth limit is Ebadfd


def openmode(mode: int) -> int:
    """sysfile.c:182 openmode: the chan's mode; OEXEC opens for reading."""
    o = mode & ~(OTRUNC | OCEXEC | ORCLOSE) & ULONG
    if o > OEXEC:
        raise KernelError(Ebadarg)
    return OREAD if o == OEXEC else o


def fdtochan(k: Kernel, p: Proc, fd: int, mode: int = -1) -> Chan:
    """sysfile.c:141 fdtochan: the fd's chan; a MODE it was not opened for
    (ORDWR serves both) is Ebadusefd."""
    c = p.fgrp.fds.get(k.l32(fd))
    if c is None:
        raise KernelError(Ebadfd)
    if mode >= 0 and c.mode != ORDWR and mode != c.mode:
        raise KernelError(Ebadusefd)
    return c


def newfd(p: Proc, c: Chan) -> int:
    """The lowest free fd (OCEXEC carried over from the open mode)."""
    fd = 0
    while fd in p.fgrp.fds:
        fd += 1
    p.fgrp.fds[fd] = c
    if c.cexec:
        p.fgrp.cexec.add(fd)
    return fd


def _env_create(p: Proc, full: str) -> None:
    p.egrp.env[full[len(ENV) :]] = b""


def namec_open(k: Kernel, p: Proc, path: str, mode: int, create: bool = False, perm: int = 0) -> Chan:
    """namec(Aopen / Acreate) and the device's open."""
    omode = openmode(mode & ~OEXCL if create else mode)
    full = k.fs.clean(path, p.dot)
    if p.pgrp.nomnt and path.startswith("#") and path[1:2] not in NOMNT_DEVS:
        raise KernelError(Enoattach)
    contents = synth(k, p, full)
    if contents is not None:
        if create and full.startswith(ENV):
            _env_create(p, full)
            contents = b""
        return Chan(full, omode, kind=ChanKind.SYNTH, synth=contents)
    if create and full.startswith(ENV):
        _env_create(p, full)
        return Chan(full, omode, kind=ChanKind.SYNTH)
    node = k.fs.nodes.get(full)
    if create:
        if node is not None and (node.isdir or mode & OEXCL):  # chan.c:1512-1514: OEXCL gives up
            # raised inside namec, whose error label names the path (nameerror): measured
            # on 9pc64 e9bb7876e "'/tmp/nh/excl' file already exists", 027f579f4 the suffix form
            raise namec_error(path, Eexist, k.profile)
        if not k.fs.parent_exists(full):  # namec Acreate walks all but the last element
            raise walk_error(k.fs, path, p.dot, k.profile, upto=nelems(path) - 1)
        if node is None or perm & DMDIR:
            node = k.fs.create(full, perm)
        node.data.clear()
    elif node is None:
        raise walk_error(k.fs, path, p.dot, k.profile)
    elif mode & OTRUNC:
        node.data.clear()
    kind = DEVFILES.get(full) or (ChanKind.DIR if node.isdir else ChanKind.FILE)
    if kind == ChanKind.DIR and omode != OREAD:
        raise KernelError(Eisdir)
    return Chan(full, omode, node=node, kind=kind, cexec=bool(mode & OCEXEC))


def _path(k: Kernel, p: Proc, a: Args) -> str:
    return unraw(k.cstr(p, a[0]))


@syscall("open")
def sysopen(k: Kernel, p: Proc, a: Args) -> Result:
    openmode(int(a[1]) & ULONG)  # sysfile.c:301 sysopen, before the name is read
    return Result(newfd(p, namec_open(k, p, _path(k, p, a), int(a[1]))))


@syscall("create")
def syscreate(k: Kernel, p: Proc, a: Args) -> Result:
    openmode(k.l32(int(a[1])) & ~OEXCL & ULONG)  # sysfile.c:1170 syscreate: mode is va_arg int
    c = namec_open(k, p, _path(k, p, a), int(a[1]), create=True, perm=int(a[2]) & ULONG)
    c.cexec = bool(int(a[1]) & OCEXEC)
    return Result(newfd(p, c))


@syscall("close")
def sysclose(k: Kernel, p: Proc, a: Args) -> Result:
    fd = k.l32(int(a[0]))
    fdtochan(k, p, fd)
    p.fgrp.cexec.discard(fd)
    cclose(p.fgrp.fds.pop(fd))
    return Result(0)


@syscall("dup")
def sysdup(k: Kernel, p: Proc, a: Args) -> Result:
    old, new = k.l32(int(a[0])), k.l32(int(a[1]))
    c = fdtochan(k, p, old)
    if new < 0 and new != -1:  # sysfile.c:259-264 sysdup: only -1 means "choose"
        raise KernelError(Ebadfd)
    c.refs += 1
    if new == -1:
        fd = newfd(p, c)
        p.fgrp.cexec.discard(fd)  # dup never copies close-on-exec
        return Result(fd)
    if new > NFD_LIMIT:
        raise KernelError(Ebadfd)
    if new in p.fgrp.fds:
        cclose(p.fgrp.fds[new])
    p.fgrp.fds[new] = c
    p.fgrp.cexec.discard(new)
    return Result(new)


@syscall("pipe")
def syspipe(k: Kernel, p: Proc, a: Args) -> Result:
    addr = k.ptr(a[0])
    k.mem(p).validaddr(addr, 8, True)
    pp = Pipe(open_ends=[1, 1])
    fd0 = newfd(p, Chan("#|/data", ORDWR, pipe=pp, end=0, kind=ChanKind.PIPE))
    fd1 = newfd(p, Chan("#|/data1", ORDWR, pipe=pp, end=1, kind=ChanKind.PIPE))
    order: Literal["big", "little"] = "big" if k.arch.big_endian else "little"
    k.mem(p).write(addr, fd0.to_bytes(4, order) + fd1.to_bytes(4, order))
    return Result(0, out={"fds": [fd0, fd1]})


@syscall("read")
def sysread(k: Kernel, p: Proc, a: Args) -> Sleeps:
    """sysfile.c:658 read: validaddr (a negative count is a bad address,
    okaddr's (long)len >= 0), then fdtochan(fd, OREAD)."""
    addr, n = k.ptr(a[1]), k.l32(int(a[2]))
    k.mem(p).validaddr(addr, n, True)
    c = fdtochan(k, p, int(a[0]), OREAD)
    data = yield from devread(p, c, n)
    c.offset += len(data)
    k.mem(p).write(addr, data)
    return Result(len(data), out={"hex": data.hex()})


@syscall("write")
def syswrite(k: Kernel, p: Proc, a: Args) -> Sleeps:
    """sysfile.c:756 write: validaddr, fdtochan(fd, OWRITE), a directory is Eisdir."""
    addr, n = k.ptr(a[1]), k.l32(int(a[2]))
    k.mem(p).validaddr(addr, n, False)
    c = fdtochan(k, p, int(a[0]), OWRITE)
    if c.kind == ChanKind.DIR:
        raise KernelError(Eisdir)
    yield from devwrite(k, p, c, k.mem(p).read(addr, n))
    return Result(n)


@syscall("seek")
def sysseek(k: Kernel, p: Proc, a: Args) -> Result:
    c = fdtochan(k, p, int(a[0]))
    if c.kind == ChanKind.PIPE:
        raise KernelError(Eisstream)
    off, whence = int(a[1]), k.l32(int(a[2]))
    size = len(c.node.data) if c.node is not None else len(c.synth)
    base = {0: 0, 1: c.offset, 2: size}.get(whence)
    if base is None:  # sysfile.c:886
        raise KernelError(Ebadarg)
    if c.kind == ChanKind.DIR and (whence != 0 or off != 0):  # 854, 863, 876
        raise KernelError(Eisdir)
    if base + off < 0:  # 857, 868, 881
        raise KernelError(Enegoff)
    c.offset = base + off
    return Result(c.offset)


@syscall("remove")
def sysremove(k: Kernel, p: Proc, a: Args) -> Result:
    path = _path(k, p, a)
    full = k.fs.clean(path, p.dot)
    if full.startswith(ENV) and full[len(ENV) :] in p.egrp.env:
        del p.egrp.env[full[len(ENV) :]]
        return Result(0)
    if full not in k.fs.nodes:
        raise walk_error(k.fs, path, p.dot, k.profile)
    if any(n.startswith(full + "/") for n in k.fs.nodes):
        # dossrv/dosfs.c rremove (e9bb7876e:613, 027f579f4:616): a directory that is not
        # empty is Eperm there; a file server that says so, Enotempty
        raise KernelError(Eperm if k.fs.on_dossrv(full) else Enotempty)
    del k.fs.nodes[full]
    return Result(0)


@syscall("fd2path")
def sysfd2path(k: Kernel, p: Proc, a: Args) -> Result:
    c = fdtochan(k, p, int(a[0]))
    addr, n = k.ptr(a[1]), int(a[2]) & ULONG
    k.mem(p).validaddr(addr, n, True)
    s = utfecpy(c.path.encode(), n)
    if n:
        k.mem(p).write(addr, s + b"\0")
    return Result(0, out={"text": text(s)})


@syscall("chdir")
def syschdir(k: Kernel, p: Proc, a: Args) -> Result:
    full, node = lookup(k.fs, _path(k, p, a), p.dot, k.profile)
    if not node.isdir:
        raise KernelError(Enotdir)
    p.dot = full
    return Result(0)


@syscall("postnote")
def syspostnote(k: Kernel, p: Proc, a: Args) -> Result:
    """libc postnote: open /proc/PID/note (or notepg) and write the note."""
    group, pid = int(a[0]), k.l32(int(a[1]))
    msg = unraw(k.cstr(p, a[2]))
    q = k.procs.get(pid)
    name = f"/proc/{pid}/{'notepg' if group == 2 else 'note'}"
    if q is None or q.state == ProcState.DEAD:
        # the walk fails at the pid element: namec names /proc/N
        raise namec_error(name, Enonexist, k.profile, len(f"/proc/{pid}"))
    if group == 2:
        # devproc.c postnotepg (seed and head): every process of the
        # group except the writer itself; one shared note from 3e1154879.
        shared = mknote(msg, NUSER) if k.profile.has(Sw.NOTE_SHARED) else None
        for r in sorted(k.procs.values(), key=lambda r: r.pid):
            if r is not p and r.noteid == q.noteid and r.state != ProcState.DEAD:
                postnote(r, shared or msg, NUSER)
    else:
        postnote(q, msg, NUSER)
    return Result(0)
