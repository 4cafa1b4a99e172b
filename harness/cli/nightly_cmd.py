"""`harness nightly`: the matrix, JUnit, one HTML report, a baseline, retries and history."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from types import FrameType

import click

from harness.nightly.baseline import load_baseline
from harness.nightly.matrix import load_matrix
from harness.nightly.night import Night
from harness.nightly.options import NightOptions


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


@click.command("nightly")
@click.option("--matrix", "matrix_file", required=True, type=click.Path(dir_okay=False),
              help="TOML matrix: one [[cell]] per kernel/arch/profile/scenarios (docs/NIGHTLY.md).")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="The night's directory: per-cell results, junit/, report.html, summary.json/.txt.")
@click.option("--baseline", type=click.Path(dir_okay=False), help="TOML of [[known]] divergences.")
@click.option("--history", type=click.Path(file_okay=False),
              help="Keep each finished night here and compare with the previous one.")
@click.option("--jobs", type=click.IntRange(1, 256), default=1, show_default=True,
              help="Guests in parallel over the whole night (a cell takes its own jobs of them).")
@click.option("--resume", is_flag=True, help="Continue the interrupted night in --out; finished cells are kept.")
@click.option("--retries", type=click.IntRange(0, 20), default=2, show_default=True,
              help="Reruns of a failing scenario; outcomes that differ make it flaky.")
@click.option("--flaky-fails", is_flag=True, help="A flaky scenario fails the night (default: reported only).")
def nightly(matrix_file: str, out: str, baseline: str | None, history: str | None, jobs: int, resume: bool,
            retries: int, flaky_fails: bool) -> int:
    """Run every cell of the matrix and report the night.

    Exit 0 nothing new, 1 a new divergence or kernel crash (not explained by the
    baseline), 3 a cell could not run (infrastructure), 2 a bad matrix or baseline.
    """
    matrix = load_matrix(matrix_file)  # both checked before anything runs: exit 2
    known = load_baseline(baseline)
    opts = NightOptions(Path(out).resolve(), known, Path(history).resolve() if history else None, jobs, resume,
                        retries, flaky_fails)
    night = Night(matrix, opts, say=lambda s: click.echo(s, err=True))
    night.open()
    sims = sum(c.simulated for c in matrix.cells)
    click.echo(f"nightly: night {night.night_id}: {len(matrix.cells)} cells"
               f"{f' ({sims} SIMULATED)' if sims else ''}, {jobs} job(s), {retries} retries; "
               f"baseline {len(known.entries)} entries; out {opts.out}/", err=True)
    old = {s: signal.signal(s, _interrupt) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        rc = night.run()
    except KeyboardInterrupt:
        click.echo(f"nightly: interrupted; the partial report is {opts.out}/report.html "
                   f"(--resume to finish the night)", err=True)
        return 130
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    sys.stdout.write((opts.out / "summary.txt").read_text())
    click.echo(f"nightly: report {opts.out}/report.html; exit {rc}", err=True)
    return rc
