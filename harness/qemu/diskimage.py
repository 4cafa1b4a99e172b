"""An installed 9front disk image: find its plan9.ini, enable the serial console in
a copy-on-write overlay, never write the user's image.

Layouts (sys/lib/dist/mkfile at 027f579f4, target %.disk, and rc/bin/inst):
- amd64 (and a default install): an MBR partition of type 0x39 (Plan 9, made by
  ``disk/fdisk -baw``), or a GPT partition of type C91818F9-8025-47AF-89D2-
  F030D7000C2C (``disk/edisk``), holding Plan 9 partitions whose table is text
  in the partition's second sector (``part 9fat 0 N`` ..., offsets in sectors
  from the partition's start: sys/src/cmd/disk/prep/prep.c).  9fat comes first
  and begins at sector 0 (``disk/format -r 2`` reserves two sectors for the
  boot sector and that table); it holds 9bootfat, plan9.ini and the kernel.
- arm64 (%.arm64.qcow2): MBR partition 1, FAT32, holding boot.scr, plan9.ini and
  9qemu.u; partition 2 the Plan 9 one (nvram, fs).  U-Boot runs boot.scr, which
  loads plan9.ini to CONFADDR and bootm's the kernel (sys/src/boot/qemu/boot.txt).

How the overlay is changed without ever opening the user's image for writing:
the FAT partition's bytes are read out (Python for raw images, ``qemu-img dd``
for qcow2), plan9.ini is edited in that copy with mtools, a qcow2 overlay backed
by the user's image is created, and only the 4 KiB blocks that differ are
written into the overlay with ``qemu-io``.  The FAT is then read back through
the overlay and compared with the edited copy.
"""

from __future__ import annotations

import enum
import json
import os
import shutil
import struct
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ImageError, InfraError
from harness.qemu.console import ASK_ANSWERS
from harness.qemu.iso import parse_plan9ini
from harness.qemu.profiles import Disk, make_overlay, qemu_img

SECTOR = 512
BLOCK = 4096  # granularity of the overlay writes
MBR_PLAN9 = 0x39
MBR_GPT = 0xEE
MBR_FAT = {0x01, 0x04, 0x06, 0x0B, 0x0C, 0x0E}
GPT_PLAN9 = uuid.UUID("c91818f9-8025-47af-89d2-f030d7000c2c")  # prep/edisk.c types[]
GPT_FAT = {uuid.UUID("c12a7328-f81f-11d2-ba4b-00a0c93ec93b"),  # EFI system
           uuid.UUID("ebd0a0a2-b9e5-4433-87c0-68b6b72699c7")}  # basic data
PLAN9_INI = "plan9.ini"


class PartKind(enum.Enum):
    PLAN9 = "plan9"
    FAT = "fat"
    OTHER = "other"


@dataclass(frozen=True)
class Partition:
    kind: PartKind
    start: int  # sectors from the start of the disk
    size: int  # sectors


@dataclass(frozen=True)
class FatVolume:
    """The FAT that holds plan9.ini: where it is on the disk, and by what name."""

    name: str  # 9fat, or dos for an MBR FAT partition
    offset: int  # bytes
    size: int  # bytes


