"""Where nine-harness keeps what it can rebuild: built agents, compiled scenarios."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """``$NINE_HARNESS_CACHE``, else ``$XDG_CACHE_HOME/nine-harness``, else ``~/.cache/nine-harness``."""
    if os.environ.get("NINE_HARNESS_CACHE"):
        return Path(os.environ["NINE_HARNESS_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nine-harness"
