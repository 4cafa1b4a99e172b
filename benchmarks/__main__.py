"""`make bench`: one table, results/bench/bench.json (benchmarks/bench.py).  The other
modules here measure one thing each: `python -m benchmarks.bench_results`, ..."""

import sys

from benchmarks import bench

sys.exit(bench.main(sys.argv[1:]))
