"""`harness aout FILE`: what 9front's exec would do with a file.

Exit 0: the kernel would load it (or run its #! interpreter); 3: the
kernel's own rules reject it (the errstr is printed); 2: unusable input.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import click

from harness.errors import ExitCode, InputError
from harness.model.aout import (
    ExecImage,
    build_argv,
    is_binary,
    load_image,
    parse_shebang,
)
from harness.model.arch import MAGIC_NAMES, Arch, arch_for_magic, get_arch
from harness.model.errors import KernelError
from harness.model.profiles import DEFAULT_PROFILE, Profile, get_profile


def _default_profile(arch: Arch | None) -> str:
    # The oldest kernel that has the port, as everywhere else in the harness
    # (arm64 and mipsle only exist after the seed).
    if arch is None:
        return DEFAULT_PROFILE
    from harness.run.modelrun import default_profile

    return default_profile(arch.name)


def _image_report(img: ExecImage) -> dict[str, Any]:
    return {
        "result": "loaded",
        "magic": img.magic_name,
        "magic_value": img.header.magic,
        "header_size": img.hdr_size,
        "entry": img.entry,
        "text_align": img.text_align,
        "segments": [
            {
                "name": s.name,
                "base": s.base,
                "top": s.top,
                "file_offset": s.file_offset,
                "file_length": s.file_length,
            }
            for s in img.segments
        ],
        "file_short": img.file_short,
        "commit_error": img.commit_error,
    }


def _entry_symbol(data: bytes, entry: int) -> str | None:
    from harness.model.symbols import load_symbols

    try:
        hit = load_symbols(data).lookup(entry)
    except (InputError, ValueError, struct.error):
        return None
    if hit is None:
        return None
    name, off = hit
    return name if off == 0 else f"{name}+{off:#x}"


def examine(data: bytes, path: str, arch: Arch | None, profile: Profile) -> dict[str, Any]:
    """The report as a dict; result is 'loaded', 'script' or 'rejected'."""
    rep: dict[str, Any] = {"file": path, "arch": arch.name if arch else None, "profile": profile.name}
    if len(data) >= 4:
        magic = struct.unpack(">I", data[:4])[0]
        if magic in MAGIC_NAMES:
            rep["magic"] = MAGIC_NAMES[magic]
    try:
        if arch is not None and is_binary(data, arch, profile):
            rep.update(_image_report(load_image(data, arch, profile)))
            rep["entry_symbol"] = _entry_symbol(data, rep["entry"])
            return rep
        toks = parse_shebang(data, profile)
    except KernelError as e:
        rep.update(result="rejected", error=e.errstr)
        return rep
    rep.update(
        result="script",
        interpreter=toks[0],
        shebang_args=toks[1:],
        argv=build_argv(toks, path, [path]),
    )
    return rep


def _hex(v: int | None) -> str:
    return "-" if v is None else f"{v:#x}"


def _print_text(rep: dict[str, Any]) -> None:
    click.echo(f"file:    {rep['file']}")
    click.echo(f"arch:    {rep['arch'] or '?'}    profile: {rep['profile']}")
    if rep["result"] == "rejected":
        if "magic" in rep:
            click.echo(f"magic:   {rep['magic']}")
        click.echo(f"error:   {rep['error']}")
        if rep.get("note"):
            click.echo(f"note:    {rep['note']}")
        return
    if rep["result"] == "script":
        click.echo(f"#! interpreter: {rep['interpreter']}")
        click.echo(f"#! arguments:   {json.dumps(rep['shebang_args'])}")
        click.echo(f"argv (exec FILE with argv [FILE]): {json.dumps(rep['argv'])}")
        return
    click.echo(f"magic:   {rep['magic']} ({rep['magic_value']:#x})")
    click.echo(f"header:  {rep['header_size']} bytes")
    sym = f" ({rep['entry_symbol']})" if rep.get("entry_symbol") else ""
    click.echo(f"entry:   {rep['entry']:#x}{sym}")
    click.echo(f"text alignment: {rep['text_align']:#x}")
    click.echo(f"{'segment':8} {'base':>18} {'top':>18} {'file offset':>12} {'file length':>12}")
    for s in rep["segments"]:
        click.echo(
            f"{s['name']:8} {s['base']:>#18x} {s['top']:>#18x} "
            f"{_hex(s['file_offset']):>12} {_hex(s['file_length']) if s['file_length'] else '-':>12}"
        )
    if rep["file_short"]:
        click.echo("note:    text+data reach past the end of the file: demand load will fail")
    if rep["commit_error"]:
        click.echo(f"note:    after committing, exec fails ({rep['commit_error']}): the process exits")


@click.command("aout")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--arch", help="Kernel arch (default: inferred from the magic number).")
@click.option("--profile", help="Kernel semantic profile (default: the oldest kernel with the arch's port).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def aout(file: str, arch: str | None, profile: str | None, as_json: bool) -> int:
    """What exec would do with FILE: magic, header, entry and segments, or the error.

    Exit 0 if the kernel would load it (or run its #! interpreter), 3 if the
    kernel's rules reject it, 2 for a missing file or an unknown arch.
    """
    the_arch = get_arch(arch) if arch else None
    prof = get_profile(profile) if profile else None
    try:
        data = Path(file).read_bytes()
    except OSError as e:
        raise InputError(f"{file}: {e.strerror or e}") from None
    if the_arch is None and len(data) >= 4:
        the_arch = arch_for_magic(struct.unpack(">I", data[:4])[0])
    if prof is None:
        prof = get_profile(_default_profile(the_arch))
    rep = examine(data, file, the_arch, prof)
    if rep["result"] == "rejected" and the_arch is None and not data.startswith(b"#!"):
        rep["note"] = "no known arch's kernel accepts this magic"
    if as_json:
        click.echo(json.dumps(rep, indent=2))
    else:
        _print_text(rep)
    return int(ExitCode.REJECTED) if rep["result"] == "rejected" else int(ExitCode.OK)
