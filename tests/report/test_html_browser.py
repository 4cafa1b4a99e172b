"""The HTML diff in a real headless browser (Debian's chromium): it renders, and trace text
that looks like markup stays text (no script runs)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.report.html import render_html
from harness.trace.diff import diff
from harness.trace.schema import Header, Record, Trace

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [pytest.mark.slow]

# a scenario whose traces really differ between the 2022.05 and the current kernel
SCENARIO = "fd/create-seek-remove"


def _dom(page: Path) -> str:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing (Makefile APT_PKGS installs it)")
        pytest.skip("chromium is not installed")
    proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                           "--user-data-dir=" + str(page.parent / "profile"), "--virtual-time-budget=2000",
                           "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_the_diff_of_two_profiles_renders_in_a_browser(tmp_path: Path) -> None:
    for profile in ("9front-2022.05", "9front-current"):
        subprocess.run([sys.executable, "-m", "harness", "model", "testcases/" + SCENARIO + ".yaml",
                        "--arch", "amd64", "--profile", profile, "-o", str(tmp_path / profile), "-q"],
                       cwd=REPO, check=False, capture_output=True)
    a, b = (tmp_path / p / "amd64" / "create-seek-remove.model.jsonl" for p in ("9front-2022.05", "9front-current"))
    page = tmp_path / "diff.html"
    proc = subprocess.run([sys.executable, "-m", "harness", "diff", str(a), str(b), "--html", str(page)],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 1, proc.stderr  # they diverge
    dom = _dom(page)
    assert "<h1>trace diff: create-seek-remove" in dom and "diverged" in dom
    assert 'id="first"' in dom and "All divergences" in dom and "Normalisation rules" in dom
    assert "profile differs" in dom


def test_markup_in_a_trace_is_shown_not_run(tmp_path: Path) -> None:
    evil = "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">"

    def trace(source: str, msg: str) -> Trace:
        return Trace(Header(source, "evil", "amd64", "9front-2022.05"),
                     [Record("main", 0, 1, "call", "exits", [f"s:{msg}"])])

    page = tmp_path / "evil.html"
    page.write_text(render_html(diff(trace("model", evil), trace("guest", "fine"), "model", "guest")))
    dom = _dom(page)
    title = re.search(r"<title>(.*?)</title>", dom, re.S)
    assert title is not None and "pwned" not in title.group(1) and title.group(1).startswith("trace diff: evil")
    body = dom.split("<body>", 1)[1]
    assert "<script" not in body and "<img" not in body
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in body  # there, as text
