"""Bad matrices and baselines: exit 2 with file:line before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from nightlyutil import CORPUS, cell, simkernel, write

from harness.cli import main


def _run(tmp_path: Path, matrix: str, baseline: str | None = None) -> tuple[int, Path]:
    m = write(tmp_path / "matrix.toml", matrix)
    args = ["nightly", "--matrix", str(m), "--out", str(tmp_path / "night")]
    if baseline is not None:
        args += ["--baseline", str(write(tmp_path / "baseline.toml", baseline))]
    return main(args), tmp_path / "night"


@pytest.fixture
def sim(tmp_path: Path) -> Path:
    return simkernel(tmp_path / "seed.kernel")


GOOD = 'name = "c"\narch = "amd64"\nsimulated-kernel = "seed.kernel"\nscenarios = ["' + str(CORPUS / "exits" / "short.yaml") + '"]\n'


@pytest.mark.parametrize(("matrix", "line", "words"), [
    ("[[cell]]\n" + GOOD + 'colour = "red"\n', 6, "unknown key(s) ['colour']"),
    ("[[cell]]\n" + GOOD + "\n[[cell]]\n" + GOOD, 8, "name 'c' already used by the cell at line 1"),
    ("[[cell]]\n" + GOOD.replace('"amd64"', '"vax"'), 3, "arch: one of"),
    ("[[cell]]\n" + GOOD + 'profile = "9front-1999"\n', 6, "unknown profile '9front-1999'"),
    ("[[cell]]\n" + GOOD.replace("seed.kernel", "nope.kernel"), 4, "simulated-kernel nope.kernel: no such file"),
    ("[[cell]]\n" + GOOD + 'kernel = "seed.kernel"\n', 4, "give exactly one of kernel, image, simulated-kernel"),
    ("[[cell]]\n" + GOOD.replace('simulated-kernel = "seed.kernel"\n', ""), 1, "got none"),
    ("[[cell]]\n" + GOOD.replace(str(CORPUS / "exits" / "short.yaml"), "syscall:nosuchcall"), 5, "no scenario in the corpus covers"),
    ("[[cell]]\n" + GOOD.replace(str(CORPUS / "exits" / "short.yaml"), "/no/such/dir"), 5, "no such scenario file"),
    ("[[cell]]\n" + GOOD + "jobs = 0\n", 6, "jobs: a positive integer"),
    ("[[cell]]\n" + GOOD.replace('simulated-kernel = "seed.kernel"', 'image = "no-such-image"'), 4,
     "no image named 'no-such-image'"),
    ("[[cell]]\n" + GOOD + "cell_timeout = -1\n", 6, "cell_timeout: a positive number"),
    ("[[cell]]\n" + GOOD.replace('"c"', '"a b"'), 2, "name: required"),
    ('[cell]\nname = "x"\n', 0, "cell must be [[cell]] tables"),
    ("[[cell]\n", 0, "not valid TOML"),
    ("", 0, "no [[cell]] tables"),
])
def test_bad_matrix_is_exit_2_with_file_and_line(tmp_path: Path, sim: Path, capsys: pytest.CaptureFixture[str],
                                                 matrix: str, line: int, words: str) -> None:
    rc, night = _run(tmp_path, matrix)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert words in err
    where = f"matrix.toml:{line}:" if line else "matrix.toml:"
    assert where in err
    assert not night.exists()  # nothing ran, nothing was written


def test_a_real_kernel_file_that_is_not_simulated_is_refused_as_simulated(tmp_path: Path, sim: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "9pc64").write_bytes(b"\x7fELF not really")
    rc, _ = _run(tmp_path, "[[cell]]\n" + GOOD.replace("seed.kernel", "9pc64"))
    assert rc == 2 and "not a simulated kernel" in capsys.readouterr().err


def test_a_kernel_for_a_machine_without_9front_or_an_unknown_qemu_profile(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "9k").write_bytes(b"not looked at")
    mips = GOOD.replace('"amd64"', '"mips"').replace('simulated-kernel = "seed.kernel"', 'kernel = "9k"')
    rc, _ = _run(tmp_path, "[[cell]]\n" + mips)
    assert rc == 2 and "matrix.toml:3:" in (err := capsys.readouterr().err) and "no 9front kernel runs" in err
    odd = GOOD.replace('simulated-kernel = "seed.kernel"', 'kernel = "9k"') + 'qemu_profile = "pdp11"\n'
    rc, _ = _run(tmp_path, "[[cell]]\n" + odd)
    assert rc == 2 and "matrix.toml:6:" in (err := capsys.readouterr().err) and "unknown QEMU profile" in err


def test_a_simulated_kernel_for_another_arch_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    simkernel(tmp_path / "seed.kernel", arch="arm64", profile="9front-current")
    rc, _ = _run(tmp_path, "[[cell]]\n" + GOOD)
    assert rc == 2 and "SIMULATED kernel for arm64, not amd64" in capsys.readouterr().err


KNOWN = 'scenario = "x"\ncell = "*"\nreason = "because"\n'


@pytest.mark.parametrize(("baseline", "line", "words"), [
    ("[[known]]\n" + KNOWN.replace('reason = "because"\n', ""), 1, "reason: required"),
    ("[[known]]\n" + KNOWN + "\n[[known]]\n" + KNOWN.replace('"because"', '"  "'), 9, "reason: required"),
    ("[[known]]\n" + KNOWN + 'signature = "re:(unclosed"\n', 5, "bad regular expression"),
    ("[[known]]\n" + KNOWN + 'until = "someday"\n', 5, "until: a date"),
    ("[[known]]\n" + KNOWN + 'owner = "me"\n', 5, "unknown key(s) ['owner']"),
    ("[[known]]\n" + KNOWN.replace('cell = "*"\n', ""), 1, "cell: required"),
])
def test_bad_baseline_is_exit_2_with_file_and_line(tmp_path: Path, sim: Path, capsys: pytest.CaptureFixture[str],
                                                   baseline: str, line: int, words: str) -> None:
    rc, night = _run(tmp_path, "[[cell]]\n" + GOOD, baseline)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert f"baseline.toml:{line}:" in err and words in err
    assert not night.exists()


def test_resume_needs_a_night_and_the_same_inputs(tmp_path: Path, sim: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    m = write(tmp_path / "matrix.toml", cell("c", sim, ("exits/short.yaml",)))
    assert main(["nightly", "--matrix", str(m), "--out", str(tmp_path / "n"), "--resume"]) == 2
    assert "holds no night to resume" in capsys.readouterr().err
    (tmp_path / "n").mkdir()
    (tmp_path / "n" / "night.json").write_text('{"night": "20260101-000000", "started": "", "inputs": "old"}')
    assert main(["nightly", "--matrix", str(m), "--out", str(tmp_path / "n"), "--resume"]) == 2
    assert "changed since night 20260101-000000 started" in capsys.readouterr().err


def test_the_example_baseline_is_valid_and_the_example_matrix_fails_only_on_kernels(
        capsys: pytest.CaptureFixture[str]) -> None:
    from harness.nightly.baseline import load_baseline

    docs = Path(__file__).resolve().parents[2] / "docs" / "nightly"
    b = load_baseline(docs / "known.toml")
    assert [k.line for k in b.entries] == [4, 12] and all(k.reason for k in b.entries)
    assert b.explain("current-amd64", "open-errors-seed",
                     "step 1, exec: err: model \"'/x' file does not exist\", guest \"file does not exist: '/x'\"")
    rc = main(["nightly", "--matrix", str(docs / "matrix.toml"), "--out", "/nonexistent/never-written"])
    assert rc == 2 and "kernel /srv/9front/e9bb7876e/9pc64: no such file" in capsys.readouterr().err
