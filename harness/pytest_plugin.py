"""pytest plugin: scenarios as test items.

    pytest testcases/ --arch amd64                      # on the golden model
    pytest testcases/ --arch amd64 --kernel 9pc64       # model + guest, diffed

Each scenario YAML file under a directory named ``testcases`` becomes one item
per arch.  On the model an item fails when an expectation does not hold; with
``--kernel`` it fails when the guest's trace diverges from the model's.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("nine-harness", "9front scenario runs")
    group.addoption("--arch", default=None, help="arch(es) to run scenarios for (comma list; default amd64,arm64,mips)")
    group.addoption("--profile", default=None, help="kernel semantic profile (default per arch)")
    group.addoption("--kernel", default=None, help="9front kernel to boot: run scenarios in the guest and diff")
    group.addoption("--agent", default=None, help="prebuilt guest agent a.out for --kernel runs")
    group.addoption("--nh-shard", default=None, metavar="I/N|auto",
                    help="run only shard I of N of the scenario items (0-based; see docs/SCALE.md)")
    group.addoption("--nh-durations", default=None, metavar="SUMMARY",
                    help="with --nh-shard: a previous summary.json to balance shards by scenario time")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """--nh-shard: deselect the scenario items of other shards (other tests are untouched)."""
    text = config.getoption("--nh-shard")
    if not text:
        return
    from harness.errors import HarnessError
    from harness.run.shard import load_durations, parse_shard, select

    keys = {it: f"{it.path.stem}@{it.arch}" for it in items if isinstance(it, ScenarioItem)}
    try:
        shard = parse_shard(text)
        summary = config.getoption("--nh-durations")
        per_name = load_durations(summary) if summary else {}
    except HarnessError as e:
        raise pytest.UsageError(f"--nh-shard: {e}") from None
    durations = {k: per_name[it.path.stem] for it, k in keys.items() if it.path.stem in per_name}
    mine = set(select(sorted(keys.values()), shard, durations))
    drop = [it for it, k in keys.items() if k not in mine]
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = [it for it in items if it not in set(drop)]


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if file_path.suffix == ".yaml" and "testcases" in file_path.parts:
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        from harness.cli.model_cmd import resolve_arches

        for arch in resolve_arches(self.config.getoption("--arch")):
            yield ScenarioItem.from_parent(self, name=arch, arch=arch)


class ScenarioItem(pytest.Item):
    def __init__(self, *, arch: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.arch = arch

    def runtest(self) -> None:
        from harness.run.modelrun import default_profile, run_on_model

        profile = self.config.getoption("--profile") or default_profile(self.arch)
        kernel = self.config.getoption("--kernel")
        if kernel:
            from harness.run.pipeline import run_one_for_pytest

            verdict = run_one_for_pytest(self.path, self.arch, profile, kernel, self.config.getoption("--agent"))
            if verdict.status != "pass":
                raise ScenarioFailure(verdict.describe())
            return
        res = run_on_model(self.path, self.arch, profile)
        if res is None:
            pytest.skip(f"not for {self.arch}/{profile}")
        if res.status != "pass":
            raise ScenarioFailure(res.detail)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ScenarioFailure):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"scenario {self.path.stem} [{self.arch}]"


class ScenarioFailure(Exception):
    pass
