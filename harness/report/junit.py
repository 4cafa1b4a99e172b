"""JUnit XML (what Jenkins and GitLab read): of one nightly cell, and of one run
(junit.xml beside summary.json; `harness merge` joins shards' runs with it).

One <testsuite> per cell, one <testcase> per scenario (classname CELL.SYSCALL):

* new divergence or kernel crash -> <failure message="first divergence" type="diverged|guest-crash">
  with the rendered diff (or the console tail) as its text;
* infrastructure                -> <error type="infra-error">;
* known (baseline)              -> <skipped message="known: REASON">;
* flaky                         -> passed, with one <flakyFailure> per failing attempt
                                   (the Surefire rerun shape both readers understand);
                                   with --flaky-fails also a <failure type="flaky">;
* not run (interrupted night)   -> <skipped message="not run">.

<system-out> is the scenario's console excerpt.  Input is the night summary's
cell row and outcome dicts (harness.nightly.summary), so this module does not
depend on how the night ran.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import junitparser
from junitparser import Error, Failure, JUnitXml, Skipped, TestCase, TestSuite

from harness.report.formats import run_format
from harness.report.result import HARNESS_FAULTS, KERNEL_VERDICTS, RunResult, Verdict

EXCERPT_LIMIT = 64 * 1024  # characters of console per testcase; the whole log is linked in the report
# XML 1.0 cannot carry most control characters, which kernel consoles do print
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class FlakyFailure(junitparser.Element):
    """Surefire's <flakyFailure message= type=>: a failing attempt of a test that passed on rerun."""

    _tag = "flakyFailure"
    message = junitparser.Attr()
    type = junitparser.Attr()


def clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _console(night_dir: Path, o: dict[str, Any]) -> str:
    rel = o.get("files", {}).get("console")
    if rel:
        try:
            text = (night_dir / rel).read_bytes().decode("utf-8", "replace")
        except OSError:
            text = ""
        if text:
            return text[-EXCERPT_LIMIT:]
    return str(o.get("detail", ""))[-EXCERPT_LIMIT:]


def testcase(night_dir: Path, cell: str, o: dict[str, Any]) -> TestCase:
    covers = o.get("covers") or ["scenario"]
    tc = TestCase(o["scenario"], classname=f"{cell}.{covers[0]}", time=float(o.get("seconds", 0.0)))
    verdict, summary = o["verdict"], clean(o.get("summary", ""))
    flaky = len({(a["status"], a["summary"]) for a in o.get("attempts", [])}) > 1
    if verdict == "new":  # with --flaky-fails a flaky scenario is new too, of type "flaky"
        f = Failure(summary, "flaky" if flaky else o["status"])
        f.text = clean(o.get("detail", "")) or summary
        tc.result = [f]
    elif verdict == "infra":
        e = Error(summary, "infra-error")
        e.text = clean(o.get("detail", "")) or summary
        tc.result = [e]
    elif verdict == "known":
        tc.result = [Skipped(clean(f"known: {o['known']['reason']}"))]
    elif verdict == "not-run":
        tc.result = [Skipped("not run: the night was interrupted")]
    if flaky:
        for a in o.get("attempts", []):
            if a["status"] not in ("pass", "infra-error"):  # the failing attempts
                ff = FlakyFailure()
                ff.message, ff.type = clean(a["summary"]), a["status"]
                tc.append(ff)
    out = _console(night_dir, o)
    if out:
        tc.system_out = clean(out)
    return tc


def write_junit(path: Path, cell: dict[str, Any], outcomes: list[dict[str, Any]]) -> None:
    """Write PATH (atomically): the cell's testsuite."""
    night_dir = path.parent.parent
    suite = TestSuite(cell["name"])
    suite.hostname = os.uname().nodename
    if cell.get("started"):
        suite.timestamp = cell["started"]
    for o in outcomes:
        suite.add_testcase(testcase(night_dir, cell["name"], o))
    if cell.get("message"):  # why the cell could not run
        suite.append(junitparser.SystemErr(clean(cell["message"])))
    suite.add_property("arch", cell["arch"])
    suite.add_property("profile", cell["profile"])
    suite.add_property("kernel", ("SIMULATED " if cell["simulated"] else "") + cell["kernel"])
    suite.update_statistics()
    xml = JUnitXml(f"nine-harness nightly: {cell['name']}")
    xml.add_testsuite(suite)
    xml.update_statistics()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        xml.write(str(tmp), pretty=True)
        os.replace(tmp, path)
    except BaseException:  # interrupted or the disk full: no temp file left
        tmp.unlink(missing_ok=True)
        raise


# -- one run (`harness run`, `harness merge`) -----------------------------------
# The run's junit.xml is a run format (harness.report.formats): written beside
# summary.json at the start, the end and an interruption of every run.  A
# divergence or kernel crash is a <failure>, a harness fault an <error> (never
# a failure: SPEC 5); the test's text is the first divergence or the console tail.


def run_suite(name: str, verdicts: list[Verdict], properties: dict[str, str] | None = None) -> TestSuite:
    suite = TestSuite(name)
    for key, value in (properties or {}).items():
        suite.add_property(key, value)
    for v in verdicts:
        tc = TestCase(v.scenario, classname=f"{v.arch}.{v.profile}", time=float(v.seconds))
        if v.status in KERNEL_VERDICTS:
            f = Failure(clean(v.summary), v.status.value)
            f.text = clean(v.detail) or clean(v.summary)
            tc.result = [f]
        elif v.status in HARNESS_FAULTS:
            e = Error(clean(v.summary), v.status.value)
            e.text = clean(v.detail) or clean(v.summary)
            tc.result = [e]
        suite.add_testcase(tc)
    suite.update_statistics()
    return suite


def junit_document(name: str, suites: list[TestSuite]) -> str:
    xml = JUnitXml(name)
    for s in suites:
        xml.add_testsuite(s)
    xml.update_statistics()
    return '<?xml version="1.0" encoding="utf-8"?>\n' + xml.tostring().decode("utf-8") + "\n"


@run_format("junit.xml")
def run_junit(run: RunResult) -> str:
    name = f"nine-harness {run.command.value} {run.run_id}" + (" (SIMULATED)" if run.simulated else "")
    kernel = ("SIMULATED " if run.simulated else "") + (run.kernel or "")
    suite = run_suite(run.run_id or "run", run.verdicts, {"arch": run.arch, "profile": run.profile, "kernel": kernel})
    return junit_document(name, [suite])
