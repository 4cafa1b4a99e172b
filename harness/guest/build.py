"""The guest agent when no ``--agent`` is given: cached, or built inside a guest.

The agent must be a native 9front binary, and the model needs the very same
image (it loads its segments to know where the agent's memory lies), so the
binary has to exist on the host before any scenario runs.  Order:

1. ``--agent PATH``: used as it is.
2. The cache: ``$NINE_HARNESS_CACHE`` (default ``$XDG_CACHE_HOME/nine-harness``
   or ``~/.cache/nine-harness``), ``agents/ARCH/KERNEL-AGENT/nhagent``, keyed by
   the sha256 of the booted kernel and of the agent's sources
   (``delivery.agent_hash``), so editing agent.c or changing the kernel (its
   compilers and libc come with the image) builds again.
3. A build inside the guest: one VM boots the kernel with a FAT disk carrying
   the sources, runs ``Oc -FTVw agent.c && Ol -o /n/nh/out/nhagent agent.O``
   with the guest's own compilers (O the arch's object letter), quits, and the
   binary is copied off the disk into the cache.  A guest without compilers (a
   kernel booting only its bootfs has none) stops the run with a clear message
   before anything else boots.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.cachedir import cache_root
from harness.errors import InfraError, UsageError
from harness.guest.delivery import agent_hash, build_disk, mount_commands, need_mtool, run_mtool
from harness.model.arch import ARCHES

if TYPE_CHECKING:
    from harness.qemu.media import BootMedium

# The object letter of each arch's compiler and linker (6c/6l, 7c/7l, vc/vl).
OBJECT_LETTER = {name: a.compiler for name, a in ARCHES.items() if a.compiler}  # harness.model.arch
MOUNTPOINT = "/n/nhb"
BUILT = "out/nhagent"
BUILD_TIMEOUT = 900.0  # seconds for compile + link under emulation


class AgentBuildError(InfraError):
    """The agent could not be had: no compilers in the guest, or they failed."""


@dataclass(frozen=True)
class AgentKey:
    arch: str
    kernel_sha: str
    agent_sha: str

    @property
    def relpath(self) -> Path:
        return Path("agents") / self.arch / f"{self.kernel_sha[:16]}-{self.agent_sha[:16]}" / "nhagent"


# 7l (9front 027f579f4) reaches static data as setSB (R28) plus an offset it
# splits into a 12-bit immediate shifted by 12 and a load offset; bits above
# 24 are dropped without a word, so a static lying 16 MiB or more above setSB
# is read from the wrong address (seen: the agent faulting on nil with a
# 20 MiB pool; bss order follows the linker's symbol hash, not the source).
ARM64_SB_REACH = 1 << 24


def check_agent_image(arch: str, data: bytes, name: str = "agent") -> None:
    """Refuse an agent binary the linker broke (see ARM64_SB_REACH)."""
    if arch != "arm64":
        return
    from harness.errors import InputError
    from harness.model.symbols import DATA_TYPES, parse_aout_symbols

    try:
        table = parse_aout_symbols(data)
    except InputError as e:
        raise UsageError(f"{name}: {e}") from None
    sb = table.find("setSB")
    if sb is None:
        return  # stripped: nothing to check
    far = [s for s in table.symbols if s.type in DATA_TYPES and s.value - sb.value >= ARM64_SB_REACH]
    if far:
        worst = max(far, key=lambda s: s.value)
        raise UsageError(
            f"{name}: {len(far)} static(s) lie 16 MiB or more above setSB (e.g. {worst.name} at "
            f"{worst.value:#x}); 7l addresses them wrongly and the agent would fault: build it with a "
            f"smaller POOLSIZE (agent.c)")


def file_sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def agent_key(arch: str, kernel: Path) -> AgentKey:
    """KERNEL: the file whose bytes bring the compilers (a kernel, a release ISO, a disk image)."""
    return AgentKey(arch, file_sha256(kernel), agent_hash())


def cached_agent(key: AgentKey, root: Path | None = None) -> Path | None:
    path = (root or cache_root()) / key.relpath
    return path if path.is_file() and path.stat().st_size > 0 else None


def store_agent(key: AgentKey, binary: Path, meta: dict[str, object], root: Path | None = None) -> Path:
    """Put BINARY in the cache atomically (a crash never leaves half a binary there)."""
    dest = (root or cache_root()) / key.relpath
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".part")
    shutil.copyfile(binary, tmp)
    tmp.chmod(0o755)
    os.replace(tmp, dest)
    (dest.parent / "build.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    return dest


def build_commands(arch: str, guest_disk: str) -> tuple[list[str], str, str]:
    """(mount commands, compiler check, build command) for the guest's rc."""
    if arch not in OBJECT_LETTER:
        raise UsageError(f"no 9front compiler is known for arch {arch!r}")
    o = OBJECT_LETTER[arch]
    mount = mount_commands(guest_disk, "nhbuild", MOUNTPOINT)
    check = f"test -x /bin/{o}c && test -x /bin/{o}l"
    build = f"cd {MOUNTPOINT}/src && {o}c -FTVw agent.c && {o}l -o {MOUNTPOINT}/{BUILT} agent.{o}"
    return mount, check, build


