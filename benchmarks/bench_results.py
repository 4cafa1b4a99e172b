"""The results directory stays linear: 5000 trivial verdicts through ResultsDir.

Each verdict is one flushed line of the journal (verdicts.jsonl, fsync'd every half
second and at the end); summary.json is
written at the start and at the end only.  Printed: the time per verdict over the
first and the last thousand (a ratio near 1 is linear; the old rewrite of the
whole summary after every verdict made it grow with the run), and finish().
The old behaviour is measured alongside on the same verdicts for contrast, and
the whole pipeline's time per trivial scenario over 250 and over 1000.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
import time
from pathlib import Path

from harness.files import write_atomic
from harness.report.result import RunResult, Status, Verdict
from harness.report.results import ResultsDir
from harness.run.backends.simulated import SimulatedBackend
from harness.run.pipeline import RunConfig, run_scenarios
from harness.scenario import compile_scenario

CORPUS = Path(__file__).resolve().parents[1] / "testcases"
SEED = "9front-2022.05"

N = 5000


def _verdict(i: int) -> Verdict:
    return Verdict(f"s{i}", "amd64", "9front-2022.05", Status.PASS, seconds=0.001,
                   files={"model": f"amd64/s{i}.model.jsonl"})


def _journal(root: Path) -> tuple[list[float], float]:
    rd = ResultsDir.create(root, "bench")
    times = []
    for i in range(N):
        t0 = time.perf_counter()
        rd.add(_verdict(i))
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    rd.finish()
    return times, time.perf_counter() - t0


def _rewrite_whole(root: Path, n: int) -> list[float]:
    """What ResultsDir.add did before the journal: the whole summary after every verdict."""
    run = RunResult.from_json({})
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        run.verdicts.append(_verdict(i))
        write_atomic(root / "summary.json", json.dumps(run.to_json(), indent=2) + "\n")
        times.append(time.perf_counter() - t0)
    return times


def _pipeline(n: int) -> float:
    """Seconds per scenario for N copies of a trivial scenario through the whole pipeline
    on the SIMULATED console (the run that took 558 s for 5000 before the journal)."""
    sc = compile_scenario(CORPUS / "nsec" / "monotonic.yaml", "amd64")
    scs = [dataclasses.replace(sc, name=f"t{i:05d}") for i in range(n)]
    with tempfile.TemporaryDirectory() as tmp:
        rd = ResultsDir.create(tmp, "bench")
        t0 = time.perf_counter()
        run_scenarios(scs, RunConfig("amd64", SEED), lambda k, r: SimulatedBackend(k, r, RunConfig("amd64", SEED)), rd)
        return (time.perf_counter() - t0) / n


def _ms(ts: list[float]) -> float:
    return sum(ts) / len(ts) * 1000


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        times, fin = _journal(Path(tmp))
        old = _rewrite_whole(Path(tmp), 1000)
    first, last = _ms(times[:1000]), _ms(times[-1000:])
    print(f"results: {N} verdicts, journal {sum(times):.2f} s total; per verdict first 1000 {first:.3f} ms, "
          f"last 1000 {last:.3f} ms (x{last / first:.2f}); finish {fin * 1000:.0f} ms.  "
          f"Old whole-summary rewrite over 1000: first 250 {_ms(old[:250]):.3f} ms, "
          f"last 250 {_ms(old[-250:]):.3f} ms per verdict (x{_ms(old[-250:]) / _ms(old[:250]):.1f})")
    small, big = _pipeline(250), _pipeline(1000)
    print(f"pipeline: trivial scenarios on the SIMULATED console, {small * 1000:.1f} ms each over 250, "
          f"{big * 1000:.1f} ms each over 1000 (x{big / small:.2f}: 1 is linear)")


if __name__ == "__main__":
    main()
