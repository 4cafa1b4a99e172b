"""Assemble release-style media around the boot FIXTURES (not kernels, not 9front):
an ISO 9660 image laid out like 9front's (sys/lib/dist/mkfile %.pc.iso) and
partitioned disks laid out like its installer's (%.disk), so the harness's
extraction, overlay and plan9.ini change run on real QEMU in CI.

- ISO: pycdlib, Joliet names, /cfg/plan9.ini (sys/lib/dist/cfg/plan9.ini's
  lines plus bootfile=/amd64/9pc64) and the fixture as /amd64/9pc64.
- amd64 disk: MBR, one active partition of type 0x39; inside it the Plan 9
  partition table as text in its second sector (9fat 0.., nvram, fs), and 9fat
  a FAT made by mformat with 2 reserved sectors (disk/format -r 2) holding
  plan9.ini and the fixture as 9pc64.
- arm64 disk: MBR p1 FAT32 (type 0x0c, active) with boot.scr (U-Boot script
  uImage of sys/src/boot/qemu/boot.txt), plan9.ini and the fixture as 9qemu.u;
  p2 type 0x39 with nvram and fs.
"""

from __future__ import annotations

import io
import struct
import subprocess
import sys
from pathlib import Path

from harness.qemu import uimage

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "qemu"))
from qemutestutil import missing, need_qemu  # noqa: E402, F401  (re-exported for the media tests)

SECTOR = 512



ISO_PLAN9INI = (b"# config for initial cd booting\ncdboot=yes\nmouseport=ask\nmonitor=ask\n"
                b"vgasize=ask\nbootfile=/amd64/9pc64\n")
# sys/src/boot/qemu/boot.txt at 027f579f4, what boot.scr runs
BOOT_TXT = (b"mw.b 0x40010000 0x0 0x10000\n"
            b"load ${devtype} ${devnum}:${bootpart} 0x40010000 ${prefix}plan9.ini\n"
            b"load ${devtype} ${devnum}:${bootpart} 0x40100000 ${prefix}9qemu.u && bootm 0x40100000\n")
TYPE_SCRIPT = 6  # U-Boot include/image.h IH_TYPE_SCRIPT


def make_iso(dest: Path, kernel: Path, plan9ini: bytes = ISO_PLAN9INI) -> Path:
    import pycdlib

    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, vol_ident="Plan 9 Front")
    for d in ("amd64", "cfg", "386"):
        iso.add_directory("/" + d.upper(), joliet_path="/" + d)
    # 386/9bootiso stands in for the El Torito no-emulation boot image mk9660 -B adds
    for iso_path, joliet, data in (("/AMD64/9PC64.;1", "/amd64/9pc64", kernel.read_bytes()),
                                   ("/CFG/PLAN9.INI;1", "/cfg/plan9.ini", plan9ini),
                                   ("/386/9BOOTISO.;1", "/386/9bootiso", b"\xf4" * 2048)):
        iso.add_fp(io.BytesIO(data), len(data), iso_path, joliet_path=joliet)
    iso.add_eltorito("/386/9BOOTISO.;1", bootcatfile="/386/BOOT.CAT;1", joliet_bootcatfile="/386/boot.cat",
                     media_name="noemul")
    iso.write(str(dest))
    iso.close()
    # a hybrid MBR in the system area, as 9front's %.pc.iso writes for 9boothyb
    with dest.open("r+b") as f:
        f.write(_mbr([(0xEF, 4, 1024, True)]))
    return dest


def _mbr(parts: list[tuple[int, int, int, bool]]) -> bytes:
    """A classic MBR: (type, start sector, sectors, active) entries, no boot code."""
    mbr = bytearray(SECTOR)
    for i, (ptype, start, size, active) in enumerate(parts):
        # CHS fields 0xfe/0xff/0xff: "use LBA", as fdisk writes for large disks
        struct.pack_into("<B3sB3sII", mbr, 446 + 16 * i, 0x80 if active else 0, b"\xfe\xff\xff",
                         ptype, b"\xfe\xff\xff", start, size)
    mbr[510:512] = b"\x55\xaa"
    return bytes(mbr)


