"""`harness images`: the kernel manifests under images/ (harness.images)."""

from __future__ import annotations

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
        click.echo(f"{img.name:28} {img.arch:6} {cached:12} {img.url}")
    return 0


@images_cmd.command("fetch")
@click.argument("name")
def fetch(name: str) -> int:
    """Download NAME (if not cached), check its sha256, print its path."""
    img = images.find_image(name)
    path = images.fetch(img, progress=lambda s: click.echo(s, err=True))
    click.echo(str(path))
    return 0
