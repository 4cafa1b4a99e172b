"""`make bench`: the performance ratios of issue 11, measured in one run, one table.

    python -m benchmarks [--smoke] [--out DIR] [--kernel K --arch A]

Writes DIR/bench.json (default results/bench/) and prints one table.  Every
figure is a ratio against a limit measured in the same run on the same machine:

* boot_ratio: the harness's Machine (start paused, QMP, console state machine)
  to the rc prompt, over bare QEMU on the same command line driven by pexpect
  with the same answers.  On the QEMU boot fixtures (harness/qemu/fixture.py)
  unless a real kernel is given (KERNEL=, ARCH=).
* restore_vs_reboot: loadvm of the booted snapshot (QMP) over a whole boot.
* scenario_overhead_ratio: the pipeline's wall time per scenario over the
  agent's own time (its END record), on the SIMULATED console.
* parallel_speedup: the same scenarios on 2 guests over 1 (SIMULATED console).
* model_records_per_s: the golden model over the whole corpus (every arch, the
  arch's default profile), compiled beforehand.
* compile_s_per_scenario: a cold compile (no in-process or disk cache).

The model and the compiler are one single-threaded process: their figures are
its CPU time (process_time), so a machine loaded by others does not change
them; their wall times are in bench.json too.  Boots and the pipeline involve
other processes and are wall time (medians over rounds where there are rounds).

Figures are printed, never asserted: timing goes in benchmarks, not tests.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "testcases"
KEYS = ("boot_ratio", "scenario_overhead_ratio", "restore_vs_reboot", "parallel_speedup",
        "model_records_per_s", "compile_s_per_scenario")


def machine() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    cpu = ""
    with contextlib.suppress(OSError):
        cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                    if ln.startswith("model name")), "")
    return {"cpus": os.cpu_count(), "cpu": cpu, "loadavg": [round(x, 2) for x in load],
            "python": platform.python_version(), "system": platform.platform()}


# -- boot: harness vs bare QEMU ---------------------------------------------------------------

def _kernel(args: argparse.Namespace, workdir: Path) -> tuple[str, Path, bool]:
    """(QEMU profile, kernel, is a fixture)."""
    if args.kernel:
        return args.arch, Path(args.kernel).resolve(), False
    from harness.qemu.fixture import build_fixture

    return "amd64", build_fixture("amd64", workdir / "fixture"), True


def _harness_boot(profile: Any, kernel: Path, workdir: Path, snapshot: bool = False) -> tuple[float, float | None]:
    """Seconds from nothing to the rc prompt through harness.qemu.Machine (and a restore)."""
    from harness.qemu.machine import Machine

    t = time.perf_counter()
    m = Machine(profile, kernel, workdir=workdir, net=False, snapshots=snapshot)
    try:
        m.start()
        m.boot()
        boot = time.perf_counter() - t
        restore = None
        if snapshot:
            m.snapshot("booted")
            m.run("echo after")
            t = time.perf_counter()
            m.restore("booted")
            restore = time.perf_counter() - t
        return boot, restore
    finally:
        m.kill()


def _bare_boot(profile: Any, kernel: Path, workdir: Path) -> float:
    """Bare QEMU on the harness's own command line (without -S), the serial socket
    driven by pexpect with the same boot answers; seconds to the rc prompt."""
    import pexpect
    import pexpect.fdpexpect

    from harness.qemu.console import PATTERNS, BootDialogue
    from harness.qemu.profiles import build_command

    workdir.mkdir(parents=True, exist_ok=True)
    serial = workdir / "serial.sock"
    cmd = build_command(profile, kernel, workdir=workdir, disks=[], append="console=0", memory=None, smp=1,
                        serial_path=serial, qmp_path=workdir / "qmp.sock", vmstate=None, net=False,
                        paused=False, extra=())
    d = BootDialogue()
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            cwd=workdir, start_new_session=True)
    try:
        s = socket.socket(socket.AF_UNIX)
        while True:
            try:
                s.connect(str(serial))
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError("bare QEMU exited at start") from None
                time.sleep(0.005)
        child = pexpect.fdpexpect.fdspawn(s.fileno(), timeout=120)
        while True:
            i = child.expect([PATTERNS["bootargs"], PATTERNS["user"], PATTERNS["rc"]])
            if i == 2:
                return time.perf_counter() - t
            child.send((d.bootargs_answer if i == 0 else d.user_answer) + "\r")
    finally:
        proc.kill()
        proc.wait()


def bench_boot(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from harness.qemu.profiles import get_profile

    name, kernel, fixture = _kernel(args, tmp)
    profile = get_profile(name)
    rounds = 1 if args.smoke else 3
    harness, bare, restores = [], [], []
    for n in range(rounds):  # alternated, so a change of load hits both
        bare.append(_bare_boot(profile, kernel, tmp / f"bare{n}"))
        harness.append(_harness_boot(profile, kernel, tmp / f"h{n}")[0])
        _, r = _harness_boot(profile, kernel, tmp / f"s{n}", snapshot=True)  # a vmstate disk: not the same line
        assert r is not None
        restores.append(r)
    h, b, r = statistics.median(harness), statistics.median(bare), statistics.median(restores)
    return {"boot_ratio": h / b, "restore_vs_reboot": r / h,
            "boot": {"kernel": "QEMU boot fixture (not a kernel)" if fixture else str(kernel), "profile": name,
                     "harness_s": h, "bare_s": b, "restore_s": r, "rounds": rounds}}


# -- scenarios on the SIMULATED console -----------------------------------------------------

def _scenarios(smoke: bool) -> list[Any]:
    from harness.scenario import compile_scenario

    files = sorted((CORPUS / "rfork").glob("*.yaml")) + sorted((CORPUS / "exits").glob("*.yaml"))
    scs = [compile_scenario(p, "amd64") for p in files]
    scs = [sc for sc in scs if sc.runs_on("amd64", "9front-2022.05")]
    return scs[:4] if smoke else scs


def bench_pipeline(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from harness.report.results import ResultsDir
    from harness.run.backends import factory_for
    from harness.run.pipeline import RunConfig, run_scenarios

    scs = _scenarios(args.smoke)
    wall: dict[int, float] = {}
    per: list[tuple[float, float]] = []
    for jobs in (1, 2):
        rd = ResultsDir.create(tmp / "runs", f"bench-j{jobs}")
        cfg = RunConfig("amd64", "9front-2022.05", jobs=jobs, backend="simulated")
        t = time.perf_counter()
        verdicts = run_scenarios(scs, cfg, factory_for(cfg), rd)
        wall[jobs] = time.perf_counter() - t
        if jobs == 1:
            per = [(v.seconds, v.guest_seconds) for v in verdicts if v.guest_seconds]
    harness_s = sum(h for h, _ in per) / max(1, len(per))
    agent_s = sum(g for _, g in per) / max(1, len(per))
    return {"scenario_overhead_ratio": harness_s / agent_s if agent_s else None,
            "parallel_speedup": wall[1] / wall[2],
            "pipeline": {"guest": "SIMULATED console", "scenarios": len(scs), "wall_1_s": wall[1],
                         "wall_2_s": wall[2], "harness_s_per_scenario": harness_s,
                         "agent_s_per_scenario": agent_s}}


# -- model and compiler ---------------------------------------------------------------------

def _corpus_files(smoke: bool) -> list[Path]:
    files = sorted(CORPUS.rglob("*.yaml"))
    return files[::10] if smoke else files


def bench_compile(args: argparse.Namespace) -> dict[str, Any]:
    from harness.scenario import cache, compile_scenario

    files = _corpus_files(args.smoke)
    os.environ["NINE_HARNESS_COMPILE_CACHE"] = "0"  # cold: no disk cache ...
    cache.clear_memo()  # ... and no in-process one
    t, w = time.process_time(), time.perf_counter()
    for f in files:
        compile_scenario(f, "amd64")
    dt, wall = time.process_time() - t, time.perf_counter() - w
    cache.clear_memo()
    del os.environ["NINE_HARNESS_COMPILE_CACHE"]
    return {"compile_s_per_scenario": dt / len(files),
            "compile": {"scenarios": len(files), "cpu_seconds": dt, "wall_seconds": wall}}


def bench_model(args: argparse.Namespace) -> dict[str, Any]:
    from harness.errors import ScenarioError
    from harness.model.arch import ARCHES
    from harness.model.machine import Machine
    from harness.run.modelrun import default_profile
    from harness.scenario import compile_scenario

    work = []
    for f in _corpus_files(args.smoke):
        for arch in ARCHES:
            try:
                sc = compile_scenario(f, arch)
            except ScenarioError:
                continue
            if sc.runs_on(arch, default_profile(arch)):
                work.append((arch, default_profile(arch), sc.program))
    n, t, w = 0, time.process_time(), time.perf_counter()
    for arch, profile, program in work:
        n += len(Machine(arch=arch, profile=profile).run(program))
    dt, wall = time.process_time() - t, time.perf_counter() - w
    return {"model_records_per_s": n / dt,
            "model": {"runs": len(work), "records": n, "cpu_seconds": dt, "wall_seconds": wall}}


# -- the table ------------------------------------------------------------------------------

GOALS = {"boot_ratio": "<= 1.05", "scenario_overhead_ratio": "(floor 1)", "restore_vs_reboot": "restore <= 0.5 s",
         "parallel_speedup": ">= 1.6 (0.8 x 2)", "model_records_per_s": ">= 100,000",
         "compile_s_per_scenario": "corpus < 1 s"}


def table(out: dict[str, Any]) -> str:
    rows = [f"{'figure':26} {'value':>14}  goal"]
    for k in KEYS:
        v = out.get(k)
        val = "n/a" if v is None else (f"{v:,.0f}" if k == "model_records_per_s" else f"{v:.4g}")
        rows.append(f"{k:26} {val:>14}  {GOALS[k]}")
    m = out["machine"]
    rows.append(f"machine: {m['cpus']} cpus ({m['cpu']}), load {m['loadavg']}; "
                f"boot on {out['boot']['kernel'] if out.get('boot') else 'n/a'}; "
                f"scenarios on the {out.get('pipeline', {}).get('guest', 'n/a')}"
                + ("; SMOKE (figures not representative)" if out["smoke"] else ""))
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="one round, a slice of the corpus: that it runs, not figures")
    ap.add_argument("--out", default=str(REPO / "results" / "bench"))
    ap.add_argument("--kernel", default=os.environ.get("KERNEL") or None, help="a real kernel for boot_ratio")
    ap.add_argument("--arch", default=os.environ.get("ARCH") or "amd64", help="the QEMU profile of --kernel")
    args = ap.parse_args(argv)
    out: dict[str, Any] = {"smoke": args.smoke, "machine": machine(), "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    with tempfile.TemporaryDirectory(prefix="nh-bench-") as tmpname:
        tmp = Path(tmpname)
        out |= bench_compile(args)
        out |= bench_model(args)
        out |= bench_pipeline(args, tmp)
        out |= bench_boot(args, tmp)
    outdir = Path(args.out)
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "bench.json").write_text(json.dumps(out, indent=1) + "\n")
    print(table(out))
    print(f"bench: {outdir / 'bench.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