def _mformat(image: Path, offset: int, sectors: int, label: str, *, reserved: int, fat32: bool = False) -> None:
    args = ["mformat", "-i", f"{image}@@{offset}", "-T", str(sectors), "-h", "16", "-s", "63",
            "-R", str(reserved), "-H", str(offset // SECTOR), "-v", label]
    subprocess.run([*args, *(["-F"] if fat32 else []), "::"], check=True, capture_output=True)


def _mcopy(image: Path, offset: int, files: dict[str, bytes], tmp: Path) -> None:
    for name, data in files.items():
        src = tmp / f"fatfile-{name}"
        src.write_bytes(data)
        subprocess.run(["mcopy", "-i", f"{image}@@{offset}", str(src), f"::/{name}"], check=True,
                       capture_output=True, env={"MTOOLS_SKIP_CHECK": "1", "PATH": "/usr/bin:/bin"})
        src.unlink()


def make_amd64_disk(dest: Path, kernel: Path, plan9ini: bytes, mb: int = 48, *,
                    loader: bytes | None = None) -> Path:
    """LOADER: stand-in boot code (an MBR code area and a 9bootfat), never 9front's."""
    total = mb * 2048
    p9start, fat = 2048, 20480  # 10 MiB 9fat (prep's minimum)
    p9size = total - p9start
    with dest.open("wb") as f:
        f.truncate(total * SECTOR)
        mbr = bytearray(_mbr([(0x39, p9start, p9size, True)]))
        if loader is not None:
            mbr[: len(loader[:440])] = loader[:440]
        f.write(mbr)
    _mformat(dest, p9start * SECTOR, fat, "9FAT", reserved=2)
    table = f"part 9fat 0 {fat}\npart nvram {fat} {fat + 1}\npart fs {fat + 1} {p9size}\n".encode()
    with dest.open("r+b") as f:  # the Plan 9 table: the partition's second sector (prep.c)
        f.seek((p9start + 1) * SECTOR)
        f.write(table.ljust(SECTOR, b"\0"))
    files = {"plan9.ini": plan9ini, "9pc64": kernel.read_bytes()}
    if loader is not None:
        files["9bootfat"] = loader
    _mcopy(dest, p9start * SECTOR, files, dest.parent)
    return dest


def boot_scr() -> bytes:
    # a legacy script image: a 0-terminated list of big-endian lengths, then the script
    body = struct.pack(">II", len(BOOT_TXT), 0) + BOOT_TXT
    return uimage.make_uimage(body, load=0, entry=0, name="boot.scr", os=uimage.OS_LINUX,
                              arch=uimage.ARCH_ARM64, image_type=TYPE_SCRIPT)


def make_arm64_disk(dest: Path, kernel: Path, plan9ini: bytes, mb: int = 64) -> Path:
    total = mb * 2048
    dos_start, dos_size = 8192, 40 * 2048  # 'a p1 4M 100M' scaled down; FAT32 needs ~33 MiB+
    p9start = dos_start + dos_size
    with dest.open("wb") as f:
        f.truncate(total * SECTOR)
        f.write(_mbr([(0x0C, dos_start, dos_size, True), (0x39, p9start, total - p9start, False)]))
    _mformat(dest, dos_start * SECTOR, dos_size, "DOS", reserved=32, fat32=True)
    with dest.open("r+b") as f:
        f.seek((p9start + 1) * SECTOR)
        f.write(f"part nvram 2 3\npart fs 3 {total - p9start}\n".encode().ljust(SECTOR, b"\0"))
    _mcopy(dest, dos_start * SECTOR, {"boot.scr": boot_scr(), "plan9.ini": plan9ini,
                                      "9qemu.u": kernel.read_bytes()}, dest.parent)
    return dest


def to_qcow2(raw: Path, dest: Path) -> Path:
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(dest)], check=True)
    return dest
