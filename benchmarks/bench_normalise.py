"""Normalisation and diff stay linear in the length of a record's text.

A probe of a big blank-free buffer (issue 9 item 10: a 64 KiB probe made
``harness diff`` of a trace against itself take 267 s) is diffed against
itself at 64 KiB, 256 KiB and 1 MiB; printed: seconds and seconds per MiB.
Linear means the per-MiB figure stays flat as the size grows x16.
"""

from __future__ import annotations

import time

from harness.report.text import render_text
from harness.trace.diff import diff
from harness.trace.schema import Header, Record, Trace

SIZES = (64 << 10, 256 << 10, 1 << 20)


def _trace(n: int) -> Trace:
    s = "x" * n
    recs = [Record("main", 0, 0, "start", "start", out={"pid": 7}),
            Record("main", 1, 1, "probe", "probe", ["w:buf", "b:b"], err=s,
                   out={"hex": s, "text": "agent 7:" + s + "/proc/7/" + "1" * n})]
    return Trace(Header("model", "big", "amd64", "9front-2022.05"), recs)


def main() -> None:
    print("normalise+diff+render of a trace against itself, one blank-free probe:")
    for n in SIZES:
        t = time.perf_counter()
        render_text(diff(_trace(n), _trace(n)))
        dt = time.perf_counter() - t
        print(f"  {n >> 10:5d} KiB: {dt:6.3f} s  ({dt / (n / (1 << 20)):6.3f} s/MiB)")


if __name__ == "__main__":
    main()
