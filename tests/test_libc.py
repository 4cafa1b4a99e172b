"""harness/libc.py: the libc.h constants and tokenize(2), said once.

The host build's compat/libc.h repeats some constants for the C side; they
must be the same values."""

from __future__ import annotations

import re

from harness import libc
from harness.guest.hostbuild import AGENT_DIR


def _c_enum_values(text: str) -> dict[str, int]:
    values: dict[str, int] = {}
    for body in re.findall(r"enum\s*\{(.*?)\}", text, flags=re.S):
        for name, expr in re.findall(r"([A-Z][A-Z0-9_]*)\s*=\s*([^,]+)", body):
            shift = re.fullmatch(r"(\d+)\s*<<\s*(\d+)", expr.strip())
            values[name] = int(shift[1]) << int(shift[2]) if shift else int(expr.strip(), 0)
    return values


def test_compat_libc_h_constants_are_libc_py() -> None:
    compat = _c_enum_values((AGENT_DIR / "compat" / "libc.h").read_text(encoding="utf-8"))
    shared = set(compat) & set(libc.ALL)
    assert {"RFPROC", "RFCFDG", "OREAD", "OCEXEC", "NCONT", "PNGROUP"} <= shared
    assert {k: compat[k] for k in shared} == {k: libc.ALL[k] for k in shared}


def test_tokenize_twins_are_one() -> None:
    from harness.model import aout
    from harness.program import tokenize

    assert tokenize is libc.tokenize
    assert aout.tokenize(b"'a b' c''d 'it''s' \0 after", 8) == [b"a b", b"cd", b"it's"]
    assert libc.tokenize("a b c d", 2) == ["a", "b"]
    assert libc.tokenize("x 'open quote  y") == ["x", "open quote  y"]