def extract_from_disk(image: Path, dest: Path) -> Path:
    """Copy the built agent off the (raw FAT) build disk."""
    dest.unlink(missing_ok=True)
    proc = subprocess.run([need_mtool("mcopy"), "-n", "-i", str(image), f"::/{BUILT}", str(dest)], capture_output=True, text=True)
    if proc.returncode != 0 or not dest.is_file() or dest.stat().st_size == 0:
        raise AgentBuildError(f"the guest build left no agent on its disk: {proc.stderr.strip() or 'empty file'}")
    return dest


def build_in_guest(arch: str, kernel: Path, qemu_profile: str | None, workdir: Path, boot_scale: float = 1.0,
                   say: Callable[[str], None] = print, medium: BootMedium | None = None) -> Path:
    """Boot KERNEL (or MEDIUM) once, build the agent with the guest's compilers; the binary's host path."""
    from harness.qemu.console import BootTimeouts
    from harness.qemu.machine import Machine
    from harness.qemu.profiles import Disk
    from harness.qemu.profiles import get_profile as get_qemu_profile

    qprofile = medium.profile if medium is not None else get_qemu_profile(qemu_profile or arch)
    device = medium.delivery_device if medium is not None else qprofile.guest_disks[0]
    mount, check, build = build_commands(arch, device)
    disk = build_disk(workdir / "build.img", {}, None).path
    run_mtool([need_mtool("mmd"), "-i", str(disk), "::/out"])
    if medium is not None:
        machine = medium.machine(workdir, [Disk(disk, "raw")], boot_scale=boot_scale)
    else:
        machine = Machine(qprofile, kernel, workdir=workdir, disks=[Disk(disk, "raw")],
                          timeouts=BootTimeouts(scale=boot_scale))
    try:
        machine.start()
        machine.boot()
        for cmd in mount:
            res = machine.run(cmd, timeout=60)
            if not res.ok:
                raise AgentBuildError(f"build guest set-up failed: {cmd!r}: {res.output.strip()[:200]}")
        if not machine.run(check, timeout=60).ok:
            o = OBJECT_LETTER[arch]
            raise AgentBuildError(
                f"no --agent given and the guest has no compilers (/bin/{o}c, /bin/{o}l): a kernel that boots only "
                f"its bootfs carries none.  Build the agent with the 9front compilers (harness/guest/agent: mk) "
                f"and pass --agent PATH, or boot a kernel whose root has them")
        say(f"agent: building in the guest ({build})")
        t0 = time.monotonic()
        res = machine.run(build, timeout=BUILD_TIMEOUT * boot_scale)
        if not res.ok:
            raise AgentBuildError(f"building the agent in the guest failed (status {res.status!r}): "
                                  f"{res.output.strip()[-400:]}")
        say(f"agent: built in {time.monotonic() - t0:.1f}s")
    finally:
        machine.close()
    return extract_from_disk(disk, workdir / "nhagent")


def resolve_agent(arch: str, kernel: Path, qemu_profile: str | None, workdir: Path, boot_scale: float = 1.0,
                  say: Callable[[str], None] = print, medium: BootMedium | None = None) -> Path:
    """The agent for a run without --agent: from the cache, else built in the guest and cached.
    With MEDIUM (a release ISO, an installed disk) the cache key is that medium's file."""
    key = agent_key(arch, medium.identity if medium is not None else kernel)
    hit = cached_agent(key)
    if hit is not None:
        say(f"agent: cached build {hit}")
        return hit
    say(f"agent: no --agent and no cached build for this kernel and agent source; building it inside the guest "
        f"(cache: {cache_root()})")
    built = build_in_guest(arch, kernel, qemu_profile, workdir, boot_scale, say, medium)
    meta: dict[str, object] = {"arch": arch, "kernel": str(kernel), "kernel_sha256": key.kernel_sha, "agent_hash": key.agent_sha,
            "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    return store_agent(key, built, meta)
