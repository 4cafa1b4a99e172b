"""TOML files of arrays of tables ([[cell]], [[known]]) with file:line error messages.

tomllib gives no positions, so the N-th ``[[TABLE]]`` header and the keys under
it are found again in the text: close enough to point a user at the line.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from harness.errors import InputError


class TomlTables:
    def __init__(self, path: Path, table: str) -> None:
        self.path = path
        self.table = table
        try:
            self.text = path.read_text()
        except OSError as e:
            raise InputError(f"{path}: {e.strerror}") from None
        try:
            self.doc = tomllib.loads(self.text)
        except tomllib.TOMLDecodeError as e:
            raise InputError(f"{path}: not valid TOML: {e}") from None
        self.lines = self.text.splitlines()
        header = re.compile(rf"^\s*\[\[\s*{re.escape(table)}\s*\]\]")
        self.starts = [i + 1 for i, line in enumerate(self.lines) if header.match(line)]

    def entries(self) -> list[dict[str, Any]]:
        unknown = set(self.doc) - {self.table}
        if unknown:
            raise InputError(f"{self.path}: unknown top-level key(s) {sorted(unknown)}: only [[{self.table}]] tables")
        items = self.doc.get(self.table, [])
        if not isinstance(items, list) or not all(isinstance(t, dict) for t in items):
            raise InputError(f"{self.path}: {self.table} must be [[{self.table}]] tables")
        return items

    def line(self, index: int, key: str | None = None) -> int:
        start = self.starts[index] if index < len(self.starts) else 1
        if key is None:
            return start
        end = self.starts[index + 1] if index + 1 < len(self.starts) else len(self.lines) + 1
        pat = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=")
        for n in range(start, end):
            if pat.match(self.lines[n - 1]):
                return n
        return start

    def error(self, index: int, key: str | None, reason: str) -> InputError:
        return InputError(f"{self.path}:{self.line(index, key)}: [[{self.table}]] #{index + 1}: {reason}")
