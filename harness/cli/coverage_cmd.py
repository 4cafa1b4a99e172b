"""`harness coverage`: which of the model's kernel rule sites the scenarios reach."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import click

from harness.errors import UsageError
from harness.files import write_atomic
from harness.model.profiles import get_profile
from harness.run.modelrun import default_profile
from harness.scenario.compiler import default_corpus, find_scenarios


def seed_source(given: str | None) -> Path | None:
    """The seed sysproc.c: --source, else shared/seeds/sysproc.c where the project keeps it."""
    if given:
        p = Path(given)
        if not p.is_file():
            raise UsageError(f"{p}: no such file (the seed sysproc.c)")
        return p
    env = os.environ.get("NINE_HARNESS_SHARED")
    roots = [Path(env)] if env else []
    roots += [Path.cwd() / "shared", Path.cwd().parent / "shared", Path(__file__).resolve().parents[3] / "shared"]
    return next((r / "seeds" / "sysproc.c" for r in roots if (r / "seeds" / "sysproc.c").is_file()), None)


def git_source(gitdir: str, commit: str, path: str) -> str | None:
    proc = subprocess.run(["git", f"--git-dir={gitdir}", "show", f"{commit}:{path}"], capture_output=True)
    return proc.stdout.decode("utf-8", "replace") if proc.returncode == 0 else None


@click.command("coverage")
@click.argument("scenarios", nargs=-1, type=click.Path())
@click.option("--arch", default="amd64", show_default=True, help="The modelled arch.")
@click.option("--profile", help="Kernel semantic profile (default: the arch's oldest).")
@click.option("-o", "--out", "outdir", type=click.Path(file_okay=False), default="results/coverage",
              show_default=True, help="Where the annotated files go (FILE.cov.txt, FILE.cov.html, coverage.json).")
@click.option("--source", help="The seed sysproc.c (default: shared/seeds/sysproc.c beside the clone or $NINE_HARNESS_SHARED).")
@click.option("--9front", "tree", type=click.Path(exists=True), help="A 9front git dir: annotate the other kernel files too.")
@click.option("--cross-arch", "cross_arch", is_flag=True,
              help="Instead: the scenarios on two arches of the model (--arches), each difference "
                   "classified as an arch rule the model knows or not.")
@click.option("--arches", "cross", default="amd64,arm64", show_default=True, help="The two arches of --cross-arch.")
def coverage(scenarios: tuple[str, ...], arch: str, profile: str | None, outdir: str,
             source: str | None, tree: str | None, cross_arch: bool, cross: str) -> int:
    """Run SCENARIOS (default: the corpus) on the model and show which rule sites they reach.

    Every site is an error() the model reproduces or a branch a kernel line
    decides (harness/coverage/sites.py).  Writes sysproc.c annotated (text and
    HTML: each line reached or not, by which scenarios) and prints
    `sysproc.c: X of Y rule sites reached`, then the same for the other files.
    """
    from harness.coverage import annotate, collect, sites
    from harness.model.arch import ARCHES

    if cross_arch:
        return _cross_arch(scenarios, cross, profile, Path(outdir))
    if arch not in ARCHES:
        raise UsageError(f"unknown arch {arch!r} (known: {', '.join(ARCHES)})")
    prof = profile or default_profile(arch)
    get_profile(prof)
    files = find_scenarios(list(scenarios) or None)
    if not files:
        raise UsageError("no scenarios matched")
    seed = seed_source(source)
    if seed is None:
        click.echo("coverage: the seed sysproc.c was not found (--source FILE or $NINE_HARNESS_SHARED):"
                   " its sites are listed, not the file", err=True)
    cov, skipped = collect.corpus(files, arch, prof, default_corpus())
    out = Path(outdir)
    _mkdir(out)
    for f in sites.files():
        text_, page = _render(f, cov, seed, tree)
        write_atomic(out / f"{f.replace('/', '_')}.cov.txt", text_)
        if page is not None:
            write_atomic(out / f"{f.replace('/', '_')}.cov.html", page)
        summary = annotate.summarise(f, cov)
        if summary.sites:  # files whose sites are all another arch's or profile's: the file only
            click.echo(summary.line())
    write_atomic(out / "coverage.json", json.dumps({**cov.to_json(), "skipped": skipped,
                                                    "sites": [s.id for s in sites.SITES]}, indent=1) + "\n")
    prof_ = get_profile(prof)
    missed = [s for s in sites.SITES if s.reachable and s.applies(prof_, arch) and s.id not in cov.reached()]
    for s in missed:
        click.echo(f"  not reached: {s.id}: {s.what}")
    click.echo(f"{cov.runs} scenarios on {arch} {prof}"
               f" ({len(skipped)} do not run there); annotated files in {out}")
    return 0


def _cross_arch(scenarios: tuple[str, ...], cross: str, profile: str | None, out: Path) -> int:
    from harness.coverage import crossarch
    from harness.model.arch import ARCHES
    from harness.model.profiles import CURRENT

    pair = [a.strip() for a in cross.split(",")]
    if len(pair) != 2 or any(a not in ARCHES for a in pair):
        raise UsageError(f"--cross-arch takes two arches A,B (known: {', '.join(ARCHES)})")
    prof = profile or CURRENT  # arm64's QEMU kernel exists only after the seed
    get_profile(prof)
    files = find_scenarios(list(scenarios) or None)
    if not files:
        raise UsageError("no scenarios matched")
    c = crossarch.compare(files, pair[0], pair[1], prof, default_corpus())
    _mkdir(out)
    write_atomic(out / "crossarch.txt", crossarch.render(c))
    write_atomic(out / "crossarch.json", json.dumps(c.to_json(), indent=1, default=str) + "\n")
    click.echo(c.summary())
    for d in c.differences:
        if d.verdict == crossarch.UNEXPLAINED:
            click.echo(f"  {d.line()}")
    click.echo(f"report: {out / 'crossarch.txt'}")
    return 0


def _mkdir(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"{out}: {e.strerror}") from None


def _render(f: str, cov: object, seed: Path | None, tree: str | None) -> tuple[str, str | None]:
    from harness.coverage import annotate
    from harness.coverage.collect import Coverage
    from harness.coverage.sites import SEED_COMMIT, of_file

    assert isinstance(cov, Coverage)
    src: str | None = None
    if f == "sysproc.c" and seed is not None:
        src = seed.read_text(errors="replace")
    elif tree is not None:
        src = git_source(tree, SEED_COMMIT, of_file(f)[0].kernel_path)
    if src is None:
        return annotate.sites_only(f, cov), None
    return annotate.text(f, src, SEED_COMMIT, cov), annotate.html_page(f, src, SEED_COMMIT, cov)
