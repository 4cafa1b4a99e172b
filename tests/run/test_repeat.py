"""`harness run --repeat N` and `--baseline FILE` on SIMULATED kernels (harness/guest/simkernel.py).

The SIMULATED kernel runs the model itself, so what it masks never varies unless
a fault makes it: ``jitter`` changes a compared field on some runs, ``flaky``
panics on some runs (those runs are left out of the comparison)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.report.variance import Category, analyse
from harness.trace.schema import Header, Record, Trace

CORPUS = Path(__file__).resolve().parents[2] / "testcases"


def _kernel(tmp_path: Path, faults: list[str], profile: str = "9front-2022.05") -> Path:
    p = tmp_path / "k.sim"
    p.write_text(f'[simulated-kernel]\narch = "amd64"\nprofile = "{profile}"\nfaults = {json.dumps(faults)}\n')
    return p


def _results(base: Path) -> Path:
    (root,) = [p for p in base.iterdir() if p.is_dir()]
    return root


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the SIMULATED kernel numbers its runs in the cache: a fresh count per test
    monkeypatch.setenv("NINE_HARNESS_CACHE", str(tmp_path / "cache"))


def test_repeat_finds_both_categories_and_leaves_crashed_runs_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kernel = _kernel(tmp_path, ["jitter:pipe", "flaky:cow"])
    rc = main(["run", "--kernel", str(kernel), "--repeat", "4", "--jobs", "1", "--results", str(tmp_path / "r"),
               str(CORPUS / "fd/pipe.yaml"), str(CORPUS / "await/two-children.yaml"), str(CORPUS / "rfork/cow.yaml")])
    out = capsys.readouterr().out
    assert rc == 1  # the jitter diverges from the model on the runs it hits, the flaky run crashes
    root = _results(tmp_path / "r")
    rep = json.loads((root / "repeat.json").read_text())
    assert rep["repeat"] == 4
    fields = {(s["scenario"], f["proc"], f["seq"], f["path"]): f for s in rep["scenarios"] for f in s["fields"]}
    varied = fields[("pipe", "main", 1, "ret")]
    assert varied["category"] == Category.COMPARED_VARIED and sorted(varied["values"]) == ["0", "1"]
    # await's byte count (the time digits' width) and which child (the clock's) are masked, and
    # the SIMULATED kernel's never vary
    for seq in (3, 4):
        for path in ("ret", "out.text"):
            assert fields[("two-children", "main", seq, path)]["category"] == Category.MASKED_NEVER_VARIED
    assert not [k for k, f in fields.items() if f["category"] == Category.COMPARED_VARIED and k[0] != "pipe"]
    cow = next(s for s in rep["scenarios"] if s["scenario"] == "cow")
    # runs 1 and 4 of cow panic (the flaky pattern of this kernel's run numbers): two compared, two left out
    assert cow["runs"] == 2 and [e.split(":")[0] for e in cow["excluded"]] == ["run 1", "run 4"]
    assert all("crashed: panic" in e for e in cow["excluded"])
    text = (root / "repeat.txt").read_text()
    assert "compared but varied" in text and "pipe: main#1 step 1 pipe ret" in text
    assert "masked but never varied 5, compared but varied 1" in out  # two-children 4, cow 1
    for k in range(1, 4):  # every run's traces are kept
        assert (root / "amd64" / f"pipe.rep{k}.guest.jsonl").is_file()
    summary = json.loads((root / "summary.json").read_text())
    assert summary["counts"] == {"diverged": 1, "pass": 1, "guest-crash": 1}
    assert summary["meta"]["repeat"] == 4


def test_repeat_on_a_steady_kernel_passes(tmp_path: Path) -> None:
    kernel = _kernel(tmp_path, [])
    rc = main(["run", "--kernel", str(kernel), "--repeat", "2", "--results", str(tmp_path / "r"),
               str(CORPUS / "await/two-children.yaml")])
    assert rc == 0
    rep = json.loads((_results(tmp_path / "r") / "repeat.json").read_text())
    assert rep["counts"] == {"masked-never-varied": 4, "compared-varied": 0, "masked-varied": 0}


def test_repeat_needs_a_guest(tmp_path: Path) -> None:
    assert main(["run", "--repeat", "3", "--arch", "amd64", str(CORPUS / "fd/pipe.yaml")]) == 2


def _rec(seq: int, ret: object, out: dict[str, object] | None = None, nondet: list[str] | None = None) -> Record:
    return Record("main", seq, seq, "call", "probe", ret=ret, out=out or {}, nondet=nondet or [])


def _trace(*recs: Record, source: str = "guest") -> Trace:
    return Trace(Header(source, "t", "amd64", "p", {"status": "", "crash": None}), list(recs))


def test_analyse_slices_absent_records_and_pattern_rules() -> None:
    model = _trace(_rec(0, 1, {"hex": "aabbcc"}, ["out.hex[2:4]"]), _rec(1, 5, {"s": "x"}, ["out"]), source="model")
    g1 = _trace(_rec(0, 1, {"hex": "aa00cc"}), _rec(1, 5, {"s": "x pc=0x1234"}), _rec(2, 0))
    g2 = _trace(_rec(0, 1, {"hex": "aa11cc"}), _rec(1, 5, {"s": "x pc=0x9999"}))
    sv = analyse("t", model, [g1, g2])
    got = {(f.seq, f.path): f.category for f in sv.fields}
    assert got[(0, "out.hex[2:4]")] is Category.MASKED_VARIED  # the masked slice did vary
    assert (0, "out.hex") not in got  # outside the slice it did not
    assert got[(1, "out.s")] is Category.MASKED_NEVER_VARIED  # the pc rule masks the pc whatever the model says
    assert got[(2, "record")] is Category.COMPARED_VARIED  # there in one run only


def _baseline(tmp_path: Path, signature: str) -> Path:
    p = tmp_path / "known.toml"
    p.write_text(f'[[known]]\nscenario = "after-failure-*"\ncell = "9front-2022.05-amd64"\n'
                 f'reason = "the simulated kernel follows the current profile"\nsignature = "{signature}"\n')
    return p


@pytest.mark.parametrize(("signature", "rc", "status"), [("err", 0, "known"), ("no such text", 1, "diverged")])
def test_baseline_explains_a_divergence_as_known(tmp_path: Path, signature: str, rc: int, status: str) -> None:
    kernel = _kernel(tmp_path, [], profile="9front-current")
    got = main(["run", "--kernel", str(kernel), "--profile", "9front-2022.05", "--results", str(tmp_path / "r"),
                "--baseline", str(_baseline(tmp_path, signature)), str(CORPUS / "errstr/after-failure-seed.yaml")])
    assert got == rc
    summary = json.loads((_results(tmp_path / "r") / "summary.json").read_text())
    (v,) = summary["verdicts"]
    assert v["status"] == status
    if status == "known":
        assert "known (known.toml line 1: the simulated kernel follows the current profile)" in v["summary"]


def test_a_bad_baseline_is_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[known]]\nscenario = "x"\n')
    kernel = _kernel(tmp_path, [])
    assert main(["run", "--kernel", str(kernel), "--baseline", str(bad), "--results", str(tmp_path / "r"),
                 str(CORPUS / "fd/pipe.yaml")]) == 2
    assert not (tmp_path / "r").exists()


def test_the_corpus_baseline_explains_the_progarg_overrun_and_nothing_else() -> None:
    from harness.nightly.baseline import load_baseline

    b = load_baseline(CORPUS / "known-divergences.toml")
    real = ("step 18, process main, record 13, exec: err: model \"file does not exist: '/nhnone'\", "
            "guest \"empty file name\"")  # 027f579f4 9pc64 and 9qemu.u, harness run --repeat 5
    for arch in ("amd64", "arm64"):
        k = b.explain(f"9front-current-{arch}", "script-limits-current", real)
        assert k is not None and "sysproc.c" in k.reason and "progarg" in k.reason
    assert b.explain("9front-2022.05-amd64", "script-limits-current", real) is None
    assert b.explain("9front-current-amd64", "script-limits-current", real.replace("empty file name", "x")) is None
