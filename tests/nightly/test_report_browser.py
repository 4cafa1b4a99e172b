"""The night's HTML report in a real browser: Debian's chromium through chromium-driver and selenium.

Headless, sandbox off (root in CI), no network services, a fresh profile.  The
grid must show the counts summary.json has, a divergence's diff must open,
the filters must filter, the page must log no errors, and every link must
point at a file the night wrote.  A screenshot goes into the night directory
and into results/nightly-report.png of the checkout.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest
from nightlyutil import REPO, missing, summary

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1400,1100")


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not chromedriver:
        missing("chromium and chromium-driver are not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(chromium)
    profile = tempfile.mkdtemp(prefix="nh-chromium-")
    for a in (*ARGS, f"--user-data-dir={profile}"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(options=opts, service=Service(str(chromedriver)))  # a given driver: no download
    try:
        yield d
    finally:
        d.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _open(driver: Any, night: Path) -> None:
    driver.get((night / "report.html").as_uri())
    driver.get_log("browser")  # start each test's log empty


def _visible_rows(driver: Any) -> list[str]:
    from selenium.webdriver.common.by import By

    return [r.get_attribute("data-scenario") for r in driver.find_elements(By.CSS_SELECTOR, "#grid tbody tr")
            if r.is_displayed()]


def _errors(driver: Any) -> list[Any]:
    return [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def test_the_grid_shows_the_counts_of_the_night(driver: Any, nights: dict[str, Any]) -> None:
    from selenium.webdriver.common.by import By

    s = summary(nights["n1"])
    _open(driver, nights["n1"])
    assert "SIMULATED" in driver.find_element(By.TAG_NAME, "h1").text
    for verdict in ("new", "known", "flaky", "infra", "pass", "not-run"):
        el = driver.find_element(By.ID, f"count-{verdict}")
        assert int(el.get_attribute("data-count")) == s["counts"].get(verdict, 0)
        assert len(driver.find_elements(By.CSS_SELECTOR, f"#grid td.v-{verdict}")) == s["counts"].get(verdict, 0)
    for c in s["cells"]:
        shown = {sp.get_attribute("data-verdict"): int(sp.text.split()[0])
                 for sp in driver.find_elements(By.CSS_SELECTOR, f"#cell-{c['name']} td.counts span")}
        assert shown == c["counts"]
    scenarios = {o["scenario"] for o in s["outcomes"]}
    assert sorted(_visible_rows(driver)) == sorted(scenarios)
    assert driver.find_element(By.ID, "shown").text == f"{len(scenarios)} of {len(scenarios)} scenarios shown"
    assert _errors(driver) == []


def test_a_divergence_opens_with_its_diff(driver: Any, nights: dict[str, Any]) -> None:
    from selenium.webdriver.common.by import By

    _open(driver, nights["n1"])
    td = driver.find_element(By.CSS_SELECTOR, 'tr[data-scenario="after-failure-seed"] td[data-cell="current-amd64"]')
    assert td.text == "known"
    detail_id = td.get_attribute("data-detail")
    detail = driver.find_element(By.ID, detail_id)
    assert not detail.is_displayed()
    td.click()
    assert detail.is_displayed()
    text = detail.text
    assert "first divergence" in text and "does not exist: '/tmp/nh" in text
    assert "namec error text order changed" in text  # the baseline's reason
    href = detail.find_element(By.LINK_TEXT, "HTML diff").get_attribute("href")
    td.click()
    assert not detail.is_displayed()
    driver.get(href)
    assert "does not exist" in driver.find_element(By.TAG_NAME, "body").text
    assert _errors(driver) == []


def test_filters_filter(driver: Any, nights: dict[str, Any]) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    s = summary(nights["n1"])
    _open(driver, nights["n1"])
    verdict = Select(driver.find_element(By.ID, "f-verdict"))
    verdict.select_by_value("new")
    assert _visible_rows(driver) == ["cow"]
    verdict.select_by_value("")
    Select(driver.find_element(By.ID, "f-syscall")).select_by_value("errstr")
    want = sorted({o["scenario"] for o in s["outcomes"] if "errstr" in o["covers"]})
    assert sorted(_visible_rows(driver)) == want and want
    Select(driver.find_element(By.ID, "f-syscall")).select_by_value("")
    driver.find_element(By.ID, "f-new").click()
    new = sorted({o["scenario"] for o in s["outcomes"] if o["trend"] == "new"})
    assert sorted(_visible_rows(driver)) == new == ["after-failure-seed", "cow"]
    # the next night has nothing new: the checkbox hides every row
    _open(driver, nights["n2"])
    driver.find_element(By.ID, "f-new").click()
    assert _visible_rows(driver) == []
    assert _errors(driver) == []


def test_links_point_at_files_of_the_night_and_nothing_is_fetched(driver: Any, nights: dict[str, Any]) -> None:
    from selenium.webdriver.common.by import By

    _open(driver, nights["n1"])
    for tag, attr in (("script", "src"), ("link", "href"), ("img", "src"), ("iframe", "src")):
        for el in driver.find_elements(By.TAG_NAME, tag):
            value = el.get_attribute(attr) or ""
            assert not value.startswith(("http:", "https:")), (tag, value)
    files = 0
    for a in driver.find_elements(By.TAG_NAME, "a"):
        url = urlparse(a.get_attribute("href"))
        if url.scheme == "file":
            assert Path(unquote(url.path)).is_file(), url.path
            files += 1
    assert files > 10
    consoles = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "#cell-seed-amd64 a")]
    assert "console.log" in consoles and "console-1.log" in consoles  # jobs = 2: two machines, two logs


def test_a_screenshot_of_the_report(driver: Any, nights: dict[str, Any]) -> None:
    from selenium.webdriver.common.by import By

    _open(driver, nights["n1"])
    driver.find_element(By.CSS_SELECTOR, 'tr[data-scenario="cow"] td[data-cell="current-amd64"]').click()
    shot = nights["n1"] / "report.png"
    assert driver.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    dest = REPO / "results" / "nightly-report.png"
    dest.parent.mkdir(exist_ok=True)
    shutil.copy(shot, dest)
    assert _errors(driver) == []
