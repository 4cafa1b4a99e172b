"""``harness images add``: put a kernel, release ISO or disk image a user has into a
manifest, pinned by the sha256 of its bytes.

The digest comes from the bytes, never from us: either the user gives
``--sha256`` (what 9front publishes beside the release) and the bytes must
match it, or the computed digest is shown and the user must confirm it matches
what they trust.  Nothing is written otherwise.  A download lands in the cache
(``images.store``) so ``harness run --image NAME`` does not fetch it again.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness import images
from harness.errors import ImageError, UsageError
from harness.guest.build import cache_root, file_sha256

_SHA = re.compile(r"^[0-9a-fA-F]{64}$")
DEFAULT_MANIFEST = "local.toml"


@dataclass(frozen=True)
class AddRequest:
    source: str  # URL (http(s)://, file://) or a local file
    name: str
    arch: str
    kind: str = "kernel"
    sha256: str | None = None
    notes: str = ""


def default_manifest() -> Path:
    """images/local.toml, or local.toml in the first $NINE_HARNESS_IMAGES directory."""
    return images.manifest_dirs()[0] / DEFAULT_MANIFEST


def check(req: AddRequest) -> None:
    if not images._NAME.match(req.name):
        raise UsageError(f"name {req.name!r} must be letters, digits, '.', '_' or '-'")
    if req.arch not in images.ARCHES:
        raise UsageError(f"arch {req.arch!r} is not one of {', '.join(images.ARCHES)}")
    if req.kind not in images.KINDS:
        raise UsageError(f"kind {req.kind!r} is not one of {', '.join(images.KINDS)}")
    if req.sha256 is not None and not _SHA.match(req.sha256):
        raise UsageError("--sha256 must be 64 hex digits")
    if any(i.name == req.name for i in images.all_images()):
        raise UsageError(f"an image named {req.name!r} is already in the manifests")


def _is_url(source: str) -> bool:
    return source.startswith(("http://", "https://", "file://"))


def add(req: AddRequest, manifest: Path, *, confirm: Callable[[str], bool],
        say: Callable[[str], None]) -> images.Image:
    """Hash the source (downloading a URL), check or confirm the digest, write the entry."""
    check(req)
    part: Path | None = None
    if _is_url(req.source):
        url = req.source
        staging = cache_root() / "images" / "incoming"
        staging.mkdir(parents=True, exist_ok=True)
        part = staging / f"{req.name}.{os.getpid()}.part"
        images.download(url, part, req.name, say)
        data = part
    else:
        data = Path(req.source)
        if not data.is_file():
            raise UsageError(f"{req.source}: no such file (and not an http(s):// or file:// URL)")
        url = data.resolve().as_uri()
    try:
        got = file_sha256(data)
        say(f"sha256 {got}  {req.source}")
        if req.sha256 is not None:
            if got != req.sha256.lower():
                raise ImageError(f"{req.source} has sha256 {got}, not the {req.sha256.lower()} given; "
                                 f"nothing was written")
        elif not confirm("Compare this sha256 with the one 9front publishes for the file "
                         "(or the one you computed where you built it).  Does it match?"):
            raise UsageError("digest not confirmed; nothing was written (pass --sha256 to check it instead)")
        img = images.Image(req.name, req.arch, url, got, manifest, notes=req.notes, kind=req.kind)
        _append(manifest, img)
        if part is not None:
            images.store(img, part)
    finally:
        if part is not None:
            part.unlink(missing_ok=True)
    return img


def entry_text(img: images.Image) -> str:
    # JSON strings are valid TOML basic strings (same escapes, \\uXXXX for the rest)
    fields = {"name": img.name, "arch": img.arch, "kind": img.kind, "url": img.url,
              "sha256": img.sha256}
    if img.notes:
        fields["notes"] = img.notes
    return "\n[[image]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in fields.items())


def _append(manifest: Path, img: images.Image) -> None:
    """Append atomically, and only what still parses as a manifest."""
    manifest.parent.mkdir(parents=True, exist_ok=True)
    old = manifest.read_text() if manifest.is_file() else (
        "# Images added with `harness images add` (see images/README.md).\n")
    tmp = manifest.with_name(manifest.name + ".part")
    tmp.write_text(old + entry_text(img))
    try:
        if not any(i.name == img.name for i in images.load_manifest(tmp)):
            raise ImageError(f"{manifest}: the new entry did not read back")
        os.replace(tmp, manifest)
    finally:
        tmp.unlink(missing_ok=True)
