"""A 9front release ISO: its plan9.ini and kernel, read with pycdlib (never edited).

9front's ISO (sys/lib/dist/mkfile, target %.pc.iso at 027f579f4) is made by
``disk/mk9660 -c9j``: ISO 9660 with Joliet names, the boot loader 386/9bootiso,
and cfg/plan9.ini = sys/lib/dist/cfg/plan9.ini (``cdboot=yes``,
``mouseport=ask``, ``monitor=ask``, ``vgasize=ask``) plus
``bootfile=/amd64/9pc64``.  9bootiso only talks to the serial port when
plan9.ini says ``console=`` (sys/src/boot/pc/sub.c: uartconf), which the ISO's
does not, so booting the CD itself would leave the serial console silent.  The
harness therefore takes the kernel named by ``bootfile`` out of the ISO, boots
it with ``-kernel`` and a boot configuration of its own (the ISO's plan9.ini
with ``console=0`` added and the ``ask`` values answered), and gives the ISO to
the guest as a CD drive: the live system's 9660srv serves the root from it
(sys/src/9/boot/local.rc: ``local!/dev/sdD0/data`` is a 9660 file system).
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from harness.errors import ImageError
from harness.qemu.console import ASK_ANSWERS

PLAN9_INI = "/cfg/plan9.ini"
GZIP_MAGIC = b"\x1f\x8b"
# QEMU's -cdrom is the secondary IDE master; sdide names it D0 (sys/src/9/pc/sdide.c).
CD_SLOT = 2
CD_DEVICE = "sdD0"


@dataclass(frozen=True)
class IsoBoot:
    iso: Path  # the plain (uncompressed) ISO the guest gets as its CD
    kernel: Path  # the kernel extracted from it
    kernel_path: str  # where it is on the ISO (plan9.ini bootfile)
    plan9ini: tuple[tuple[str, str], ...]  # the ISO's plan9.ini, in order
    volume: str

    @property
    def bootargs(self) -> str:
        """The answer to ``bootargs is``: the CD's 9660 file system."""
        return f"local!/dev/{CD_DEVICE}/data"


def parse_plan9ini(text: str) -> list[tuple[str, str]]:
    """key=value lines in order; comments, blank lines and [blocks] headers skipped
    (9boot skips lines starting with '#', ';' or '=': sys/src/boot/pc/sub.c)."""
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;=[" or "=" not in line:
            continue
        key, value = line.split("=", 1)
        out.append((key.strip(), value.strip()))
    return out


def plain_iso(path: Path, cache: Path, say: Callable[[str], None] | None = None) -> Path:
    """PATH itself, or for a gzipped ISO (9front publishes .iso.gz) its unpacked copy
    under CACHE, keyed by the compressed file's size and mtime and written atomically."""
    with path.open("rb") as f:
        magic = f.read(2)
    if magic != GZIP_MAGIC:
        return path
    st = path.stat()
    name = path.name.removesuffix(".gz")
    dest = cache / f"{st.st_size}-{int(st.st_mtime)}" / name
    if dest.is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    if say is not None:
        say(f"iso: unpacking {path.name} into {dest.parent} (once)")
    try:
        with gzip.open(path, "rb") as src, part.open("wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        os.replace(part, dest)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise ImageError(f"{path}: cannot unpack the gzipped ISO: {e}") from None
    finally:
        part.unlink(missing_ok=True)
    return dest


class IsoReader:
    """Case-insensitive file lookup over an ISO's Joliet (or Rock Ridge, or plain
    ISO 9660) names, the way 9front's file names are spelled on the CD."""

    def __init__(self, path: Path) -> None:
        import pycdlib
        from pycdlib.pycdlibexception import PyCdlibException

        self.path = path
        self._iso = pycdlib.PyCdlib()
        try:
            self._iso.open(str(path))
        except (PyCdlibException, OSError, ValueError) as e:
            raise ImageError(f"{path}: not a readable ISO 9660 image: {e}") from None
        if self._iso.has_joliet():
            self._facade = "joliet_path"
        elif self._iso.has_rock_ridge():
            self._facade = "rr_path"
        else:
            self._facade = "iso_path"
        self._names = dict(self._walk())

    def _walk(self) -> Iterator[tuple[str, str]]:
        from pycdlib.pycdlibexception import PyCdlibException

        try:
            for top, _dirs, files in self._iso.walk(**{self._facade: "/"}):
                for f in files:
                    yield _normal(str(PurePosixPath(top) / f)), str(PurePosixPath(top) / f)
        except PyCdlibException as e:
            raise ImageError(f"{self.path}: cannot list the ISO's files: {e}") from None

    @property
    def volume(self) -> str:
        return bytes(self._iso.pvd.volume_identifier).decode("ascii", "replace").strip()

    def read(self, name: str) -> bytes:
        real = self._names.get(_normal(name))
        if real is None:
            raise ImageError(f"{self.path}: no {name} on the ISO (is it a 9front release ISO?)")
        buf = io.BytesIO()
        self._iso.get_file_from_iso_fp(buf, **{self._facade: real})
        return buf.getvalue()

    def close(self) -> None:
        self._iso.close()


def _normal(name: str) -> str:
    """'/AMD64/9PC64.;1' and '/amd64/9pc64' alike."""
    name = name.split(";", 1)[0].rstrip(".")
    return "/" + name.strip("/").lower()


def open_release_iso(path: Path, workdir: Path, cache: Path,
                     say: Callable[[str], None] | None = None) -> IsoBoot:
    """Read the ISO's plan9.ini, extract its kernel into WORKDIR; the ISO is only read."""
    if not path.is_file():
        raise ImageError(f"{path}: no such ISO")
    iso = plain_iso(path, cache, say)
    reader = IsoReader(iso)
    try:
        conf = parse_plan9ini(reader.read(PLAN9_INI).decode("utf-8", "replace"))
        bootfile = dict(conf).get("bootfile")
        if not bootfile:
            raise ImageError(f"{path}: {PLAN9_INI} names no bootfile= (is it a 9front release ISO?)")
        # 9boot takes the part after the last '!' (sys/src/boot/pc/sub.c: configure)
        kpath = bootfile.rsplit("!", 1)[-1]
        workdir.mkdir(parents=True, exist_ok=True)
        kernel = workdir / PurePosixPath(kpath).name
        kernel.write_bytes(reader.read(kpath))
        volume = reader.volume
    finally:
        reader.close()
    return IsoBoot(iso=iso, kernel=kernel, kernel_path=kpath, plan9ini=tuple(conf), volume=volume)


def kernel_conf(conf: tuple[tuple[str, str], ...] | list[tuple[str, str]], *, extra: str = "") -> str:
    """The boot configuration for ``-append``: CONF with console=0 first, bootfile
    dropped (the kernel is already loaded), every ``ask`` answered, EXTRA last (wins)."""
    out: dict[str, str] = {"console": "0"}
    for key, value in conf:
        if key in ("bootfile", "console"):
            continue
        out[key] = ASK_ANSWERS.get(key, value) if value == "ask" else value
    for word in extra.split():
        key, _, value = word.partition("=")
        out[key] = value
    return " ".join(_quote(f"{k}={v}") for k, v in out.items())


def _quote(word: str) -> str:
    """pc's multibootargs() splits the command line with tokenize(2) (sys/src/9/pc/
    bootargs.c), which takes '...' quoting with '' for a quote: so a value with
    blanks (console=0 b115200) stays one line of plan9.ini."""
    if not any(c in word for c in " \t'"):
        return word
    return "'" + word.replace("'", "''") + "'"
