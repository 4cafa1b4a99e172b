"""The import graph of harness/, read with ast: no circles, click only in the CLI, and the
pipeline's folders only import downstream of themselves where it matters (trace/ is data)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "harness"

# front ends: the only modules that may import click or harness.cli
FRONT_ENDS = ("harness.cli", "harness.pytest_plugin", "harness.__main__")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in ROOT.rglob("*.py")}


def _resolve(name: str) -> str | None:
    """The harness module NAME refers to (a module, else its package), None outside harness."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module: str) -> set[str]:
    """Every name MODULE imports, at any depth (function-local imports count too)."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import module` imports pkg.module; `from pkg import name`, pkg itself
            subs = {f"{base}.{a.name}" for a in node.names}
            out |= {s for s in subs if s in MODULES}
            if any(s not in MODULES for s in subs):
                out.add(base)
    return out


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for m in MODULES:
        targets = {_resolve(n) for n in _imports(m) if n == "harness" or n.startswith("harness.")}
        graph[m] = {t for t in targets if t is not None and t != m}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _is_front_end(module: str) -> bool:
    return any(module == f or module.startswith(f + ".") for f in FRONT_ENDS)


def test_the_walker_sees_the_package() -> None:
    graph = _graph()
    assert "harness.report.text" in graph and "harness.trace.diff" in graph["harness.report.text"]
    assert "harness.report.results" in graph["harness.run.pipeline"]
    # a cycle planted in a copy of the graph is found: the check can fail
    planted = {k: set(v) for k, v in graph.items()}
    planted["harness.trace.diff"].add("harness.report.text")
    assert any({"harness.report.text", "harness.trace.diff"} <= set(c) for c in _cycles(planted))


def test_no_import_circles() -> None:
    assert _cycles(_graph()) == []


def test_click_only_in_the_cli() -> None:
    users = sorted(m for m in MODULES if "click" in {n.split(".")[0] for n in _imports(m)} and not _is_front_end(m))
    assert users == [], f"click imported outside harness/cli: {users}"


def test_nothing_but_front_ends_import_the_cli() -> None:
    graph = _graph()
    bad = sorted(m for m, deps in graph.items() if not _is_front_end(m)
                 and any(_is_front_end(d) for d in deps))
    assert bad == [], f"library modules importing the CLI: {bad}"


@pytest.mark.parametrize("downstream", ["harness.report", "harness.run", "harness.qemu", "harness.guest"])
def test_trace_is_data_only(downstream: str) -> None:
    """trace/ is the data layer: it imports neither reporting nor anything that runs guests."""
    graph = _graph()
    bad = sorted((m, d) for m, deps in graph.items() if m.startswith("harness.trace")
                 for d in deps if d == downstream or d.startswith(downstream + "."))
    assert bad == []


def test_report_does_not_reach_back_into_the_pipeline() -> None:
    """report/ renders results; it never imports what runs them (run/, qemu/, the CLI)."""
    graph = _graph()
    bad = sorted((m, d) for m, deps in graph.items() if m.startswith("harness.report")
                 for d in deps if d.split(".")[1:2] in (["run"], ["qemu"], ["cli"], ["guest"]))
    assert bad == []
