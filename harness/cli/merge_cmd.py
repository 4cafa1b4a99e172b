"""`harness merge`: shard results into one summary, one JUnit file and one HTML report."""

from __future__ import annotations

import click

from harness.report.merge import merge as merge_shards


@click.command("merge")
@click.argument("dirs", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Directory for summary.json, junit.xml, report.html and a copy of each shard.")
def merge(dirs: tuple[str, ...], out: str) -> int:
    """Merge the results directories of one run's shards (DIRS, or directories holding them).

    Refuses shards of different runs and a missing shard (exit 2); a shard that ran
    twice (a retry) counts once, its latest finished attempt.
    Exit code: the run's, as if it had run unsharded (0, 1 divergence, 3 infrastructure
    or an interrupted shard).
    """
    res = merge_shards(list(dirs), out)
    parts = ", ".join(f"{n} {s}" for s, n in sorted(res.counts.items())) or "no scenarios"
    click.echo(f"merge: run {res.run_id}: {res.shards} shards, {parts}; {res.out}/ "
               "(summary.json, junit.xml, report.html)")
    if res.unfinished:
        click.echo(f"merge: shard(s) {', '.join(map(str, res.unfinished))} were interrupted: the run is incomplete",
                   err=True)
    return res.exit_code
