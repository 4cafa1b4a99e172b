"""pytest plugin: scenarios as test items, one booted guest per session.

    pytest testcases/ --nh-arch amd64                       # on the golden model
    pytest testcases/ --nh-arch amd64 --nh-kernel 9pc64     # model + guest, diffed
    pytest testcases/ --nh-kernel sim.toml -n 2             # a [simulated-kernel] file, 2 guests

Options are prefixed like labgrid's (``--profile`` belongs to pytest-profiling).
Collection is opt-in: scenario YAML files are items only with ``--nh-arch``,
with ``nh_collect = true`` in the pytest ini (both: files under a ``testcases``
directory), or under a directory holding a ``nine-harness.toml``.

With ``--nh-kernel`` every item of the session shares one guest (one per
pytest-xdist worker): the collected scenarios are compiled at collection, all
delivered before the boot, and the guest boots at the first item.  A diverging
item fails with the diff (first divergence, context) and names the diff file; a
malformed scenario fails with its ``file:line: reason``; an infrastructure
verdict is an error, never a failure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.errors import HarnessError

STATE = pytest.StashKey["_State"]()
MARKER = "nine-harness.toml"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("nine-harness", "9front scenario runs")
    group.addoption("--nh-arch", default=None,
                    help="arch(es) to run scenarios for (comma list; default amd64,arm64,mips); also opts in to collection")
    group.addoption("--nh-profile", default=None, help="kernel semantic profile (default per arch)")
    group.addoption("--nh-kernel", default=None,
                    help="9front kernel (or [simulated-kernel] file) to boot: run scenarios in the guest and diff")
    group.addoption("--nh-agent", default=None, help="prebuilt guest agent a.out for --nh-kernel runs")
    group.addoption("--nh-results", default="results", help="where guest runs keep their results directory")
    group.addoption("--nh-shard", default=None, metavar="I/N|auto",
                    help="run only shard I of N of the scenario items (0-based; see docs/SCALE.md)")
    group.addoption("--nh-durations", default=None, metavar="SUMMARY",
                    help="with --nh-shard: a previous summary.json to balance shards by scenario time")
    parser.addini("nh_collect", type="bool", default=False,
                  help="collect scenario YAML files under testcases/ directories as items")


class _State:
    """What one pytest process (the controller, or one xdist worker) knows of its runs."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.cfg: Any = None  # harness.run.config.RunConfig with --nh-kernel, else None
        self.label = ""  # "[SIMULATED kernel ...] " for a simulated kernel file
        self.guest: Any = None  # harness.run.session.GuestSession, made at the first guest item
        self.scenarios = 0
        self.boots = 0
        self.results_path = ""

    def guest_config(self) -> None:
        kernel = self.config.getoption("nh_kernel")
        if not kernel:
            return
        from harness.guest.simkernel import is_simulated_kernel
        from harness.guest.simkernel import load as load_simulated_kernel
        from harness.run.config import RunConfig
        from harness.run.modelrun import default_profile

        arch = self.config.getoption("nh_arch")
        sim = load_simulated_kernel(kernel) if is_simulated_kernel(kernel) else None
        if sim is not None:
            if arch and arch != sim.arch:
                raise pytest.UsageError(f"--nh-kernel {kernel} is a SIMULATED {sim.arch} kernel, not --nh-arch {arch}")
            arch = sim.arch
            self.label = f"[{sim.label}] "
        if not arch or "," in arch or arch == "all":
            raise pytest.UsageError("--nh-kernel needs one --nh-arch (a guest runs one arch)")
        agent = self.config.getoption("nh_agent")
        self.cfg = RunConfig(arch=arch, profile=self.config.getoption("nh_profile") or default_profile(arch),
                             backend="simulated" if sim else "qemu", kernel=Path(kernel),
                             agent=Path(agent) if agent else None)

    def session(self, items: list[ScenarioItem]) -> Any:
        """The shared guest, made (not booted) at the first guest item with every scenario collected."""
        if self.guest is None:
            from harness.report.results import ResultsDir
            from harness.run.session import GuestSession

            worker = getattr(self.config, "workerinput", {}).get("workerid", "")
            cfg = self.cfg
            results = ResultsDir.create(self.config.getoption("nh_results"),
                                        f"pytest-{cfg.arch}{'-sim' if self.label else ''}{'-' + worker if worker else ''}")
            scenarios = [it.scenario for it in items if it.scenario is not None]
            results.meta["scenarios"] = len(scenarios)
            if self.label:
                results.meta.update({"kernel": str(cfg.kernel), "simulated": True})
            self.results_path = str(results.root)
            self.guest = GuestSession(cfg, results, scenarios, say=lambda s: None)
        return self.guest


def pytest_configure(config: pytest.Config) -> None:
    st = _State(config)
    config.stash[STATE] = st
    try:
        st.guest_config()
    except HarnessError as e:
        raise pytest.UsageError(str(e)) from None


