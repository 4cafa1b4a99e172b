"""Moved to harness.report.results (the results directory, its journal and summary).

Kept only so branches written against the old place still import; new code
imports harness.report.results.  Remove once nothing imports it.
"""

from harness.report.results import ResultsDir

__all__ = ["ResultsDir"]
