"""Known divergences: what a night may fail on without failing the night.

A baseline is TOML, one [[known]] per entry::

    [[known]]
    scenario = "errstr/*"            # glob over scenario names
    cell = "current-*"               # glob over cell names
    reason = "namec error text changed in 6eed7a478; profile lacks it"   # required
    signature = "file does not exist"   # optional: the first divergence must contain this,
                                        # or match the regex after "re:"
    link = "https://..."             # optional
    until = 2027-01-31               # optional expiry: after it the entry warns

An entry explains a failing scenario only when its globs and its signature
match, so a *different* divergence in a known-bad scenario is still new.  An
entry that explained nothing tonight is reported "fixed? remove it"; an expired
one still explains (the night does not start failing on a date) but warns on
every night until renewed or removed.
"""

from __future__ import annotations

import datetime
import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.nightly.tomlfile import TomlTables

KEYS = ("scenario", "cell", "reason", "signature", "link", "until")
REGEX_PREFIX = "re:"


@dataclass(frozen=True)
class Known:
    scenario: str
    cell: str
    reason: str
    line: int
    signature: str | None = None
    link: str | None = None
    until: datetime.date | None = None

    def matches(self, cell: str, scenario: str, first_divergence: str) -> bool:
        if not (fnmatch.fnmatchcase(scenario, self.scenario) and fnmatch.fnmatchcase(cell, self.cell)):
            return False
        if self.signature is None:
            return True
        if self.signature.startswith(REGEX_PREFIX):
            return re.search(self.signature[len(REGEX_PREFIX):], first_divergence) is not None
        return self.signature in first_divergence

    def expired(self, today: datetime.date) -> bool:
        return self.until is not None and self.until < today

    def label(self) -> str:
        sig = f" [{self.signature}]" if self.signature else ""
        return f"line {self.line}: {self.scenario} @ {self.cell}{sig}"

    def to_json(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "cell": self.cell, "reason": self.reason, "line": self.line,
                "signature": self.signature, "link": self.link,
                "until": self.until.isoformat() if self.until else None}


@dataclass
class Baseline:
    path: Path | None
    entries: list[Known]

    def explain(self, cell: str, scenario: str, first_divergence: str) -> Known | None:
        for k in self.entries:
            if k.matches(cell, scenario, first_divergence):
                return k
        return None


def load_baseline(path: str | Path | None) -> Baseline:
    if path is None:
        return Baseline(None, [])
    t = TomlTables(Path(path), "known")
    out = []
    for i, e in enumerate(t.entries()):
        unknown = sorted(set(e) - set(KEYS))
        if unknown:
            raise t.error(i, unknown[0], f"unknown key(s) {unknown}; known: {', '.join(KEYS)}")
        for key in ("scenario", "cell", "reason"):
            if not isinstance(e.get(key), str) or not e[key].strip():
                raise t.error(i, key, f"{key}: required, a non-empty string")
        for key in ("signature", "link"):
            if key in e and (not isinstance(e[key], str) or not e[key]):
                raise t.error(i, key, f"{key}: a non-empty string")
        sig = e.get("signature")
        if sig and sig.startswith(REGEX_PREFIX):
            try:
                re.compile(sig[len(REGEX_PREFIX):])
            except re.error as err:
                raise t.error(i, "signature", f"signature: bad regular expression: {err}") from None
        out.append(Known(e["scenario"], e["cell"], e["reason"].strip(), t.line(i), sig, e.get("link"),
                         _date(t, i, e.get("until"))))
    return Baseline(Path(path).resolve(), out)


def _date(t: TomlTables, i: int, v: Any) -> datetime.date | None:
    if v is None:
        return None
    if isinstance(v, datetime.datetime):
        return v.date()
    if isinstance(v, datetime.date):
        return v
    if isinstance(v, str):
        try:
            return datetime.date.fromisoformat(v)
        except ValueError:
            pass
    raise t.error(i, "until", f"until: a date, 2027-01-31 (got {v!r})")