def _opted_in(config: pytest.Config, file_path: Path) -> bool:
    asked = config.getoption("nh_arch") or config.getoption("nh_kernel") or config.getini("nh_collect")
    if asked and "testcases" in file_path.parts:
        return True
    top = Path(config.rootpath)
    for d in file_path.parents:
        if (d / MARKER).is_file():
            return True
        if d == top:
            break
    return False


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if file_path.suffix == ".yaml" and _opted_in(parent.config, file_path):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        from harness.cli.model_cmd import resolve_arches

        st = self.config.stash[STATE]
        arches = [st.cfg.arch] if st.cfg is not None else resolve_arches(self.config.getoption("nh_arch"))
        for arch in arches:
            yield ScenarioItem.from_parent(self, name=arch, arch=arch)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Compile every collected scenario now: a guest gets all its programs before it boots."""
    _shard(config, items)
    st = config.stash[STATE]
    ours = [it for it in items if isinstance(it, ScenarioItem)]
    for it in ours:
        it.compile()
    if st.cfg is not None:
        from harness.run.backends import get_backend
        from harness.run.runner import unique_names

        compiled = [it.scenario for it in ours if it.scenario is not None]
        try:
            unique_names(compiled)  # one guest holds every program, by name
            get_backend(st.cfg.backend).check(st.cfg, [sc.name for sc in compiled])
        except HarnessError as e:
            raise pytest.UsageError(str(e)) from None


def _shard(config: pytest.Config, items: list[pytest.Item]) -> None:
    """--nh-shard: deselect the scenario items of other shards (other tests are untouched)."""
    text = config.getoption("nh_shard")
    if not text:
        return
    from harness.run.shard import load_durations, parse_shard, select

    keys = {it: f"{it.path.stem}@{it.arch}" for it in items if isinstance(it, ScenarioItem)}
    try:
        shard = parse_shard(text)
        summary = config.getoption("nh_durations")
        per_name = load_durations(summary) if summary else {}
    except HarnessError as e:
        raise pytest.UsageError(f"--nh-shard: {e}") from None
    durations = {k: per_name[it.path.stem] for it, k in keys.items() if it.path.stem in per_name}
    mine = set(select(sorted(keys.values()), shard, durations))
    drop = [it for it, k in keys.items() if k not in mine]
    if drop:
        config.hook.pytest_deselected(items=drop)
        gone = set(drop)
        items[:] = [it for it in items if it not in gone]


class ScenarioItem(pytest.Item):
    def __init__(self, *, arch: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.arch = arch
        self.scenario: Any = None  # harness.scenario.compiler.Scenario, once compiled
        self.error: str | None = None  # a malformed scenario: its one line
        self.verdict: Any = None

    def compile(self) -> None:
        from harness.errors import ScenarioError
        from harness.scenario.compiler import compile_scenario

        try:
            self.scenario = compile_scenario(self.path, self.arch)
        except ScenarioError as e:
            self.error = str(e)

    def _profile(self) -> str:
        from harness.run.modelrun import default_profile

        return self.config.getoption("nh_profile") or default_profile(self.arch)

    def setup(self) -> None:
        """The guest run happens here, so that an infrastructure verdict is a pytest error."""
        st = self.config.stash[STATE]
        if self.scenario is None and self.error is None:
            self.compile()
        if st.cfg is None or self.scenario is None:
            return
        if not self.scenario.runs_on(self.arch, st.cfg.profile):
            pytest.skip(f"not for {self.arch}/{st.cfg.profile}")
        items = [it for it in self.session.items if isinstance(it, ScenarioItem)]
        self.verdict = st.session(items).run(self.scenario)
        st.scenarios += 1
        st.boots = st.guest.boots
        from harness.report.result import HARNESS_FAULTS

        if self.verdict.status in HARNESS_FAULTS:
            raise InfraVerdict(f"{st.label}{self.verdict.status.value}: {self.verdict.summary} (not a kernel verdict)")

    def runtest(self) -> None:
        if self.error is not None:
            raise ScenarioFailure(self.error)
        if self.verdict is not None:
            self._judge_guest()
            return
        from harness.run.modelrun import run_on_model

        res = run_on_model(self.path, self.arch, self._profile())
        if res is None:
            pytest.skip(f"not for {self.arch}/{self._profile()}")
        self.config.stash[STATE].scenarios += 1
        if res.status != "pass":
            raise ScenarioFailure(res.detail)

    def _judge_guest(self) -> None:
        from harness.report.result import Status

        v, st = self.verdict, self.config.stash[STATE]
        if v.status == Status.PASS:
            return
        head = dataclasses.replace(v, summary=f"{st.label}{v.summary}").describe()  # says SIMULATED
        where = ""
        if "diff" in v.files:
            where = f"\ndiff: {Path(st.results_path) / v.files['diff']}"
        raise ScenarioFailure(f"{head}\n{v.detail}{where}".rstrip())

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ScenarioFailure | InfraVerdict):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def _repr_failure_py(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        # setup's errors (an infrastructure verdict) as their one line, not a traceback
        if isinstance(excinfo.value, InfraVerdict):
            return str(excinfo.value)
        return super()._repr_failure_py(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"scenario {self.path.stem} [{self.arch}]"


class ScenarioFailure(Exception):
    pass


class InfraVerdict(Exception):
    """An infrastructure or internal verdict: a pytest error, never a kernel failure."""


def pytest_sessionfinish(session: pytest.Session) -> None:
    st = session.config.stash[STATE]
    if st.guest is not None:
        st.guest.close()
        st.guest.results.finish()
    out = getattr(session.config, "workeroutput", None)
    if out is not None:  # an xdist worker: the controller adds them up (pytest_testnodedown)
        out["nh_scenarios"], out["nh_boots"] = st.scenarios, st.boots


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    st = node.config.stash[STATE]
    out = getattr(node, "workeroutput", {}) or {}
    st.scenarios += int(out.get("nh_scenarios", 0))
    st.boots += int(out.get("nh_boots", 0))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    st = config.stash[STATE]
    if st.scenarios or st.boots:
        terminalreporter.write_line(f"nine-harness: {st.scenarios} scenarios on {st.boots} booted guests"
                                    + (f" {st.label.strip()}" if st.label else ""))
