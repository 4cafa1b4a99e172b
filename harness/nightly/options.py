"""What one night was asked to do (harness.cli.nightly_cmd parses flags into it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.nightly.baseline import Baseline


@dataclass
class NightOptions:
    out: Path
    baseline: Baseline
    history: Path | None = None
    jobs: int = 1
    resume: bool = False
    retries: int = 0
    flaky_fails: bool = False
