"""The system call table: each handler registers itself against its
operation's name (the name in harness.program OPS and the operations
catalogue), as port/systab.h maps numbers to sys* functions."""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias, TypeVar

from harness.model.kernel import Args, Kernel
from harness.model.portdat import Proc, Wait, Wake

Json: TypeAlias = int | str | None | Sequence["Json"] | Mapping[str, "Json"]


@dataclass
class Result:
    ret: int | None = 0
    err: str | None = None
    out: dict[str, Json] = field(default_factory=dict)
    nondet: list[str] = field(default_factory=list)


# A call that may sleep is a generator: it yields what it waits for and is
# sent why it woke (port/proc.c sleep/wakeup); its return value is the result.
Sleeps = Generator[Wait, Wake | None, Result]
Handler = Callable[[Kernel, Proc, Args], Result | Sleeps]
H = TypeVar("H", bound=Handler)

SYSCALLS: dict[str, Handler] = {}


def syscall(name: str) -> Callable[[H], H]:
    """Register the decorated function as the handler of operation NAME."""

    def register(fn: H) -> H:
        if name in SYSCALLS:
            raise ValueError(f"two handlers for system call {name!r}")
        SYSCALLS[name] = fn
        return fn

    return register
