"""Harness overhead per scenario and parallel scaling, as ratios from one run.

Runs the same scenarios (a) on the model only, (b) through the whole pipeline
on the SIMULATED console with one guest, (c) with two guests; prints the
per-scenario overhead of the pipeline over the model and the speed-up of two
jobs over one.  (Boot-to-prompt against bare QEMU needs a real kernel: run
`harness run` with --kernel and read the boot timings from console.log.)
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from harness.report.results import ResultsDir
from harness.run.backends import factory_for
from harness.run.modelrun import model_trace
from harness.run.pipeline import RunConfig, run_scenarios
from harness.scenario import compile_scenario

CORPUS = Path(__file__).resolve().parents[1] / "testcases"


def main() -> None:
    scs = [compile_scenario(p, "amd64") for p in sorted((CORPUS / "rfork").glob("*.yaml"))]
    t0 = time.perf_counter()
    for sc in scs:
        model_trace(sc, "amd64", "9front-2022.05")
    t_model = time.perf_counter() - t0
    timings = {}
    for jobs in (1, 2):
        with tempfile.TemporaryDirectory() as tmp:
            rd = ResultsDir.create(tmp, "bench")
            cfg = RunConfig("amd64", "9front-2022.05", jobs=jobs)
            t0 = time.perf_counter()
            run_scenarios(scs, cfg, factory_for(cfg), rd)
            timings[jobs] = time.perf_counter() - t0
    n = len(scs)
    print(f"pipeline: {n} scenarios; model only {t_model / n * 1000:.1f} ms/scenario; "
          f"simulated guest pipeline {timings[1] / n * 1000:.1f} ms/scenario "
          f"(overhead x{timings[1] / max(t_model, 1e-9):.1f} over the model); "
          f"2 jobs vs 1: speed-up x{timings[1] / timings[2]:.2f}")


if __name__ == "__main__":
    main()
