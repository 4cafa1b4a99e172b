"""Build the bare-metal boot *fixtures* that stand in for a 9front kernel in tests.

A fixture is not a kernel: it prints a 9front-style banner and boot prompt on
the machine's real UART and imitates a tiny part of rc (see
``harness/qemu/fixtures/README.md`` for exactly what).  It lets every QEMU
profile's real command line, serial plumbing, QMP, snapshots and kill paths be
exercised where no 9front kernel exists (CI).  Built with GNU cross binutils
(Debian: binutils-x86-64-linux-gnu, binutils-aarch64-linux-gnu,
binutils-mips-linux-gnu); the arm64 one is wrapped in a Plan 9 uImage like
``9qemu.u``.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.errors import InfraError
from harness.qemu import uimage

SOURCES = Path(__file__).resolve().parent / "fixtures"
ARM64_LOAD = 0x40100000  # where 9qemu.u is linked and loaded (U-Boot prints it)


class FixtureToolMissing(InfraError):
    """A cross assembler or linker needed to build a fixture is not installed."""


@dataclass(frozen=True)
class FixtureRecipe:
    source: str
    tool_prefix: str
    as_flags: tuple[str, ...]
    ld_flags: tuple[str, ...]
    text_addr: int
    apt_package: str
    uimage: bool = False  # wrap the raw binary in a Plan 9 AArch64 uImage


RECIPES: dict[str, FixtureRecipe] = {
    # Multiboot loads 32-bit ELF only, so the amd64 fixture is i386 code: the
    # loading path is what is under test, not 64-bit mode.
    "amd64": FixtureRecipe(
        "amd64.S", "x86_64-linux-gnu-", ("--32",), ("-m", "elf_i386"), 0x100000,
        "binutils-x86-64-linux-gnu",
    ),
    "arm64": FixtureRecipe(
        "arm64.S", "aarch64-linux-gnu-", (), (), ARM64_LOAD, "binutils-aarch64-linux-gnu",
        uimage=True,
    ),
    "mips": FixtureRecipe(
        "mips.S", "mips-linux-gnu-", ("-EB", "-march=mips32", "-mno-shared"), ("-EB",),
        0x80100000, "binutils-mips-linux-gnu",
    ),
    "mipsle": FixtureRecipe(
        "mips.S", "mips-linux-gnu-", ("-EL", "-march=mips32", "-mno-shared"), ("-EL",),
        0x80100000, "binutils-mips-linux-gnu",
    ),
}

# profile name -> fixture recipe name
FOR_PROFILE = {"amd64": "amd64", "arm64": "arm64", "arm64-uboot": "arm64", "mips": "mips",
               "mipsle": "mipsle"}


def _tool(recipe: FixtureRecipe, name: str) -> str:
    path = shutil.which(recipe.tool_prefix + name)
    if path is None:
        raise FixtureToolMissing(
            f"{recipe.tool_prefix}{name} not found: apt-get install {recipe.apt_package}"
        )
    return path


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise InfraError(f"fixture build failed: {' '.join(cmd)}: {proc.stderr.strip()}")


# Fault variants (amd64 only; README.md): name -> assembler symbols.
VARIANTS: dict[str, tuple[str, ...]] = {
    "silent": ("SILENT=1",),  # never prints: silence before any kernel output
    "boot-panic": ("BOOTPANIC=1",),  # panics right after its banner
    "boot-hang": ("BOOTHANG=1",),  # silent after its banner
    "agent-hang": ("AGENTFAULT=1",),  # the agent command (or the agent build) never returns
    "agent-panic": ("AGENTFAULT=2",),  # panics when the agent command runs
}


def build_fixture(profile_or_arch: str, outdir: Path, *, silent: bool = False, variant: str | None = None) -> Path:
    """Assemble and link the fixture for a profile (or recipe) name; return the image path.

    ``silent=True`` builds a variant that never prints (for boot-timeout tests);
    VARIANT names one of ``VARIANTS`` (the fault-injection suite's kernels).
    """
    variant = "silent" if silent else variant
    if variant is not None and variant not in VARIANTS:
        raise InfraError(f"no fixture variant {variant!r} (one of {', '.join(VARIANTS)})")
    key = FOR_PROFILE.get(profile_or_arch, profile_or_arch)
    if key not in RECIPES:
        raise InfraError(f"no boot fixture for {profile_or_arch!r}")
    recipe = RECIPES[key]
    if variant not in (None, "silent") and key != "amd64":
        raise InfraError(f"fixture variant {variant!r} exists for amd64 only")
    outdir.mkdir(parents=True, exist_ok=True)
    stem = f"fixture-{key}{'-' + variant if variant else ''}"
    obj, elf = outdir / f"{stem}.o", outdir / f"{stem}.elf"
    defs = [a for sym in (VARIANTS[variant] if variant else ()) for a in ("--defsym", sym)]
    _run([_tool(recipe, "as"), *recipe.as_flags, *defs, "-I", str(SOURCES), "-o", str(obj),
          str(SOURCES / recipe.source)])
    _run([_tool(recipe, "ld"), *recipe.ld_flags, "-N", "--no-warn-rwx-segments",
          "-Ttext", hex(recipe.text_addr), "-e", "_start", "-o", str(elf), str(obj)])
    if not recipe.uimage:
        return elf
    raw = outdir / f"{stem}.bin"
    _run([_tool(recipe, "objcopy"), "-O", "binary", str(elf), str(raw)])
    image = outdir / f"{stem}.u"
    image.write_bytes(uimage.make_uimage(
        raw.read_bytes(), load=recipe.text_addr, entry=recipe.text_addr, name=stem,
        os=uimage.OS_PLAN9, arch=uimage.ARCH_ARM64,
    ))
    return image


def fixture_symbol(image: Path, name: str) -> int:
    """Guest-physical address of a symbol of a built fixture (e.g. ``linebuf``).

    Lets tests look into guest memory (pmemsave) to see that a snapshot really
    restored the fixture's state.  MIPS KSEG0 addresses are mapped to physical.
    """
    from elftools.elf.elffile import ELFFile

    elf = image.with_suffix(".elf")
    with open(elf, "rb") as f:
        symtab = ELFFile(f).get_section_by_name(".symtab")
        syms = symtab.get_symbol_by_name(name) if symtab is not None else None  # type: ignore[attr-defined]
        if not syms:
            raise InfraError(f"{elf}: no symbol {name!r}")
        addr = int(syms[0]["st_value"])
    return addr & 0x1FFFFFFF if 0x80000000 <= addr < 0xC0000000 else addr
