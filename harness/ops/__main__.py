"""python -m harness.ops [--write | --check]: see harness/ops/generate.py."""

import sys

from harness.ops.generate import main

sys.exit(main(sys.argv[1:]))
