"""Model throughput: modelled statements per second (a measurement, not a test)."""

from __future__ import annotations

import time

from harness.model.machine import Machine
from harness.program import parse

BODY = "\n".join(
    f"{i * 10 + 1} brk a:end+0x1000\n{i * 10 + 2} errstr b:b1 i:128\n{i * 10 + 3} segattach i:0 s:memory i:0 i:0x1000 >v{i}\n"
    f"{i * 10 + 4} segdetach v:v{i}\n{i * 10 + 5} rfork i:0x10 c:k\n{i * 10 + 6} await b:b1 i:256"
    for i in range(50)
)
PROG = parse(f"nhprog 1\nscenario bench\nbuf b1 256\nblock main\n{BODY}\nend\nblock k\n9999 exits s:x\nend\n")


def main() -> None:
    m = Machine("amd64")
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 2.0:
        n += len(m.run(PROG))
    dt = time.perf_counter() - t0
    print(f"model: {n} records in {dt:.2f}s = {n / dt:,.0f} records/s")


if __name__ == "__main__":
    main()
