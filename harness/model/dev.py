"""The devices the scenarios reach: what reading and writing a channel does.

devcons (#c: cons swallows writes and reads EOF, user reads up->user and
can only be set to "none": port/auth.c userwrite), devpipe (#|), devenv
(#e, /env) and devproc (#p, /proc/N: args, noteid, segment, note, notepg,
ctl), plus plain files and directories of the file tree (fs.py).
"""

from __future__ import annotations

from collections.abc import Generator

from harness.model.errors import Ehungup, Eintr, Eperm, KernelError
from harness.model.fmt import quote, unraw
from harness.model.kernel import Kernel
from harness.model.notes import postnote
from harness.model.portdat import NUSER, Chan, ChanKind, Proc, ProcState, Wait, Wake
from harness.model.profiles import Sw

# The device files of the tree and their devices (#c files bound on /dev).
DEVFILES = {"/dev/null": ChanKind.NULL, "/dev/cons": ChanKind.CONS, "/dev/user": ChanKind.USER}
# RFNOMNT's devmask (sysproc.c:52, devs = "|decp"): the # devices still allowed.
NOMNT_DEVS = ("|", "d", "e", "c", "p")
ENV = "/env/"


def procargs(q: Proc) -> str:
    """devproc.c procargs: the saved args, each %q'd, blank separated."""
    parts = q.args.split(b"\0")
    if parts and parts[-1] == b"":
        parts.pop()
    return " ".join(quote(unraw(x)) for x in parts)


def procsegment(q: Proc) -> bytes:
    """devproc.c Qsegment: one line per segment."""
    rows = [s.row() for s in q.segs if s is not None]
    return "".join(f"{r[0]:<6} {r[1]:<2} {r[2]:8x} {r[3]:8x} {r[4]:4d}\n" for r in rows).encode()


def synth(k: Kernel, p: Proc, full: str) -> bytes | None:
    """/env/NAME and /proc/N/{args,noteid,segment,note,notepg,ctl} contents."""
    if full.startswith(ENV):
        return p.egrp.env.get(full[len(ENV) :])
    parts = full.split("/")
    if len(parts) == 4 and parts[1] == "proc" and parts[2].isdigit():
        q = k.procs.get(int(parts[2]))
        if q is None or q.state == ProcState.DEAD:
            return None
        if parts[3] == "noteid":
            return str(q.noteid).encode()
        if parts[3] == "args":
            return procargs(q).encode("utf-8", "surrogateescape")
        if parts[3] == "segment":
            return procsegment(q)
        if parts[3] in ("note", "notepg", "ctl"):
            return b""
    return None


def devread(p: Proc, c: Chan, n: int) -> Generator[Wait, Wake | None, bytes]:
    """At most N bytes from C at its offset (a pipe sleeps until data or hangup)."""
    data = b""
    if c.kind == ChanKind.PIPE and c.pipe is not None:
        q = c.pipe.buf[c.end]
        while not q and c.pipe.open_ends[1 - c.end] > 0:
            why = yield Wait(ready=lambda: bool(q) or c.pipe is None or c.pipe.open_ends[1 - c.end] == 0)
            if why == Wake.INTR:
                raise KernelError(Eintr)
        data = bytes(q[:n])
        del q[:n]
    elif c.kind == ChanKind.FILE and c.node is not None:
        data = bytes(c.node.data[c.offset : c.offset + n])
    elif c.kind == ChanKind.SYNTH:
        data = c.synth[c.offset : c.offset + n]
    elif c.kind == ChanKind.USER:  # devcons.c readstr(offset, up->user)
        data = p.user.encode()[c.offset : c.offset + n]
    return data


PIPEQSIZE_1CPU = 32 * 1024  # devpipe.c:44-48 (e9bb7876e): conf.pipeqsize with one CPU
PIPEQSIZE = 256 * 1024  # b54c61c61: whatever the CPUs (profile switch pipe-qsize-256k)
MAXATOMIC = 64 * 1024  # qio.c:51 Maxatomic: qwrite's block size


def pipewrite(k: Kernel, p: Proc, c: Chan, data: bytes) -> Generator[Wait, Wake | None, None]:
    """devpipe.c pipewrite: any error of the write (a hung-up pipe, an
    interrupted wait) posts "sys: write on closed pipe" first."""
    try:
        yield from qwrite(k, c, data)
    except KernelError:
        postnote(p, "sys: write on closed pipe", NUSER)
        raise


def qwrite(k: Kernel, c: Chan, data: bytes) -> Generator[Wait, Wake | None, None]:
    """qio.c qwrite (e9bb7876e): blocks of Maxatomic bytes, each queued whole
    (qbwrite), then the writer waits while the queue holds the limit or more
    (qflow, interruptible); before it all, a queue at twice the limit is
    waited out whatever notes come (the waserror loop)."""
    assert c.pipe is not None
    pipe, rd = c.pipe, 1 - c.end
    q = pipe.buf[rd]
    limit = PIPEQSIZE if k.profile.has(Sw.PIPE_QSIZE_256K) else PIPEQSIZE_1CPU

    def notfull() -> bool:
        return len(q) < limit or pipe.open_ends[rd] == 0

    while len(q) // 2 >= limit and not notfull():
        yield Wait(ready=notfull)
    sofar = 0
    while True:
        if pipe.open_ends[rd] == 0:  # qbwrite: Qclosed
            raise KernelError(Ehungup)
        chunk = data[sofar : sofar + MAXATOMIC]
        q += chunk
        sofar += len(chunk)
        while not notfull():
            why = yield Wait(ready=notfull)
            if why == Wake.INTR:
                raise KernelError(Eintr)
        if sofar >= len(data):
            return


def devwrite(k: Kernel, p: Proc, c: Chan, data: bytes) -> Generator[Wait, Wake | None, None]:
    n = len(data)
    if c.kind == ChanKind.PIPE and c.pipe is not None:
        yield from pipewrite(k, p, c, data)
    elif c.kind == ChanKind.FILE and c.node is not None:
        d = c.node.data
        if c.offset > len(d):
            d += bytes(c.offset - len(d))
        d[c.offset : c.offset + n] = data
        c.offset += n
    elif c.kind == ChanKind.USER:
        # auth.c userwrite: the only change allowed is to "none"
        if data != b"none":
            raise KernelError(Eperm)
        p.user = "none"
    elif c.kind == ChanKind.SYNTH and c.path.startswith(ENV):
        name = c.path[len(ENV) :]
        p.egrp.env[name] = p.egrp.env.get(name, b"") + data
