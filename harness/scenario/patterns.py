"""The expectation patterns a scenario may write, checked when it compiles.

A field's expected value is one of:

* a plain value (number, string, list, null): equal;
* ``"any"``: anything, also an absent field;
* a comparison ``OP VALUE`` with OP one of ``== != > >= < <=`` and VALUE a
  number or ``$NAME``, the ret of the step saved ``as: NAME`` in the same
  trace (``ret: "==$fd"``, ``ret: ">$first"``);
* a string with ``* ? [``: a shell-style pattern (fnmatch);
* ``{one_of: [P, ...]}``: any of the patterns (alternation);
* ``{not: P}``: anything P does not match (negation);
* ``{re: REGEX}``: a string the Python regular expression matches in full;
* ``{same_as: NAME}``: the same field of the step saved ``as: NAME``.

In a string (and a ``re:``), ``$NAME`` / ``${NAME}`` is the ret of the step
saved ``as: NAME`` in decimal (``'nhagent $kid: bye'``); ``$agent`` and ``$dir``
are the fixed paths (the compiler puts them in).

A comparison-looking string (starting with ``= ! < >``) that is not one of
these is an error, never a silent literal.
"""

from __future__ import annotations

import fnmatch
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

ANY = "any"
GLOB_CHARS = "*?["
_CMP_RE = re.compile(r"^(?P<op>==|!=|>=|<=|>|<)\s*(?P<val>[-+]?(?:0x[0-9a-fA-F]+|[0-9]+)|\$[A-Za-z_][A-Za-z0-9_]*)$")
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "!=": operator.ne, ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
}
FORMS = ("one_of", "not", "re", "same_as")


Lookup = Callable[[str, str], Any]  # (label, field) -> that step's value of the field


class PatternError(ValueError):
    """A pattern the checker could not apply (the compiler turns it into file:line)."""


_VAR_RE = re.compile(r"\$(?:\{(?P<b>[A-Za-z_][A-Za-z0-9_]*)\}|(?P<n>[A-Za-z_][A-Za-z0-9_]*))")


def _check_vars(text: str, labels: Mapping[str, int]) -> None:
    for m in _VAR_RE.finditer(text):
        _check_label(f"${m['b'] or m['n']}", labels)


def _expand(text: str, lookup: Lookup) -> str:
    def value(m: re.Match[str]) -> str:
        v = lookup(m["b"] or m["n"], "ret")
        return str(v) if _is_num(v) else m[0]

    return _VAR_RE.sub(value, text) if "$" in text else text


def check_pattern(want: Any, labels: Mapping[str, int]) -> None:
    """Raise PatternError for a pattern that is not one of the forms above.
    LABELS: the names saved with as: so far (a comparison may only look back)."""
    if isinstance(want, str):
        if want[:1] in ("=", "!", "<", ">"):
            m = _CMP_RE.match(want.strip())
            if m is None:
                raise PatternError(f"{want!r} is not a comparison (OP NUMBER or OP $NAME, OP one of {' '.join(_OPS)})")
            _check_label(m["val"], labels)
            return
        _check_vars(want, labels)
        return
    if isinstance(want, dict):
        if len(want) != 1 or next(iter(want)) not in FORMS:
            raise PatternError(f"a pattern mapping has exactly one of {', '.join(FORMS)}, not {sorted(want)}")
        form, arg = next(iter(want.items()))
        if form == "one_of":
            if not isinstance(arg, list) or not arg:
                raise PatternError("one_of: a non-empty list of patterns")
            for p in arg:
                check_pattern(p, labels)
        elif form == "not":
            check_pattern(arg, labels)
        elif form == "re":
            if not isinstance(arg, str):
                raise PatternError("re: a regular expression string")
            _check_vars(arg, labels)
            try:
                re.compile(arg)
            except re.error as e:
                raise PatternError(f"re: {e}") from None
        else:
            _check_label(f"${arg}", labels)


def _check_label(val: str, labels: Mapping[str, int]) -> None:
    if val.startswith("$") and val[1:] not in labels:
        raise PatternError(f"{val}: no earlier step is saved as {val[1:]!r}")


def matches(want: Any, got: Any, field: str, lookup: Lookup) -> bool:
    """Does GOT (the record's FIELD) satisfy WANT?  LOOKUP finds earlier steps' values."""
    if isinstance(want, str):
        if want == ANY:
            return True
        m = _CMP_RE.match(want.strip()) if want[:1] in ("=", "!", "<", ">") else None
        if m is not None:
            val = m["val"]
            ref = lookup(val[1:], "ret") if val.startswith("$") else int(val, 0)
            if not _is_num(got) or not _is_num(ref):
                return False  # a comparison holds only between numbers (ret null: no)
            return _OPS[m["op"]](got, ref)
        want = _expand(want, lookup)
        if isinstance(got, str) and any(c in want for c in GLOB_CHARS):
            return fnmatch.fnmatchcase(got, want)
    if isinstance(want, dict) and len(want) == 1 and next(iter(want)) in FORMS:
        form, arg = next(iter(want.items()))
        if form == "one_of":
            return any(matches(p, got, field, lookup) for p in arg)
        if form == "not":
            return not matches(arg, got, field, lookup)
        if form == "re":
            return isinstance(got, str) and re.fullmatch(_expand(arg, lookup), got) is not None
        return bool(got == lookup(str(arg), field))
    return bool(want == got)


def _is_num(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)
