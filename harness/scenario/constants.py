"""Symbolic constants scenarios may use, with their values from 9front's
/sys/include/libc.h (rfork flags, open modes, noted, postnote, segattach)."""

from __future__ import annotations

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
