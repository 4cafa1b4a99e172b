"""Reading a 9front kernel panic off the console: its message, its PC, the lines around it.

The console (harness.qemu.console) only detects the ``panic:`` line and hands
the log tail here.  9front's panic() prints ``panic: MSG`` at the start of a
line (port/devcons.c), then dumpstack; trap handlers print ``pc=0x...`` in
their fault lines, and the dump's ``ktrace /kernel/path PC SP`` line names
the PC the way ktrace(1) wants it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

PANIC_PREFIX = "panic: "

_PC = re.compile(r"pc=(0x[0-9a-fA-F]+)")
_KTRACE = re.compile(r"ktrace \S+ (?:0x)?([0-9a-fA-F]+)")


@dataclass(frozen=True)
class PanicEvent:
    message: str  # text after "panic: "
    pc: int | None  # the faulting/panic PC if the kernel printed one
    lines: tuple[str, ...]  # console lines around the panic (before and after)
    state: str  # boot state or "command" when it happened


def parse_panic_pc(message: str, after: Sequence[str], before: Sequence[str]) -> int | None:
    """The PC of a panic: from the message, the dumpstack ``ktrace`` line, or a trap
    line printed just before the panic."""
    for text in [message, *after]:
        m = _PC.search(text) or _KTRACE.search(text)
        if m:
            return int(m.group(1), 16)
    for text in reversed(before):
        m = _PC.search(text)
        if m:
            return int(m.group(1), 16)
    return None


def panic_event(lines: Sequence[str], message: str, state: str) -> PanicEvent:
    """The panic in the console tail LINES (the last ``panic:`` line wins); MESSAGE is
    what the console matched, used when the tail no longer holds the line."""
    idx = max((i for i, line in enumerate(lines) if line.startswith(PANIC_PREFIX)), default=-1)
    before, after = (list(lines[:idx]), list(lines[idx + 1 :])) if idx >= 0 else (list(lines), [])
    message = lines[idx][len(PANIC_PREFIX) :] if idx >= 0 else message.rstrip("\r")
    pc = parse_panic_pc(message, after, before)
    return PanicEvent(message=message, pc=pc, lines=tuple(before[-10:] + [PANIC_PREFIX + message] + after),
                      state=state)


def crash_summary(crash: str, pc: int | None, symbolise: Callable[[int], str | None] | None) -> str:
    """One line for a guest crash: the crash, and where when the PC is known."""
    if pc is None or symbolise is None:
        return crash
    return f"{crash} at {symbolise(pc) or hex(pc)}"
