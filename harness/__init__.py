"""nine-harness: keep 9front kernels honest.

Data flows one way: scenario -> (model | guest) -> trace -> normalise -> diff -> report.
"""

__version__ = "0.1.0"
