"""Delta debugging of a disagreeing program: steps, then nested blocks, then arguments.

``still(candidates)`` says, for a batch of candidate documents, which still
disagree the same way (same signature).  Candidates of one round go as one
batch, so a guest that takes its programs before it boots needs one boot per
round, not per candidate; the first candidate that still disagrees (in a fixed
order) wins, so the result depends only on the answers.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

from harness.fuzz.gen import Doc, Step, document, op_of

Still = Callable[[list[Doc]], list[bool]]


def ddmin(items: list[Any], test: Callable[[list[list[Any]]], list[bool]]) -> list[Any]:
    """The classic ddmin over complements (Zeller): a 1-minimal sublist ITEMS that
    still passes TEST (which takes a batch of candidate lists)."""
    n = 2
    while len(items) >= 1:
        size = max(1, -(-len(items) // n))
        chunks = [items[i:i + size] for i in range(0, len(items), size)]
        cands = [[x for j, c in enumerate(chunks) if j != i for x in c] for i in range(len(chunks))]
        ok = test(cands) if cands else []
        win = next((c for c, good in zip(cands, ok, strict=True) if good), None)
        if win is not None:
            items = win
            n = max(n - 1, 2)
            continue
        if size == 1:
            break
        n = min(len(items), n * 2)
    return items


def _with_steps(doc: Doc, path: tuple[Any, ...], steps: list[Step]) -> Doc:
    new = copy.deepcopy(doc)
    target: Any = new["steps"]
    if not path:
        new["steps"] = steps
        return _tidy(new)
    for i, key in path[:-1]:
        target = target[i][key]
    i, key = path[-1]
    target[i][key] = steps
    return _tidy(new)


def _tidy(doc: Doc) -> Doc:
    return document(doc["steps"], doc.get("buffers", {}), doc["name"])


def _blocks(steps: list[Step], path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], list[Step]]]:
    out = []
    for i, s in enumerate(steps):
        for key in ("child", "then"):
            if isinstance(s.get(key), list):
                p = (*path, (i, key))
                out.append((p, s[key]))
                out += _blocks(s[key], p)
    return out


def _get(doc: Doc, path: tuple[Any, ...]) -> list[Step]:
    target: Any = doc["steps"]
    for i, key in path:
        target = target[i][key]
    return list(target)


def minimise_steps(doc: Doc, still: Still) -> Doc:
    def test_at(path: tuple[Any, ...]) -> Callable[[list[list[Step]]], list[bool]]:
        return lambda cands: still([_with_steps(doc_[0], path, c) for c in cands])

    doc_ = [doc]
    doc_[0] = _with_steps(doc, (), ddmin(list(doc["steps"]), test_at(())))
    done: set[tuple[Any, ...]] = set()
    while True:
        todo = [p for p, _ in _blocks(doc_[0]["steps"]) if p not in done]
        if not todo:
            return doc_[0]
        path = todo[0]
        done.add(path)
        doc_[0] = _with_steps(doc_[0], path, ddmin(_get(doc_[0], path), test_at(path)))


def simpler(v: Any) -> list[Any]:
    """Simpler values to try in place of V, simplest first."""
    if isinstance(v, bool) or v is None:
        return []
    if isinstance(v, int):
        return [x for x in (0, 1) if x != v]
    if isinstance(v, str):
        if "|" in v:
            parts = v.split("|")
            return ["|".join(p for p in parts if p != q) for q in parts]
        if v.startswith("$") or v in ("text", "data", "bss", "end", "stack", "stacktop"):
            return []
        out = [] if v == "" else [""]
        if len(v) > 1:
            out += [v[: len(v) // 2], v[0]]
        return out
    if isinstance(v, list):
        return [v[:i] + v[i + 1:] for i in range(len(v))] if len(v) > 1 else []
    return []


def _arg_sites(doc: Doc) -> list[tuple[tuple[Any, ...], int]]:
    """(path to a step, argument index) for every argument of every step."""
    out: list[tuple[tuple[Any, ...], int]] = []

    def walk(steps: list[Step], path: tuple[Any, ...]) -> None:
        for i, s in enumerate(steps):
            args = s[op_of(s)]
            n = len(args) if isinstance(args, list) else 1
            out.extend(((*path, i), k) for k in range(n))
            for key in ("child", "then"):
                if isinstance(s.get(key), list):
                    walk(s[key], (*path, i, key))

    walk(doc["steps"], ())
    return out


def _step_at(doc: Doc, path: tuple[Any, ...]) -> Step:
    target: Any = doc["steps"]
    for x in path:
        target = target[x]
    assert isinstance(target, dict)
    return target


def minimise_args(doc: Doc, still: Still) -> Doc:
    for path, k in _arg_sites(doc):
        step = _step_at(doc, path)
        op = op_of(step)
        args = step[op]
        cur = args[k] if isinstance(args, list) else args
        cands = []
        for v in simpler(cur):
            new = copy.deepcopy(doc)
            s = _step_at(new, path)
            if isinstance(s[op], list):
                s[op][k] = v
            else:
                s[op] = v
            cands.append(_tidy(new))
        if cands:
            ok = still(cands)
            doc = next((c for c, good in zip(cands, ok, strict=True) if good), doc)
    return minimise_buffers(doc, still)


def minimise_buffers(doc: Doc, still: Still) -> Doc:
    """Fewer fields in aout headers, shorter #! texts (a token at a time)."""
    for name in list(doc.get("buffers", {})):
        spec = doc["buffers"][name]
        cands = []
        if isinstance(spec, dict) and isinstance(spec.get("aout"), dict):
            for key in list(spec["aout"]):
                new = copy.deepcopy(doc)
                del new["buffers"][name]["aout"][key]
                cands.append(new)
            if spec.get("pad"):
                new = copy.deepcopy(doc)
                del new["buffers"][name]["pad"]
                cands.append(new)
        elif isinstance(spec, dict) and isinstance(spec.get("text"), str):
            doc = _shorter_text(doc, name, still)
        if cands:
            ok = still(cands)
            doc = next((c for c, good in zip(cands, ok, strict=True) if good), doc)
    return doc


def _shorter_text(doc: Doc, name: str, still: Still) -> Doc:
    """ddmin over the words of a text buffer (each with the blanks after it); the first
    word (the '#!' and the interpreter) stays."""
    text = doc["buffers"][name]["text"]
    words = re.findall(r"\S+\s*|\s+", text)
    if len(words) < 2:
        return doc

    def with_words(ws: list[str]) -> Doc:
        new = copy.deepcopy(doc)
        new["buffers"][name]["text"] = words[0] + "".join(ws)
        return new

    best = ddmin(words[1:], lambda cands: still([with_words(c) for c in cands]))
    return with_words(best) if len(best) < len(words) - 1 else doc


def minimise(doc: Doc, still: Still) -> Doc:
    return minimise_args(minimise_steps(_tidy(doc), still), still)


def count_steps(steps: list[Step]) -> int:
    n = 0
    for s in steps:
        n += 1
        for key in ("child", "then"):
            if isinstance(s.get(key), list):
                n += count_steps(s[key])
    return n
