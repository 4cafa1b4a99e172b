"""Moved to harness.report.result (one result type for `harness model` and `harness run`).

Kept only so branches written against the old place still import; new code
imports harness.report.result.  Remove once nothing imports it.
"""

from harness.report.result import Status, Verdict, exit_code_for

__all__ = ["Status", "Verdict", "exit_code_for"]
