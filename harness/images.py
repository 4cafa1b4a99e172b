"""Kernel manifests: where a 9front kernel comes from and what its bytes hash to.

No 9front kernel or image is part of this repository; users bring their own.
``images/*.toml`` (and any directory in ``$NINE_HARNESS_IMAGES``, ``:``-separated)
hold manifests, one ``[[image]]`` table per kernel::

    [[image]]
    name = "9pc64-027f579f4"          # what --image takes
    arch = "amd64"                    # amd64 | arm64 | mips
    url = "https://example.org/9pc64" # http(s):// or file://; a .gz URL is
                                      # unpacked after checking
    sha256 = "…64 hex digits…"        # of the bytes as downloaded
    profile = "9front-current"        # optional: the model profile to use
    qemu_profile = "arm64-uboot"      # optional: the QEMU profile to boot with
    notes = "built from 9front 027f579f4 with the stock bootfs"   # optional

``fetch`` downloads into the cache (``cache_root()/images/SHA256/NAME``),
checks the sha256 before anything is kept (a partial or corrupt download never
lands in the cache), and re-checks a cached copy before every use.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import re
import shutil
import tempfile
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ImageError, InputError, UsageError
from harness.guest.build import cache_root, file_sha256
from harness.model.arch import QEMU_ARCHES

REPO_IMAGES = Path(__file__).resolve().parent.parent / "images"
ARCHES = QEMU_ARCHES
_SHA = re.compile(r"^[0-9a-f]{64}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
CHUNK = 1 << 20
UNPACKED_STAMP = "unpacked.sha256"  # beside an image unpacked from a .gz download


@dataclass(frozen=True)
class Image:
    name: str
    arch: str
    url: str
    sha256: str
    manifest: Path
    profile: str | None = None
    qemu_profile: str | None = None
    notes: str = ""


def manifest_dirs() -> list[Path]:
    extra = [Path(p) for p in os.environ.get("NINE_HARNESS_IMAGES", "").split(":") if p]
    return [*extra, REPO_IMAGES]


def load_manifest(path: Path) -> list[Image]:
    """The images of one manifest file; a malformed one is bad input naming the file."""
    try:
        doc = tomllib.loads(path.read_text())
    except OSError as e:
        raise InputError(f"{path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{path}: not valid TOML: {e}") from None
    out = []
    for i, t in enumerate(doc.get("image", [])):
        where = f"{path}: image #{i + 1}"
        missing = [k for k in ("name", "arch", "url", "sha256") if not isinstance(t.get(k), str)]
        if missing:
            raise InputError(f"{where}: missing {', '.join(missing)}")
        if not _NAME.match(t["name"]):
            raise InputError(f"{where}: name {t['name']!r} must be letters, digits, '.', '_' or '-'")
        if t["arch"] not in ARCHES:
            raise InputError(f"{where}: arch {t['arch']!r} is not one of {', '.join(ARCHES)}")
        if not _SHA.match(t["sha256"].lower()):
            raise InputError(f"{where}: sha256 must be 64 hex digits")
        if not t["url"].startswith(("http://", "https://", "file://")):
            raise InputError(f"{where}: url must be http(s):// or file://")
        out.append(Image(t["name"], t["arch"], t["url"], t["sha256"].lower(), path, t.get("profile"),
                         t.get("qemu_profile"), t.get("notes", "")))
    return out


def all_images(dirs: list[Path] | None = None) -> list[Image]:
    images: dict[str, Image] = {}
    for d in dirs if dirs is not None else manifest_dirs():
        for path in sorted(d.glob("*.toml")) if d.is_dir() else []:
            for img in load_manifest(path):
                if img.name in images:
                    raise InputError(f"{path}: image {img.name!r} is also in {images[img.name].manifest}")
                images[img.name] = img
    return sorted(images.values(), key=lambda i: i.name)


def find_image(name: str, dirs: list[Path] | None = None) -> Image:
    for img in all_images(dirs):
        if img.name == name:
            return img
    known = ", ".join(i.name for i in all_images(dirs)) or "none: add a manifest under images/ (images/README.md)"
    raise UsageError(f"no image named {name!r} in the manifests (known: {known})")


def cached_path(img: Image, root: Path | None = None) -> Path:
    return (root or cache_root()) / "images" / img.sha256 / img.name


def fetch(img: Image, root: Path | None = None, progress: Callable[[str], None] | None = None) -> Path:
    """The kernel of IMG on disk, downloaded and checked if need be.

    Everything is assembled in a private directory beside the cache and moved in
    whole, so a failed or interrupted fetch leaves nothing in the cache."""
    dest = cached_path(img, root)
    if dest.is_file():
        verify_cached(img, dest)
        return dest
    dest.parent.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".fetch-", dir=dest.parent.parent))
    try:
        part = work / "download.part"
        _download(img, part, progress)
        got = file_sha256(part)
        if got != img.sha256:
            raise ImageError(f"{img.name}: {img.url} has sha256 {got}, the manifest says {img.sha256} "
                             f"({img.manifest}); nothing was kept")
        if img.url.endswith(".gz"):
            with gzip.open(part, "rb") as src, (work / img.name).open("wb") as out:
                shutil.copyfileobj(src, out, CHUNK)
            (work / UNPACKED_STAMP).write_text(file_sha256(work / img.name) + "\n")
        else:
            os.replace(part, work / img.name)
        part.unlink(missing_ok=True)
        _publish(work, dest)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise ImageError(f"{img.name}: cannot store {img.url}: {e}") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return dest


def _publish(work: Path, dest: Path) -> None:
    """Move the checked files in: the directory at once when it is new, else the stamp then the kernel."""
    with contextlib.suppress(OSError):
        os.rename(work, dest.parent)  # also replaces an empty directory
        return
    dest.parent.mkdir(exist_ok=True)
    for f in sorted(work.iterdir(), key=lambda p: p.name != UNPACKED_STAMP):
        os.replace(f, dest.parent / f.name)


def cache_state(img: Image, root: Path | None = None) -> str:
    """"cached" only for a copy whose bytes still match; "corrupt" for one that changed."""
    path = cached_path(img, root)
    if not path.is_file():
        return "not fetched"
    try:
        verify_cached(img, path)
    except ImageError:
        return "corrupt"
    return "cached"


def verify_cached(img: Image, path: Path) -> None:
    """A cached image is used only while its bytes still match (a .gz one: its
    unpacked bytes, as hashed when it was stored)."""
    if img.url.endswith(".gz"):
        stamp = path.parent / UNPACKED_STAMP
        want = stamp.read_text().strip() if stamp.is_file() else "(no stamp)"
    else:
        want = img.sha256
    try:
        got = file_sha256(path)
    except OSError as e:
        raise ImageError(f"{img.name}: cached copy {path}: {e.strerror}") from None
    if got != want:
        raise ImageError(f"{img.name}: cached copy {path} has sha256 {got}, not {want}; delete "
                         f"{path.parent} to fetch it again")


def _download(img: Image, part: Path, progress: Callable[[str], None] | None) -> None:
    try:
        with urllib.request.urlopen(img.url, timeout=60) as resp, part.open("wb") as out:  # noqa: S310 - http(s)/file only
            total = int(resp.headers.get("Content-Length") or 0)
            done = 0
            for chunk in iter(lambda: resp.read(CHUNK), b""):
                out.write(chunk)
                done += len(chunk)
                if progress is not None and total:
                    progress(f"{img.name}: {done >> 20}/{total >> 20} MiB")
    except (urllib.error.URLError, TimeoutError, ValueError) as e:
        reason = getattr(e, "reason", e)
        raise ImageError(f"{img.name}: cannot download {img.url}: {reason}") from None
