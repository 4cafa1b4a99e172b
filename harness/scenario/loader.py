"""YAML loading that remembers line numbers, so every compiler error names one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from harness.errors import ScenarioError


class LineDict(dict[str, Any]):
    line: int = 0


class LineList(list[Any]):
    line: int = 0


class _Loader(yaml.SafeLoader):
    pass


def _mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    d = LineDict()
    d.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str | int):
            raise ScenarioError(loader.name, key_node.start_mark.line + 1, "keys must be plain words")
        if key in d:
            raise ScenarioError(loader.name, key_node.start_mark.line + 1, f"duplicate key {key!r}")
        d[str(key)] = loader.construct_object(value_node, deep=True)
    return d


def _sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    seq = LineList(loader.construct_object(n, deep=True) for n in node.value)
    seq.line = node.start_mark.line + 1
    return seq


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _sequence)


def load_yaml(path: str | Path) -> Any:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(str(path), 0, "no such scenario file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ScenarioError(str(path), 0, f"cannot read: {e}") from e
    return load_yaml_text(text, str(path))


def load_yaml_text(text: str, name: str) -> Any:
    loader = _Loader(text)
    loader.name = name
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        line = mark.line + 1 if mark is not None else 0
        raise ScenarioError(name, line, f"not valid YAML: {e.problem}") from e
    except yaml.YAMLError as e:
        raise ScenarioError(name, 0, f"not valid YAML: {e}") from e
    finally:
        loader.dispose()
