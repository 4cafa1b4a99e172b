"""Modelled kernel errors: what error(...) raises in the kernel.

These are *results* (the errstr a real kernel would set), not harness
failures.  Strings are 9front's, from port/error.h.
"""

from __future__ import annotations

Ebadarg = "bad arg in system call"
Enovmem = "virtual memory allocation failed"
Ebadexec = "exec header invalid"
Esoverlap = "segments overlap"
Enochild = "no living children"
Eperm = "permission denied"
Einuse = "device or object already in use"
Egreg = "the front fell off"  # port/error.h
Ebadfd = "fd out of range or not open"
Enonexist = "file does not exist"
Eisdir = "file is a directory"
Eintr = "interrupted"
Enoattach = "mount/attach disallowed"
Ebadusefd = "inappropriate use of fd"
Eexist = "file already exists"
Ebadsharp = "unknown device in # filename"
Enoproc = "no procs"


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