def image_format(path: Path) -> str:
    """raw or qcow2, as qemu-img sees the file (never guessed from its name)."""
    proc = subprocess.run([qemu_img(), "info", "--output=json", str(path)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise ImageError(f"{path}: qemu-img cannot read it: {proc.stderr.strip()}")
    fmt = str(json.loads(proc.stdout).get("format"))
    if fmt not in ("raw", "qcow2"):
        raise ImageError(f"{path}: a {fmt} image; give a raw or qcow2 disk image")
    return fmt


def read_range(disk: Disk, offset: int, length: int, dest: Path | None = None) -> bytes:
    """LENGTH bytes at OFFSET of the guest-visible disk (read-only)."""
    if disk.format == "raw":
        with disk.path.open("rb") as f:
            f.seek(offset)
            data = f.read(length)
    else:
        tmp = (dest or disk.path.parent / f".nh-range-{os.getpid()}").with_suffix(".range")
        tmp.unlink(missing_ok=True)
        # a raw view of the range (qemu-img dd's skip= miscounts in QEMU 7.2); ',' doubled
        opts = (f"driver=raw,offset={offset},size={length},file.driver={disk.format},"
                f"file.file.filename={str(disk.path).replace(',', ',,')}")
        proc = subprocess.run([qemu_img(), "convert", "--image-opts", opts, "-O", "raw", str(tmp)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise ImageError(f"{disk.path}: qemu-img cannot read bytes {offset}+{length}: "
                             f"{proc.stderr.strip()}")
        data = tmp.read_bytes()
        tmp.unlink()
    if len(data) != length:
        raise ImageError(f"{disk.path}: ends before byte {offset + length} (a truncated image?)")
    return data


def partitions(disk: Disk) -> list[Partition]:
    """The disk's MBR (or GPT, behind a protective MBR) partitions."""
    mbr = read_range(disk, 0, SECTOR)
    if mbr[510:512] != b"\x55\xaa":
        raise ImageError(f"{disk.path}: no partition table (no MBR signature): not an installed 9front disk")
    out = []
    for i in range(4):
        _boot, ptype, start, size = struct.unpack_from("<B3xB3xII", mbr, 446 + 16 * i)
        if ptype == MBR_GPT:
            return _gpt(disk)
        if ptype and size:
            kind = PartKind.PLAN9 if ptype == MBR_PLAN9 else PartKind.FAT if ptype in MBR_FAT else PartKind.OTHER
            out.append(Partition(kind, start, size))
    return out


def _gpt(disk: Disk) -> list[Partition]:
    hdr = read_range(disk, SECTOR, SECTOR)
    if hdr[:8] != b"EFI PART":
        raise ImageError(f"{disk.path}: protective MBR but no GPT header")
    lba, count, esize = struct.unpack_from("<QII", hdr, 72)
    nbytes = -(-count * esize // SECTOR) * SECTOR
    table = read_range(disk, lba * SECTOR, nbytes)
    out = []
    for i in range(count):
        ent = table[i * esize : (i + 1) * esize]
        first, last = struct.unpack_from("<QQ", ent, 32)
        if ent[:16] == bytes(16):
            continue
        t = uuid.UUID(bytes_le=ent[:16])
        kind = PartKind.PLAN9 if t == GPT_PLAN9 else PartKind.FAT if t in GPT_FAT else PartKind.OTHER
        out.append(Partition(kind, first, last - first + 1))
    return out


def plan9_parts(disk: Disk, part: Partition) -> dict[str, tuple[int, int]]:
    """The Plan 9 partition table (name -> (start, end) sectors from PART's start)."""
    text = read_range(disk, (part.start + 1) * SECTOR, SECTOR).split(b"\0", 1)[0].decode("ascii", "replace")
    out = {}
    for line in text.splitlines():
        f = line.split()
        if len(f) == 4 and f[0] == "part" and f[2].isdigit() and f[3].isdigit():
            out[f[1]] = (int(f[2]), int(f[3]))
    return out


def find_fat(disk: Disk) -> FatVolume:
    """The 9fat inside the Plan 9 partition, else the first FAT partition (arm64 layout)."""
    parts = partitions(disk)
    for p in parts:
        if p.kind is PartKind.PLAN9:
            table = plan9_parts(disk, p)
            if "9fat" in table:
                a, b = table["9fat"]
                return FatVolume("9fat", (p.start + a) * SECTOR, (b - a) * SECTOR)
    for p in parts:
        if p.kind is PartKind.FAT:
            return FatVolume("dos", p.start * SECTOR, p.size * SECTOR)
    kinds = ", ".join(f"{p.kind.value}@{p.start}" for p in parts) or "none"
    raise ImageError(f"{disk.path}: no 9fat in a Plan 9 partition and no FAT partition (partitions: {kinds})")


def edit_plan9ini(text: str, extra: str = "") -> str:
    """TEXT with console=0 (any other console= replaced), every 'ask' answered, and
    the key=value words of EXTRA set, as the first lines: 9boot ignores lines
    inside [blocks] other than [common] (sys/src/boot/pc/sub.c), so new keys go
    before the first block."""
    want = {"console": "0"}
    for word in extra.split():
        key, _, value = word.partition("=")
        want[key] = value
    kept = []
    for line in text.replace("\r\n", "\n").splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key in want:
            continue
        if sep and value.strip() == "ask" and key in ASK_ANSWERS:
            line = f"{key}={ASK_ANSWERS[key]}"
        kept.append(line)
    head = [f"{k}={v}" for k, v in want.items()]
    return "\n".join(head + kept) + "\n"


def _mtools_env() -> dict[str, str]:
    # 9front's disk/format writes geometry mtools may call odd; the FAT itself is sound.
    return {**os.environ, "MTOOLS_SKIP_CHECK": "1", "MTOOLS_NO_VFAT": "0"}


def _mtool(tool: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    path = shutil.which(tool)
    if path is None:
        raise InfraError(f"{tool} not found: install mtools (apt-get install mtools)")
    return subprocess.run([path, *args], capture_output=True, env=_mtools_env())


def fat_read(fat: Path, name: str) -> bytes | None:
    proc = _mtool("mtype", "-i", str(fat), f"::/{name}")
    return proc.stdout if proc.returncode == 0 else None


def fat_write(fat: Path, name: str, data: bytes) -> None:
    src = fat.with_name(fat.name + ".new")
    src.write_bytes(data)
    proc = _mtool("mcopy", "-o", "-i", str(fat), str(src), f"::/{name}")
    src.unlink()
    if proc.returncode != 0:
        raise ImageError(f"cannot write {name} into the FAT copy: {proc.stderr.decode().strip()}")


@dataclass(frozen=True)
class PreparedDisk:
    overlay: Disk  # the qcow2 overlay the guest boots (backed by the user's image)
    base: Disk  # the user's image, only ever read
    fat: FatVolume
    plan9ini: str  # as the overlay now has it
    original_plan9ini: str
    fat_copy: Path  # the edited FAT as written into the overlay

    @property
    def conf(self) -> list[tuple[str, str]]:
        return parse_plan9ini(self.plan9ini)


def prepare(image: Path, workdir: Path, extra: str = "") -> PreparedDisk:
    """An overlay of IMAGE whose plan9.ini enables the serial console (see module doc)."""
    if not image.is_file():
        raise ImageError(f"{image}: no such disk image")
    base = Disk(image.resolve(), image_format(image), readonly=True)
    fat = find_fat(base)
    workdir.mkdir(parents=True, exist_ok=True)
    orig, copy = workdir / f"{fat.name}.orig", workdir / f"{fat.name}.img"
    orig.write_bytes(read_range(base, fat.offset, fat.size, workdir / "fat"))
    shutil.copyfile(orig, copy)
    old = fat_read(copy, PLAN9_INI)
    if old is None:
        raise ImageError(f"{image}: the {fat.name} partition (FAT at byte {fat.offset}) has no plan9.ini")
    text = edit_plan9ini(old.decode("utf-8", "replace"), extra)
    fat_write(copy, PLAN9_INI, text.encode())
    overlay = workdir / "overlay.qcow2"
    overlay.unlink(missing_ok=True)
    disk = make_overlay(Disk(base.path, base.format), overlay)
    _write_changes(disk.path, orig, copy, fat.offset, workdir)
    if read_range(disk, fat.offset, fat.size, workdir / "check") != copy.read_bytes():
        raise InfraError(f"{overlay}: the edited {fat.name} did not read back from the overlay")
    orig.unlink()
    return PreparedDisk(disk, base, fat, text, old.decode("utf-8", "replace"), copy)


def changed_runs(a: bytes, b: bytes, block: int = BLOCK) -> list[tuple[int, int]]:
    """(offset, length) of the runs of BLOCK-sized blocks where A and B differ."""
    runs: list[tuple[int, int]] = []
    for off in range(0, max(len(a), len(b)), block):
        if a[off : off + block] == b[off : off + block]:
            continue
        n = min(block, len(b) - off)
        if runs and runs[-1][0] + runs[-1][1] == off:
            runs[-1] = (runs[-1][0], runs[-1][1] + n)
        else:
            runs.append((off, n))
    return runs


def _write_changes(overlay: Path, orig: Path, copy: Path, base_off: int, workdir: Path) -> None:
    qemu_io = shutil.which("qemu-io")
    if qemu_io is None:
        raise InfraError("qemu-io not found: apt-get install qemu-utils")
    new = copy.read_bytes()
    cmds, pieces = [], []
    for n, (off, length) in enumerate(changed_runs(orig.read_bytes(), new)):
        piece = workdir / f"run{n}.bin"
        piece.write_bytes(new[off : off + length])
        pieces.append(piece)
        cmds += ["-c", f"write -q -s {piece} {base_off + off} {length}"]
    try:
        if cmds:
            proc = subprocess.run([qemu_io, "-f", "qcow2", *cmds, str(overlay)], capture_output=True, text=True)
            if proc.returncode != 0 or "error" in proc.stdout.lower():
                raise InfraError(f"qemu-io writing {overlay}: {(proc.stderr or proc.stdout).strip()}")
    finally:
        for p in pieces:
            p.unlink(missing_ok=True)


def kernel_from_fat(prep: PreparedDisk, workdir: Path) -> Path:
    """The kernel plan9.ini's bootfile names, copied out of the edited FAT."""
    bootfile = dict(prep.conf).get("bootfile")
    if not bootfile:
        raise ImageError(f"{prep.base.path}: plan9.ini on {prep.fat.name} names no bootfile=")
    name = bootfile.rsplit("!", 1)[-1].lstrip("/")
    data = fat_read(prep.fat_copy, name)
    if data is None:
        raise ImageError(f"{prep.base.path}: plan9.ini names bootfile={bootfile}, not on {prep.fat.name}")
    dest = workdir / Path(name).name
    dest.write_bytes(data)
    return dest


def check_bios_bootable(prep: PreparedDisk) -> None:
    """What a BIOS boot of a 9front disk needs before 9boot reads plan9.ini: boot code
    in the MBR (disk/mbr -m /386/mbr) and 9bootfat, which the 9fat's pbs loads
    (sys/lib/dist/mkfile %.disk: disk/format -b /386/pbs ... 9bootfat)."""
    hint = "; boot it with --disk-boot kernel (the kernel plan9.ini names, by -kernel)"
    if read_range(prep.base, 0, 440) == bytes(440):
        raise ImageError(f"{prep.base.path}: no boot code in the MBR, the BIOS cannot boot it{hint}")
    if fat_read(prep.fat_copy, "9bootfat") is None:
        raise ImageError(f"{prep.base.path}: no 9bootfat on {prep.fat.name}, 9front's pbs has nothing to load{hint}")
