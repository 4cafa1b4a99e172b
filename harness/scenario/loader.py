"""YAML loading that remembers line numbers, so every compiler error names one.

libyaml's C loader (``yaml.CSafeLoader``) is used where PyYAML was built with
it (Debian's and the wheels are): it is about ten times faster than the
pure-Python ``SafeLoader`` on the corpus, resolves tags the same way (the same
``Resolver`` and constructors), and its marks carry the same line numbers.  Its
error wording differs; the reason follows "not valid YAML:" either way.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from harness.errors import ScenarioError

# Deeper than any scenario needs (a child block inside a child block is 4 levels);
# bounded so hostile input ends as one line, not a RecursionError.
MAX_DEPTH = 64
# A scenario file larger than this is not a scenario (the corpus's largest is 400 KB).
MAX_FILE_SIZE = 64 << 20

if TYPE_CHECKING:
    _Base = yaml.SafeLoader
else:
    _Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class LineDict(dict[str, Any]):
    line: int = 0


class LineList(list[Any]):
    line: int = 0


class _Loader(_Base):
    pass


_STR_TAG = "tag:yaml.org,2002:str"


def _construct(loader: _Loader, node: yaml.Node) -> Any:
    # a plain string is its node's value (SafeConstructor.construct_yaml_str):
    # skipping the generic path halves the load of a 100,000-string argv
    if node.tag == _STR_TAG and isinstance(node, yaml.ScalarNode):
        return node.value
    return loader.construct_object(node, deep=True)


def _mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    d = LineDict()
    d.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = _construct(loader, key_node)
        if not isinstance(key, str | int):
            raise ScenarioError(loader.name, key_node.start_mark.line + 1, "keys must be plain words")
        if key in d:
            raise ScenarioError(loader.name, key_node.start_mark.line + 1, f"duplicate key {key!r}")
        d[str(key)] = _construct(loader, value_node)
    return d


def _sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    seq = LineList(_construct(loader, n) for n in node.value)
    seq.line = node.start_mark.line + 1
    return seq


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _sequence)


def check_scenario_file(path: str | Path) -> os.stat_result:
    """Refuse, with one line, what cannot be a scenario file: missing, a
    symlink loop, a FIFO or device (reading it could block forever), too big."""
    name = str(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ScenarioError(name, 0, "no such scenario file") from None
    except OSError as e:
        why = "a symlink loop" if e.errno == errno.ELOOP else (e.strerror or str(e))
        raise ScenarioError(name, 0, f"cannot read: {why}") from None
    if not stat.S_ISREG(st.st_mode):
        raise ScenarioError(name, 0, f"not a regular file ({_file_type(st.st_mode)}): a scenario is a .yaml file")
    if st.st_size > MAX_FILE_SIZE:
        raise ScenarioError(name, 0, f"{st.st_size} bytes: larger than any scenario ({MAX_FILE_SIZE} at most)")
    return st


def _file_type(mode: int) -> str:
    for test, what in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return what
    return "not a plain file"


def read_scenario_text(path: str | Path) -> bytes:
    check_scenario_file(path)
    try:
        # O_NONBLOCK: a file swapped for a FIFO after the check still cannot hang us
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as f:
            return f.read(MAX_FILE_SIZE + 1)
    except OSError as e:
        raise ScenarioError(str(path), 0, f"cannot read: {e.strerror or e}") from e


def load_yaml(path: str | Path) -> Any:
    return load_yaml_bytes(read_scenario_text(path), str(path))


def load_yaml_bytes(data: bytes, path: str) -> Any:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ScenarioError(str(path), line, f"cannot read: not UTF-8 ({e.reason} at byte {e.start})") from None
    # as Path.read_text did: universal newlines
    return load_yaml_text(text.replace("\r\n", "\n").replace("\r", "\n"), str(path))


def load_yaml_text(text: str, name: str) -> Any:
    loader = _Loader(text)
    loader.name = name
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if not isinstance(node, yaml.ScalarNode):
            _check_depth(node, name)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark if e.problem_mark is not None else e.context_mark
        line = mark.line + 1 if mark is not None else 0
        raise ScenarioError(name, line, f"not valid YAML: {_one_line(e.problem or e.context)}") from e
    except yaml.reader.ReaderError as e:  # a character YAML does not allow
        line = text[: e.position].count("\n") + 1
        raise ScenarioError(name, line, f"not valid YAML: character {e.character!r} is not allowed") from e
    except yaml.YAMLError as e:
        raise ScenarioError(name, 0, f"not valid YAML: {_one_line(e)}") from e
    except ValueError as e:  # a constructor's own check, e.g. an integer of more than 4300 digits
        raise ScenarioError(name, 0, f"not valid YAML: {_one_line(e)}") from e
    except RecursionError:  # the pure-Python composer on deep nesting (libyaml stops at 1000 levels)
        raise ScenarioError(name, 0, f"not valid YAML: nested more than {MAX_DEPTH} levels deep") from None
    finally:
        loader.dispose()


def _one_line(reason: object) -> str:
    return " ".join(str(reason).split())


def _check_depth(root: yaml.Node, name: str) -> None:
    """Nesting deeper than MAX_DEPTH is refused before anything recurses into it."""
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    seen: set[int] = set()
    scalar = yaml.ScalarNode
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ScenarioError(name, node.start_mark.line + 1, f"nested more than {MAX_DEPTH} levels deep")
        if id(node) in seen:  # an alias: already walked (and a cycle ends here)
            continue
        seen.add(id(node))
        children = node.value if isinstance(node, yaml.SequenceNode) else [n for kv in node.value for n in kv]
        stack += [(n, depth + 1) for n in children if not isinstance(n, scalar)]
