"""`harness diff A B`: output and exit codes (0 identical, 1 divergent, 2 unusable input)."""

from __future__ import annotations

import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import cli, main
from harness.trace.schema import Header, Record, Trace, write_trace


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.texts.append(data)


def _write(path: Path, source: str, pid: int, msg: str) -> Path:
    recs = [Record("main", 0, 0, "start", "start", out={"pid": pid}),
            Record("main", 1, 1, "call", "rfork", ["i:20", "c:b1"], ret=pid + 2),
            Record("s1", 0, 0, "start", "start", out={"pid": pid + 2}),
            Record("s1", 1, 2, "call", "exits", ["s:x"]),
            Record("main", 2, 3, "call", "await", ["b:w", "i:256"], ret=25,
                   out={"str": f"{pid + 2} 0 0 0 'agent {pid + 2}: {msg}'"})]
    write_trace(path, Trace(Header(source, "demo", "amd64", "9front-2022.05"), recs))
    return path


@pytest.fixture
def traces(tmp_path: Path) -> dict[str, Path]:
    return {"model": _write(tmp_path / "demo.model.jsonl", "model", 101, "x"),
            "guest": _write(tmp_path / "demo.guest.jsonl", "guest", 977, "x"),
            "bad": _write(tmp_path / "bad.guest.jsonl", "guest", 977, "y")}


def test_identical_exits_0(traces: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", str(traces["model"]), str(traces["guest"])]) == 0
    out = capsys.readouterr().out
    assert "identical" in out and "\x1b[" not in out  # not a tty: no colour


def test_divergent_exits_1_and_writes_html(traces: dict[str, Path], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "d.html"
    rc = main(["diff", str(traces["model"]), str(traces["bad"]), "--html", str(page), "--context", "1",
               "--no-color"])
    assert rc == 1
    out = capsys.readouterr().out
    assert "first divergence: step 3, process main, record 2, await, field out.str" in out
    assert "context (process main, 1 record before it)" in out
    parser = _Text()
    parser.feed(page.read_text())
    assert "step 3, process main, record 2, await" in "".join(parser.texts)


def test_click_runner_sees_the_same_exit_codes(traces: dict[str, Path]) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["diff", str(traces["model"]), str(traces["guest"])]).exit_code == 0
    res = runner.invoke(cli, ["diff", str(traces["model"]), str(traces["bad"])])
    assert res.exit_code == 1 and "DIVERGED" in res.output


def test_unusable_inputs_exit_2(traces: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.jsonl"
    assert main(["diff", str(traces["model"]), str(missing)]) == 2
    assert capsys.readouterr().err.strip() == f"harness: {missing}: no such file"
    junk = tmp_path / "junk.jsonl"
    junk.write_text("hello\n")
    assert main(["diff", str(junk), str(traces["model"])]) == 2
    assert "not JSON" in capsys.readouterr().err
    notrace = tmp_path / "notrace.jsonl"
    notrace.write_text('{"a": 1}\n')
    assert main(["diff", str(notrace), str(traces["model"])]) == 2
    assert "not a nine-harness trace" in capsys.readouterr().err
    assert main(["diff", str(tmp_path), str(traces["model"])]) == 2
    assert main(["diff", str(traces["model"]), str(traces["guest"]), "--context", "-1"]) == 2


def test_console_command_exit_codes(traces: dict[str, Path]) -> None:
    """`python -m harness diff`, as CI calls it."""
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "harness", "diff", *args], capture_output=True, text=True,
                              check=False)

    assert run(str(traces["model"]), str(traces["guest"])).returncode == 0
    res = run(str(traces["model"]), str(traces["bad"]))
    assert res.returncode == 1 and "DIVERGED" in res.stdout and "\x1b[" not in res.stdout
    res = run(str(traces["model"]), "/nonexistent/trace.jsonl")
    assert res.returncode == 2 and res.stderr.startswith("harness: ")
