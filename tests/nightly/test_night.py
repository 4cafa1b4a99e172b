"""`harness nightly` end to end on a matrix of SIMULATED kernels that differ from the model on purpose.

One night (module fixture) runs three cells: the seed kernel (behaves like the
model), a "current" kernel with a profile switch on (namec-error-suffix: a
divergence the baseline explains), a panic in one scenario (new), and a flaky
scenario; a second night on the same history, with the panic fixed, shows the
trends.  Every kernel here is SIMULATED (harness/guest/simkernel.py); real
kernels go through the same `harness run` children.
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from lxml import etree
from lxml import html as lhtml
from nightlyutil import FLAKY, XSD, outcome, summary

pytestmark = pytest.mark.slow


def test_a_night_fails_only_on_what_the_baseline_does_not_explain(nights: dict[str, Any]) -> None:
    r = nights["first"]
    assert r.returncode == 1, r.stderr
    s = summary(nights["n1"])
    assert s["finished"] and s["exit_code"] == 1 and s["simulated"]
    seed = [o for o in s["outcomes"] if o["cell"] == "seed-amd64"]
    assert {o["verdict"] for o in seed} == {"pass"} and len(seed) == 3
    cow = outcome(s, "current-amd64", "cow")
    assert cow["verdict"] == "new" and cow["status"] == "guest-crash" and "panic" in cow["summary"]
    assert len(cow["attempts"]) == 3  # retried twice, the same panic each time: not flaky
    known = outcome(s, "current-amd64", "after-failure-seed")
    assert known["verdict"] == "known" and known["known"]["line"] == 2
    assert "does not exist: '/tmp/nh" in known["summary"]
    assert s["new_failures"] == [f"current-amd64: cow: guest-crash: {cow['summary']}"]
    nsec = [o for o in s["outcomes"] if o["cell"] == "current-amd64" and "nsec" in o["covers"]]
    assert nsec and {o["verdict"] for o in nsec} == {"pass"}  # "syscall:nsec" picked them from the corpus
    assert s["counts"] == {"flaky": 1, "known": 1, "new": 1, "pass": 3 + len(nsec)}


def test_flaky_is_reported_and_does_not_fail_the_night(nights: dict[str, Any]) -> None:
    s = summary(nights["n1"])
    flaky = outcome(s, "current-amd64", FLAKY)
    assert flaky["verdict"] == "flaky" and flaky["trend"] == "flaky"
    assert [a["status"] for a in flaky["attempts"]] == ["guest-crash", "pass"]  # retried once: it differed
    assert s["flaky"] == [f"current-amd64: {FLAKY}: guest-crash: {flaky['summary']}"] and "panic" in s["flaky"][0]


def test_stale_and_expired_entries_are_reported(nights: dict[str, Any]) -> None:
    s = summary(nights["n1"])
    kb = s["known_baseline"]
    assert sorted(k["line"] for k in kb["stale"]) == [9, 14]  # the cow entry's signature matched nothing
    assert [k["until"] for k in kb["expired"]] == ["2020-01-31"]
    text = (nights["n1"] / "summary.txt").read_text()
    assert "baseline line 9: no-such-scenario @ * explained nothing tonight: fixed? remove it" in text
    assert "expired on 2020-01-31" in text
    assert "new failures (1):\n  current-amd64: cow: guest-crash: panic" in text
    assert nights["first"].stdout == text


def test_each_cell_keeps_its_ordinary_results_directory(nights: dict[str, Any]) -> None:
    s = summary(nights["n1"])
    for c in s["cells"]:
        run = nights["n1"] / c["run_dir"]
        assert (run / "summary.json").is_file() and (run / "console.log").is_file()
        assert "SIMULATED" in (run / "console.log").read_text()
    diff = nights["n1"] / outcome(s, "current-amd64", "after-failure-seed")["files"]["diff_html"]
    assert diff.read_text().lstrip().lower().startswith("<!doctype html")


def test_junit_is_valid_and_says_what_happened(nights: dict[str, Any]) -> None:
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    files = sorted((nights["n1"] / "junit").glob("*.xml"))
    assert [f.name for f in files] == ["current-amd64.xml", "seed-amd64.xml"]
    for f in files:
        doc = etree.parse(str(f))
        assert schema.validate(doc), schema.error_log
    doc = etree.parse(str(nights["n1"] / "junit" / "current-amd64.xml"))
    suite = doc.find("testsuite")
    assert suite is not None and suite.get("tests") == str(len(cases_of(suite))) and suite.get("failures") == "1"
    assert suite.get("skipped") == "1"
    cases = {tc.get("name"): tc for tc in suite.iter("testcase")}
    fail = cases["cow"].find("failure")
    s = summary(nights["n1"])
    assert fail is not None and fail.get("message") == outcome(s, "current-amd64", "cow")["summary"]
    assert fail.get("type") == "guest-crash"
    skipped = cases["after-failure-seed"].find("skipped")
    assert skipped is not None and skipped.get("message", "").startswith("known: namec error text")
    assert cases[FLAKY].find("failure") is None and cases[FLAKY].find("flakyFailure") is not None
    out = cases["after-failure-seed"].findtext("system-out") or ""
    assert "NH1 main" in out and "does not exist: '/tmp/nh" in out  # the scenario's own console excerpt


def cases_of(suite: Any) -> list[Any]:
    return list(suite.iter("testcase"))


def test_the_schema_is_not_vacuous(nights: dict[str, Any]) -> None:
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    doc = etree.parse(str(nights["n1"] / "junit" / "seed-amd64.xml"))
    for tc in doc.iter("testcase"):
        del tc.attrib["name"]
    assert not schema.validate(doc)


def test_history_compares_with_the_previous_night(nights: dict[str, Any]) -> None:
    r = nights["second"]
    assert r.returncode == 0, r.stderr  # the panic is fixed; the rest is known or flaky
    s1, s2 = summary(nights["n1"]), summary(nights["n2"])
    assert s2["previous_night"] == s1["night"]
    assert outcome(s2, "current-amd64", "cow")["trend"] == "fixed"
    assert outcome(s2, "current-amd64", "after-failure-seed")["trend"] == "still-failing"
    assert outcome(s1, "current-amd64", "cow")["trend"] == "new"
    assert s2["fixed"] == ["current-amd64: cow"]
    hist = sorted(p.name for p in (nights["dir"] / "hist").iterdir())
    assert hist == [s1["night"], s2["night"]]
    assert s2["history"]["nights"] == hist
    assert s2["history"]["pass"]["cow"] == [1, 2] and s2["history"]["total"]["cow"] == [2, 2]
    kept = nights["dir"] / "hist" / s1["night"]
    assert sorted(p.name for p in kept.iterdir()) == ["junit", "report.html", "summary.json", "summary.txt"]
    page = lhtml.parse(str(kept / "report.html")).getroot()
    (base,) = page.xpath("//base/@href")
    assert base == nights["n1"].as_uri() + "/"  # the kept copy's links go to the night directory
    rel = outcome(s1, "current-amd64", "after-failure-seed")["files"]["diff_html"]
    assert rel in page.xpath("//a/@href") and (nights["n1"] / rel).is_file()


def test_an_expired_entry_warns_but_a_valid_one_is_not_expired() -> None:
    from harness.nightly.baseline import Known

    k = Known("a", "b", "r", 1, until=datetime.date(2020, 1, 31))
    assert k.expired(datetime.date(2020, 2, 1)) and not k.expired(datetime.date(2020, 1, 31))
