"""Rule-site hits: the model says which kernel line decided what it did.

``rule("sysproc.c:42")`` is called by the model where it reproduces one rule
of the kernel (an ``error()`` or a branch a kernel line decides); the site
ids and what they follow are data in ``harness.coverage.sites``.  Nothing is
recorded unless a caller asked (``recording()``): the model's cost is one
context-variable lookup per site reached.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_hits: ContextVar[set[str] | None] = ContextVar("nine_harness_rule_hits", default=None)


def rule(site: str) -> None:
    """The model reached rule SITE (an id of harness.coverage.sites.SITES)."""
    hits = _hits.get()
    if hits is not None:
        hits.add(site)


@contextmanager
def recording() -> Iterator[set[str]]:
    """Collect the sites reached inside the block (per thread / context)."""
    hits: set[str] = set()
    token = _hits.set(hits)
    try:
        yield hits
    finally:
        _hits.reset(token)
