"""Legacy U-Boot image ("uImage") headers, written and read in Python.

9front's arm64 qemu kernel ships as ``9qemu.u``: a legacy uImage whose header
says OS = Plan 9, arch = AArch64, type = kernel, no compression (U-Boot prints
"AArch64 Plan 9 Kernel Image (uncompressed)").  QEMU's ``-kernel`` and U-Boot's
``bootm`` both read this header; the boot fixture for arm64 is wrapped the same
way so it goes down the same loading path.  The layout is U-Boot's
``struct legacy_img_hdr`` (include/image.h): 64 bytes, big endian, CRC32 of
the header (with its CRC field zeroed) and of the data.
"""

from __future__ import annotations

import struct
import time
import zlib
from dataclasses import dataclass

from harness.errors import ImageError

MAGIC = 0x27051956
HEADER = struct.Struct(">7I4B32s")  # magic hcrc time size load ep dcrc os arch type comp name

# Values from U-Boot's include/image.h enums.
OS_LINUX = 5
OS_PLAN9 = 23
ARCH_ARM = 2
ARCH_MIPS = 5
ARCH_ARM64 = 22
TYPE_KERNEL = 2
COMP_NONE = 0


@dataclass(frozen=True)
class UImageHeader:
    name: str
    size: int
    load: int
    entry: int
    os: int
    arch: int
    type: int
    comp: int
    time: int
    data_crc: int


def make_uimage(
    data: bytes,
    *,
    load: int,
    entry: int,
    name: str = "",
    os: int = OS_PLAN9,
    arch: int = ARCH_ARM64,
    image_type: int = TYPE_KERNEL,
    comp: int = COMP_NONE,
    timestamp: int | None = None,
) -> bytes:
    """Return ``data`` wrapped in a legacy uImage header (like ``mkimage -A arm64 -O plan9``)."""
    raw_name = name.encode()[:31]
    stamp = int(time.time()) if timestamp is None else timestamp
    dcrc = zlib.crc32(data)
    fields = [MAGIC, 0, stamp, len(data), load, entry, dcrc, os, arch, image_type, comp, raw_name]
    hcrc = zlib.crc32(HEADER.pack(*fields))
    fields[1] = hcrc
    return HEADER.pack(*fields) + data


def parse_uimage(blob: bytes) -> UImageHeader:
    """Check a uImage's magic and both CRCs; raise ImageError if it is not a valid one."""
    if len(blob) < HEADER.size:
        raise ImageError(f"uImage too short: {len(blob)} bytes")
    magic, hcrc, stamp, size, load, ep, dcrc, os_, arch, typ, comp, name = HEADER.unpack_from(blob)
    if magic != MAGIC:
        raise ImageError(f"not a uImage: magic {magic:#x}")
    zeroed = blob[:4] + b"\0\0\0\0" + blob[8 : HEADER.size]
    if zlib.crc32(zeroed) != hcrc:
        raise ImageError("uImage header checksum mismatch")
    data = blob[HEADER.size : HEADER.size + size]
    if len(data) != size or zlib.crc32(data) != dcrc:
        raise ImageError("uImage data checksum mismatch or truncated data")
    return UImageHeader(
        name=name.rstrip(b"\0").decode(errors="replace"),
        size=size,
        load=load,
        entry=ep,
        os=os_,
        arch=arch,
        type=typ,
        comp=comp,
        time=stamp,
        data_crc=dcrc,
    )
