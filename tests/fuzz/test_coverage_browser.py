"""The annotated sysproc.c page in a real browser (Debian chromium through chromium-driver)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from harness.cli import main
from tests.scenario.test_corpus import CORPUS, SEED, shared_text

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_the_page_shows_every_line_and_the_counts(tmp_path: Path) -> None:
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not chromedriver:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("chromium and chromium-driver are not installed")
        pytest.skip("chromium and chromium-driver are not installed")
    shared_text(SEED)
    out = tmp_path / "cov"
    assert main(["coverage", str(CORPUS / "rfork"), "--source", str(SEED), "--out", str(out)]) == 0
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    profile = tempfile.mkdtemp(prefix="nh-chromium-")
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", f"--user-data-dir={profile}"):
        opts.add_argument(a)
    d = webdriver.Chrome(options=opts, service=Service(chromedriver))
    try:
        d.get((out / "sysproc.c.cov.html").as_uri())
        rows = d.find_elements(By.CSS_SELECTOR, "table tr")
        assert len(rows) == len(SEED.read_text().splitlines())
        hit = d.find_element(By.ID, "L42")
        assert "hit" in (hit.get_attribute("class") or "") and "rfork/bad-fdg-cfdg.yaml" in hit.text
        miss = d.find_element(By.ID, "L362")
        assert "miss" in (miss.get_attribute("class") or "") and "NOT reached" in miss.text
        assert "rule sites reached" in d.find_element(By.TAG_NAME, "p").text
    finally:
        d.quit()
        shutil.rmtree(profile, ignore_errors=True)
