"""Modelled kernel errors: what error(...) raises in the kernel, and pexit.

These are *results* (the errstr a real kernel would set), not harness
failures.  Every errstr the model can set is named here once; the strings
are 9front's port/error.h unless the comment names another file (paths under
sys/src/9 at e9bb7876e; identical at 027f579f4).
"""

from __future__ import annotations

Ebadarg = "bad arg in system call"
Enovmem = "virtual memory allocation failed"
Ebadexec = "exec header invalid"
Esoverlap = "segments overlap"
Enochild = "no living children"
Eperm = "permission denied"
Einuse = "device or object already in use"
Egreg = "the front fell off"
Ebadfd = "fd out of range or not open"
Enonexist = "file does not exist"
# chan.c:949 (e9bb7876e) walk(): a walk that fails after the first name of
# its batch; Enonexist from 6eed7a478 (profile switch walk-error-enonexist)
Edoesnotexist = "does not exist"
Enotdir = "not a directory"
Eisdir = "file is a directory"
Eintr = "interrupted"
Enoattach = "mount/attach disallowed"
Ebadusefd = "inappropriate use of fd"
Eexist = "file already exists"
Ebadsharp = "unknown device in # filename"
Ehungup = "i/o on hungup channel"
Eioload = "i/o error in demand load"  # fault.c faulterror
Eisstream = "seek on a stream"
Enegoff = "negative i/o offset"
Enoproc = "no procs"  # sysproc.c:97 sysrfork, newproc() returned nil
Enoexecdir = "cannot exec directory"  # chan.c:1410 namec Aopen with OEXEC
Enotempty = "directory not empty"  # the file server's remove of a full directory
Einvalexit = "invalid exit string"  # sysproc.c:672 sysexits
Esuicide = "Suicide"  # pc64/trap.c:606 noted(): outside a handler it pexits


class KernelError(Exception):
    """error(errstr) in the kernel: the call fails with this errstr."""

    def __init__(self, errstr: str) -> None:
        super().__init__(errstr)
        self.errstr = errstr


class ProcessKilled(Exception):  # noqa: N818 - it is an event, not an error
    """The process dies with a note (a fault, 'sys: bad address in syscall', ...)."""

    def __init__(self, note: str) -> None:
        super().__init__(note)
        self.note = note


class Exit(Exception):  # noqa: N818 - control flow: the process calls pexit
    """pexit(msg): the process ends; its parent's wait message carries msg."""

    def __init__(self, msg: str) -> None:
        super().__init__(msg)
        self.msg = msg
