"""Fuzzing throughput (a measurement, not a test): programs per second on the
model alone (generate, compile through YAML, run with rule-site recording) and
through the SIMULATED console (one boot, one agent command per program), the
second being the harness's own per-program cost with a guest that costs nothing."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from harness.fuzz import gen
from harness.fuzz.target import ModelTarget, guest_targets
from harness.report.results import ResultsDir

N_MODEL = 1000
N_CONSOLE = 150


def model_rate() -> float:
    m = ModelTarget("amd64", "9front-2022.05")
    t0 = time.perf_counter()
    for i in range(N_MODEL):
        try:
            sc = gen.compile_doc(gen.generate(0, i, "amd64"), "amd64")
        except Exception:  # noqa: BLE001,S112 - a refused program costs its compile only
            continue
        m.run_one(sc)
    return N_MODEL / (time.perf_counter() - t0)


def console_rate() -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as d:
        k = Path(d) / "sim.kernel"
        k.write_text('[simulated-kernel]\narch = "amd64"\nprofile = "9front-2022.05"\n')
        rd = ResultsDir.create(d, "bench")
        targets, _model = guest_targets(str(k), "amd64", "9front-2022.05", rd, 1)
        scs = []
        for i in range(N_CONSOLE):
            try:
                scs.append(gen.compile_doc(gen.generate(0, i, "amd64"), "amd64"))
            except Exception:  # noqa: BLE001,S112
                continue
        t0 = time.perf_counter()
        targets[0].run_batch(scs[:1])  # the boot
        boot = time.perf_counter() - t0
        t1 = time.perf_counter()
        targets[0].run_batch(scs)
        rate = len(scs) / (time.perf_counter() - t1)
        targets[0].close()
    return rate, boot


def main() -> None:
    mr = model_rate()
    cr, boot = console_rate()
    print(f"fuzz: model {mr:.0f} programs/s ({N_MODEL} generated, amd64 seed profile); SIMULATED console "
          f"{cr:.1f} programs/s ({1000 / cr:.0f} ms/program, boot {boot:.1f}s)")


if __name__ == "__main__":
    main()
