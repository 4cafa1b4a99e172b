"""Compiling the corpus (a measurement, not a test): cold (no cache: YAML,
compile, parse-back self-check) and warm (the content-hash cache of
harness/scenario/cache.py), for every modelled arch as `--arch all` does."""

from __future__ import annotations

import os
import tempfile
import time

from harness.model.arch import ARCHES
from harness.scenario import cache
from harness.scenario.compiler import compile_scenario, find_scenarios


def _all_arches() -> tuple[int, float]:
    files = find_scenarios()
    t0 = time.perf_counter()
    for arch in ARCHES:
        for f in files:
            compile_scenario(f, arch)
    return len(files), time.perf_counter() - t0


def main() -> None:
    old = os.environ.get("NINE_HARNESS_CACHE")
    with tempfile.TemporaryDirectory() as root:
        os.environ["NINE_HARNESS_CACHE"] = root
        try:
            n, cold = _all_arches()
            cache.clear_memo()  # as a new process: only the disk cache left
            _, warm = _all_arches()
        finally:
            if old is None:
                del os.environ["NINE_HARNESS_CACHE"]
            else:
                os.environ["NINE_HARNESS_CACHE"] = old
    print(f"compile: {n} scenarios x {len(ARCHES)} arches: cold {cold:.2f}s ({cold / n * 1000:.1f} ms/scenario), "
          f"warm {warm:.2f}s ({warm / n * 1000:.1f} ms/scenario)")


if __name__ == "__main__":
    main()
