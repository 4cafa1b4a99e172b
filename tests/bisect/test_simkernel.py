"""SIMULATED kernel files (harness/guest/simkernel.py) wherever a kernel is accepted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import ExitCode, InputError
from harness.guest import simkernel
from harness.guest.simkernel import Fault, FaultKind, flaky_misbehaves, is_simulated_kernel, load

ROOT = Path(__file__).resolve().parents[2]
QUOTE = ROOT / "testcases" / "exec" / "script-quote-seed.yaml"
COW = ROOT / "testcases" / "rfork" / "cow.yaml"


def _kernel(tmp_path: Path, body: str, name: str = "9sim") -> Path:
    p = tmp_path / name
    p.write_text("[simulated-kernel]\n" + body)
    return p


def test_the_marker_line_alone_decides(tmp_path: Path) -> None:
    k = _kernel(tmp_path, 'arch = "amd64"\n')
    assert is_simulated_kernel(k) and is_simulated_kernel(str(k))
    other = tmp_path / "9pc64"
    other.write_bytes(b"\x00\x00\x8a\x97" + b"\x00" * 60)
    assert not is_simulated_kernel(other)
    assert not is_simulated_kernel(tmp_path / "absent")
    assert not is_simulated_kernel(tmp_path)  # a directory
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert not is_simulated_kernel(fifo)  # not opened: reading a FIFO would block


def test_load_gives_arch_profile_switches_and_faults(tmp_path: Path) -> None:
    k = load(_kernel(tmp_path, 'arch = "arm64"\nprofile = "9front-current"\nswitches = ["-shebang-tokenize"]\n'
                               'faults = ["panic:cow", "hang-at-boot", "flaky"]\n'))
    assert (k.arch, k.profile, k.switches) == ("arm64", "9front-current", ("-shebang-tokenize",))
    assert k.faults == (Fault(FaultKind.PANIC, "cow"), Fault(FaultKind.HANG_AT_BOOT), Fault(FaultKind.FLAKY))
    assert k.boot_fault == Fault(FaultKind.HANG_AT_BOOT)
    prof = k.model_profile()
    assert not prof.has("shebang-tokenize") and prof.has("namec-error-suffix")
    assert prof.name == "9front-current-shebang-tokenize"
    assert "SIMULATED" in k.label and len(k.sha256) == 64


@pytest.mark.parametrize(("body", "words"), [
    ('arch = "amd64"\nswitches = [\n', "bad simulated-kernel TOML"),
    ('arch = "sparc"\n', "unknown arch 'sparc'"),
    ('profile = "9front-2022.05"\n', "arch must be a string (it is required)"),
    ('arch = "amd64"\nprofile = "plan9-4e"\n', "unknown profile 'plan9-4e'"),
    ('arch = "amd64"\nswitches = ["+no-such-switch"]\n', "bad profile switch '+no-such-switch'"),
    ('arch = "amd64"\nswitches = ["shebang-tokenize"]\n', "bad profile switch 'shebang-tokenize'"),
    ('arch = "amd64"\nfaults = ["explode"]\n', "unknown fault 'explode'"),
    ('arch = "amd64"\nfaults = ["panic-at-boot:cow"]\n', "happens at boot: it takes no scenario"),
    ('arch = "amd64"\nkernel = "9pc64"\n', "unknown key(s) kernel"),
    ('arch = "amd64"\nswitches = "+shebang-tokenize"\n', "switches must be a list of strings"),
])
def test_bad_files_are_one_clear_line_and_exit_2(tmp_path: Path, body: str, words: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    k = _kernel(tmp_path, body)
    with pytest.raises(InputError) as e:
        load(k)
    assert words in str(e.value) and e.value.exit_code == ExitCode.BAD_INPUT
    assert main(["run", "--kernel", str(k), str(COW), "--results", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0]
    assert not (tmp_path / "r").exists()


def test_flaky_pattern_is_deterministic_and_mixed() -> None:
    pattern = [flaky_misbehaves("script-quote-seed", k) for k in range(30)]
    assert pattern == [flaky_misbehaves("script-quote-seed", k) for k in range(30)]
    assert 3 <= sum(pattern) <= 20
    assert pattern[:4] == [False, False, True, True]  # what tests/bisect's flaky commits rely on


def test_run_on_a_simulated_kernel_says_simulated_and_diffs(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    k = _kernel(tmp_path, 'arch = "amd64"\nswitches = ["+shebang-tokenize"]\n')
    rc = main(["run", "--kernel", str(k), str(QUOTE), str(COW), "--results", str(tmp_path / "r")])
    out = capsys.readouterr().out
    assert rc == 1
    assert "SIMULATED guest (SIMULATED kernel amd64 9front-2022.05 +shebang-tokenize)" in out
    assert "diverged    amd64  script-quote-seed" in out and "pass        amd64  cow" in out
    (run,) = (tmp_path / "r").iterdir()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["meta"]["simulated"] is True and "SIMULATED" in summary["meta"]["simulated_kernel"]
    assert "SIMULATED" in (run / "console.log").read_text()
    # without the switch the simulated kernel behaves as the model's seed profile
    seed = _kernel(tmp_path, 'arch = "amd64"\nswitches = []\n', "9seed")
    rc = main(["run", "--kernel", str(seed), str(QUOTE), "--results", str(tmp_path / "r2")])
    assert rc == 0, capsys.readouterr().out


def test_a_simulated_kernel_takes_no_other_arch_nor_faults(tmp_path: Path) -> None:
    k = _kernel(tmp_path, 'arch = "amd64"\n')
    assert main(["run", "--kernel", str(k), "--arch", "arm64", str(COW)]) == 2
    assert main(["run", "--kernel", str(k), "--fault", "panic", str(COW)]) == 2
    assert main(["run", "--kernel", str(k), "--ktrace", str(COW)]) == 2


def test_panic_at_boot_is_a_boot_crash_verdict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    k = _kernel(tmp_path, 'arch = "amd64"\nfaults = ["panic-at-boot"]\n')
    assert main(["run", "--kernel", str(k), str(COW), "--results", str(tmp_path / "r")]) == 1
    out = capsys.readouterr().out
    assert "boot-crash  amd64  cow: the kernel panicked while booting: kernel panic during BANNER: simulated boot panic" in out
    (run,) = (tmp_path / "r").iterdir()
    assert json.loads((run / "summary.json").read_text())["counts"] == {"boot-crash": 1}


@pytest.mark.slow
def test_hang_at_boot_is_a_boot_crash_not_infrastructure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    k = _kernel(tmp_path, 'arch = "amd64"\nfaults = ["hang-at-boot"]\n')
    assert main(["run", "--kernel", str(k), str(COW), "--results", str(tmp_path / "r")]) == 1
    assert "the kernel went silent while booting, after its banner: boot stuck in state BANNER" in capsys.readouterr().out


def test_flaky_runs_follow_the_pattern_of_the_run_counter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("NINE_HARNESS_CACHE", str(tmp_path / "cache"))
    k = _kernel(tmp_path, 'arch = "amd64"\nfaults = ["flaky:script-quote-seed"]\n')
    codes = [main(["run", "--kernel", str(k), str(QUOTE), "--results", str(tmp_path / f"r{n}")]) for n in range(3)]
    expected = [1 if flaky_misbehaves("script-quote-seed", n) else 0 for n in range(3)]
    assert codes == expected == [0, 0, 1]
    assert "guest-crash amd64  script-quote-seed: panic:" in capsys.readouterr().out
    sk = load(k)
    assert simkernel.next_run_index(sk) == 3


def test_the_pytest_plugin_accepts_a_simulated_kernel(tmp_path: Path) -> None:
    cases = tmp_path / "testcases" / "exec"
    cases.mkdir(parents=True)
    (cases / QUOTE.name).write_text(QUOTE.read_text())
    k = _kernel(tmp_path, 'arch = "amd64"\nswitches = ["+shebang-tokenize"]\n')
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "testcases",
                           "--nh-arch", "amd64", "--nh-kernel", str(k)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert "1 failed" in proc.stdout, proc.stdout + proc.stderr
    assert "diverged    amd64  script-quote-seed: [SIMULATED kernel amd64" in proc.stdout
