"""Symbolic constants scenarios may use: the libc.h values of harness/libc.py."""

from __future__ import annotations

from harness.libc import ALL, NOTED, OPEN, PERM, POSTNOTE, RFORK, SEEK, SEGATTACH

__all__ = ["ALL", "NOTED", "OPEN", "PERM", "POSTNOTE", "RFORK", "SEEK", "SEGATTACH"]
