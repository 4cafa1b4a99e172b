"""`harness nightly`: a matrix of cells (kernel x arch x profile x scenarios) run every night.

matrix (the cells) -> cellrun (`harness run` per cell, retries) -> classify
(baseline, flaky, previous night) -> summary / junit / HTML report -> history.
"""
