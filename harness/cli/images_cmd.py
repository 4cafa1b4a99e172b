"""`harness images`: the kernel manifests under images/ (harness.images)."""

from __future__ import annotations

import sys

import click

from harness import images


@click.group("images", invoke_without_command=True)
@click.pass_context
def images_cmd(ctx: click.Context) -> int:
    """List the kernels the manifests name, and whether each is cached (and still matches its sha256)."""
    if ctx.invoked_subcommand is not None:
        return 0
    found = images.all_images()
    if not found:
        dirs = ", ".join(str(d) for d in images.manifest_dirs())
        click.echo(f"no images in the manifests ({dirs}); see images/README.md")
        return 0
    for img in found:
        cached = images.cache_state(img)
        click.echo(f"{img.name:28} {img.arch:6} {img.kind:7} {cached:12} {img.url}")
    return 0


@images_cmd.command("fetch")
@click.argument("name")
def fetch(name: str) -> int:
    """Download NAME (if not cached), check its sha256, print its path."""
    img = images.find_image(name)
    path = images.fetch(img, progress=lambda s: click.echo(s, err=True))
    click.echo(str(path))
    return 0


@images_cmd.command("add")
@click.argument("source")
@click.option("--name", required=True, help="What --image takes.")
@click.option("--arch", required=True, type=click.Choice(list(images.ARCHES)))
@click.option("--kind", type=click.Choice(list(images.KINDS)), default="kernel", show_default=True,
              help="A kernel file, a release ISO (--iso), or an installed disk image (--disk).")
@click.option("--sha256", help="The digest 9front publishes: the bytes must match it (else you are asked).")
@click.option("--notes", default="", help="Free text kept in the manifest.")
@click.option("--manifest", type=click.Path(dir_okay=False),
              help="Manifest file to append to (default: local.toml in the first manifest directory).")
@click.option("--yes", is_flag=True, help="Take the printed sha256 as confirmed (scripts that checked it).")
def add(source: str, name: str, arch: str, kind: str, sha256: str | None, notes: str, manifest: str | None,
        yes: bool) -> int:
    """Add SOURCE (a URL or a file) to a manifest, pinned by the sha256 of its bytes."""
    from pathlib import Path

    from harness import images_add

    def confirm(question: str) -> bool:
        if yes:
            return True
        if not sys.stdin.isatty():
            click.echo(question, err=True)
            click.echo("(stdin is not a terminal: pass --sha256 DIGEST or --yes)", err=True)
            return False
        return click.confirm(question, default=False)

    req = images_add.AddRequest(source, name, arch, kind, sha256, notes)
    target = Path(manifest) if manifest else images_add.default_manifest()
    img = images_add.add(req, target, confirm=confirm, say=lambda s: click.echo(s, err=True))
    click.echo(f"added {img.name} ({img.kind}, {img.arch}, sha256 {img.sha256}) to {target}")
    use = {"kernel": "--kernel", "iso": "--iso", "disk": "--disk"}[img.kind]
    click.echo(f"run it with: harness run --image {img.name}  (as {use} FILE)")
    return 0
