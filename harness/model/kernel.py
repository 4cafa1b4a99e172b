"""The kernel's global state and the helpers every system call uses
(argument reading as port/sysproc.c and port/sysfile.c do it).

Each run of a program gets a fresh Kernel; nothing outlives it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.model import segments as sg
from harness.model.arch import Arch
from harness.model.errors import Ebadarg, KernelError, ProcessKilled
from harness.model.fs import FileTree
from harness.model.portdat import Proc, ProcState
from harness.model.profiles import Profile

FIRST_PID = 100
HOSTOWNER = "glenda"  # eve: the agent runs as the host owner
ULONG = 0xFFFFFFFF  # ulong is 32 bits on every Plan 9 arch


class Str(int):
    """An s: argument: a valid pointer to these bytes in the agent's memory.
    As a number (a string given where an integer is expected) it is 0x1."""

    b: bytes

    def __new__(cls, b: bytes) -> Str:
        obj = int.__new__(cls, 1)
        obj.b = b
        return obj


# A system call's arguments as the agent resolved them: numbers (pointers
# included, Str for a string), or words (c: blocks, h: modes, w: names).
Arg = int | str
Args = list[Arg]


@dataclass
class Kernel:
    arch: Arch
    profile: Profile
    fs: FileTree
    eve: str = HOSTOWNER
    procs: dict[int, Proc] = field(default_factory=dict)
    now: int = 0  # the virtual clock, ms
    nextpid: int = FIRST_PID
    images: dict[str, sg.Segment] = field(default_factory=dict)  # text segments by file (port/segment.c image cache)

    def allocpid(self) -> int:
        self.nextpid += 1
        return self.nextpid

    def pidref(self, n: int) -> int:
        """proc.c pidalloc/pidfree: the references to pid-table entry N, one
        for the process with that pid, one per process in note group N, one
        per process whose parent it is."""
        return sum((q.pid == n) + (q.noteid == n) + (q.ppid == n) for q in self.live())

    def setnoteid(self, p: Proc) -> None:
        """proc.c setnoteid(p, 0): a new note group, unless P is already the
        only user of its own (proc.c:1846 at e9bb7876e, 2010 at 027f579f4)."""
        if self.pidref(p.noteid) != 1:
            p.noteid = self.allocpid()

    def live(self) -> list[Proc]:
        return sorted((q for q in self.procs.values() if q.state != ProcState.DEAD), key=lambda q: q.pid)

    def mem(self, p: Proc) -> sg.Memory:
        return sg.Memory(p.segs, self.arch)

    # --- argument reading -------------------------------------------------------
    def cstr(self, p: Proc, v: Arg | None, limit: int = 1 << 20) -> bytes:
        """validnamedup/vmemchr: the string at v; nil kills, no NUL is Ebadarg."""
        if isinstance(v, Str):
            return v.b
        if v is None or v == 0:
            raise ProcessKilled(f"{sg.BAD_ADDRESS_NOTE} pc={sg.PC_MASK}")
        s = self.mem(p).cstring(int(v), limit)
        if s is None:
            raise KernelError(Ebadarg)
        return s

    def ptr(self, v: Arg | None) -> int:
        if v is None or not isinstance(v, int):
            return 0
        return int(v) & self.arch.addr_mask

    def signed(self, v: int) -> int:
        """A uintptr as the signed value the call returns."""
        bits = 8 * self.arch.pointer_size
        v &= (1 << bits) - 1
        return v - (1 << bits) if v >> (bits - 1) else v

    @staticmethod
    def l32(v: int) -> int:
        """va_arg(list, long/int): the low 32 bits, signed."""
        v &= ULONG
        return v - (1 << 32) if v >> 31 else v
