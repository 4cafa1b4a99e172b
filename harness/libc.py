"""Plan 9 libc facts every layer needs, said once: tokenize(2) and the
constants of 9front's /sys/include/libc.h the scenarios, the model and the
agent's host build use (rfork flags, open modes, noted, postnote, segattach,
seek, permission bits).  ``tests/test_libc.py`` checks the host build's
compat/libc.h against these values."""

from __future__ import annotations

import re

RFORK = {
    "RFNAMEG": 1 << 0,
    "RFENVG": 1 << 1,
    "RFFDG": 1 << 2,
    "RFNOTEG": 1 << 3,
    "RFPROC": 1 << 4,
    "RFMEM": 1 << 5,
    "RFNOWAIT": 1 << 6,
    "RFCNAMEG": 1 << 10,
    "RFCENVG": 1 << 11,
    "RFCFDG": 1 << 12,
    "RFREND": 1 << 13,
    "RFNOMNT": 1 << 14,
}

OPEN = {
    "OREAD": 0,
    "OWRITE": 1,
    "ORDWR": 2,
    "OEXEC": 3,
    "OTRUNC": 16,
    "OCEXEC": 32,
    "ORCLOSE": 64,
    "OEXCL": 0x1000,
}

NOTED = {"NCONT": 0, "NDFLT": 1, "NSAVE": 2, "NRSTR": 3}
POSTNOTE = {"PNPROC": 1, "PNGROUP": 2}
SEGATTACH = {"SG_RONLY": 0o40, "SG_CEXEC": 0o100}
SEEK = {"SEEK_SET": 0, "SEEK_CUR": 1, "SEEK_END": 2}
PERM = {"DMDIR": 0x80000000, "DMEXEC": 0o111}

ALL: dict[str, int] = {**RFORK, **OPEN, **NOTED, **POSTNOTE, **SEGATTACH, **SEEK, **PERM}


_SEPS = re.compile(r"[ \t\r\n]+")  # libc/port/tokenize.c qsep
# a token: unquoted runs and quoted pieces ('' inside quotes is a quote; a quote
# left open runs to the end of the line, separators included)
_TOKEN = re.compile(r"(?:[^ \t\r\n']+|'(?:[^']+|'')*(?:'|\Z))+")
_PIECE = re.compile(r"[^ \t\r\n']+|'((?:[^']+|'')*)(?:'|\Z)")


def tokenize(line: str, maxargs: int | None = None) -> list[str]:
    """libc tokenize(2): blank/tab/CR/NL separated, '...' quoting, '' inside
    quotes is a quote; at most MAXARGS tokens (the rest is not looked at)."""
    if "'" not in line:
        if "\t" not in line and "\r" not in line and "\n" not in line:
            toks = [t for t in line.split(" ") if t]  # several times faster than the regex on 16 MiB
        else:
            toks = [t for t in _SEPS.split(line) if t]
        return toks if maxargs is None else toks[:maxargs]
    out: list[str] = []
    for m in _TOKEN.finditer(line):
        if maxargs is not None and len(out) >= maxargs:
            break
        tok = m.group()
        if "'" in tok:
            tok = "".join(p.group(1).replace("''", "'") if p.group(1) is not None else p.group()
                          for p in _PIECE.finditer(tok))
        out.append(tok)
    return out


def tokenize_bytes(line: bytes, maxargs: int | None = None) -> list[bytes]:
    """tokenize on bytes (a NUL ends the string, as in C); latin-1 maps each byte
    to one character and back, and the separators and the quote are ASCII."""
    s = line.split(b"\0", 1)[0].decode("latin-1")
    return [t.encode("latin-1") for t in tokenize(s, maxargs)]
