"""The golden kernel model: ``Machine(arch, profile, agent_image).run(program)``.

Shaped like 9front's port/: portdat (the kernel's data), kernel (global
state, argument reading), proc (newproc, pexit, pwait, the scheduler),
notes (postnote, notify), pgrp (groups, rfork's rules), chan (namec and its
errors), dev (the devices), fs (the file tree), segments (segment.c),
sysproc and sysfile (the system calls, registered by name in syscall.SYSCALLS),
fault (a foreign image's fate), aout (exec's a.out rules); agent is the guest
agent's half (interpreting the program, recording); machine composes them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.model.machine import Machine


def __getattr__(name: str) -> type[Machine]:  # lazy: importing harness.model stays cheap
    if name == "Machine":
        from harness.model.machine import Machine

        return Machine
    raise AttributeError(name)


__all__ = ["Machine"]
