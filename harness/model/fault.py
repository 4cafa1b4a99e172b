"""What the kernel does with an image the model cannot run (port/fault.c
demand loading and the arch traps): the fate of a foreign a.out."""

from __future__ import annotations

from typing import NoReturn

from harness.model.aout import ExecImage
from harness.model.arch import Arch
from harness.model.coverage import rule
from harness.model.errors import Eioload, Exit
from harness.model.segments import PC_MASK


def run_foreign(arch: Arch, img: ExecImage, data: bytes) -> NoReturn:
    """A foreign image (not the agent): nobody prints records for it, in
    the guest nor here.  The model follows it only as far as the kernel
    decides its fate without knowing its instructions:

    * each text page it executes is demand-loaded first (fault.c pio:
      min(BY2PG, flen-soff) bytes from the file at fstart+soff, flen =
      header + text); a short read kills it: faulterror pexits with
      "i/o error in demand load" (Eioload);
    * all-zero code: on arm64 the zero word is an undefined instruction,
      "sys: trap: unknown" at the entry (arm64/trap.c traps[0]); on the
      other arches zero bytes execute as no-ops (amd64/386 add %al,(%rax),
      mips sll 0, arm andeq), so the pc slides to the text top, where the
      fetch faults (fault.c fault(): instruction fetch outside a text
      segment), "sys: trap: fault read addr=TOP";
    * any other code: unknowable; the model lets it exit with status "".
    """
    pg = arch.page_size
    base, top, entry = img.text.base, img.text.top, img.entry
    flen = img.hdr_size + img.header.text
    page = entry & ~(pg - 1)
    while page < top:
        soff = page - base
        if soff >= flen:
            break  # no file bytes: zero-filled pages up to the top
        ask = min(pg, flen - soff)
        if len(data) < soff + ask:
            rule("fault.c:76")
            raise Exit(Eioload)
        code = data[max(entry, page) - base : soff + ask]
        if any(code):
            raise Exit("")
        if arch.name == "arm64":
            rule("arm64/trap.c@dd7985423:176")
            raise Exit(f"sys: trap: unknown pc={PC_MASK}")
        page += pg
    if arch.name == "arm64":
        rule("arm64/trap.c@dd7985423:176")
        raise Exit(f"sys: trap: unknown pc={PC_MASK}")
    rule("fault.c:272")
    raise Exit(f"sys: trap: fault read addr={top:#x} pc={PC_MASK}")
