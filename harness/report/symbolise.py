"""Panic PCs to kernel symbols: ``symbol+0xoff`` from the booted kernel's symbol table."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from harness.errors import InputError
from harness.model.symbols import load_symbols

Symboliser = Callable[[int], str | None]


def symboliser(kernel: Path) -> Symboliser | None:
    """PC -> "symbol+0xoff" for KERNEL (a.out or ELF), or None when it carries no symbols."""
    try:
        table = load_symbols(kernel)
    except InputError:
        return None

    def symbolise(pc: int) -> str | None:
        hit = table.lookup(pc)
        return f"{hit[0]}+{hit[1]:#x}" if hit else None

    return symbolise
