"""Delivery of the agent and the compiled programs into the guest: a FAT disk.

The host builds a small FAT image with mtools (no root, no loop devices):

    /nhagent            the agent binary for the guest arch (when prebuilt)
    /src/agent.c, mkfile the agent's source, for building it inside the guest
    /p/NAME.nhp         one compiled program per scenario

9front mounts it from the ``!rc`` shell with dossrv (the bootfs carries it);
records come back framed over the console, so nothing has to be read off the
disk afterwards.  FAT keeps names short and case-insensitive; program names are
therefore numbered (``/p/0007.nhp``) and the mapping kept on the host.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import InfraError

AGENT_SOURCE_DIR = Path(__file__).resolve().parent / "agent"


@dataclass
class DeliveryDisk:
    path: Path
    programs: dict[str, str] = field(default_factory=dict)  # scenario name -> path on the disk
    has_agent: bool = False

    def guest_program_path(self, mountpoint: str, scenario: str) -> str:
        return f"{mountpoint}/{self.programs[scenario]}"


def need_mtool(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise InfraError(f"{tool} not found: install mtools (apt-get install mtools) for the FAT delivery disk")
    return path


def run_mtool(argv: list[str]) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        raise InfraError(f"{' '.join(argv[:3])}...: {proc.stderr.strip() or proc.stdout.strip()}")


def mount_commands(guest_disk: str, srv: str, mountpoint: str) -> list[str]:
    """rc commands that mount the FAT disk in slot GUEST_DISK (sdC0, sdF0) at MOUNTPOINT."""
    return [
        "bind -a '#S' /dev",  # make sure the sd devices are visible under /dev
        f"dossrv -f /dev/{guest_disk}/data {srv}",
        f"mount -c /srv/{srv} {mountpoint}",
    ]


def build_disk(dest: Path, programs: dict[str, str], agent: Path | None, size_mb: int | None = None) -> DeliveryDisk:
    """Write a FAT image at DEST holding PROGRAMS (name -> program text) and the agent.

    The size defaults to the content, doubled for FAT's clusters and the
    scratch files scenarios write, plus 16 MiB.
    """
    mformat, mcopy, mmd = need_mtool("mformat"), need_mtool("mcopy"), need_mtool("mmd")
    if size_mb is None:
        content = sum(len(t.encode()) for t in programs.values()) + (agent.stat().st_size if agent else 0)
        size_mb = 2 * content // (1 << 20) + 16
    dest.parent.mkdir(parents=True, exist_ok=True)
    with dest.open("wb") as f:
        f.truncate(size_mb * 1024 * 1024)
    run_mtool([mformat, "-i", str(dest), "-v", "NHDELIV", "::"])
    staging = dest.parent / (dest.name + ".d")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "p").mkdir(parents=True)
    disk = DeliveryDisk(dest)
    for n, (name, text) in enumerate(sorted(programs.items())):
        rel = f"p/{n:04d}.nhp"
        (staging / rel).write_text(text)
        disk.programs[name] = rel
    run_mtool([mmd, "-i", str(dest), "::/p", "::/src"])
    if programs:
        run_mtool([mcopy, "-i", str(dest), "-s", *[str(p) for p in sorted((staging / "p").iterdir())], "::/p/"])
    sources = [p for p in sorted(AGENT_SOURCE_DIR.glob("*")) if p.is_file()]
    if sources:
        run_mtool([mcopy, "-i", str(dest), *[str(p) for p in sources], "::/src/"])
    if agent is not None:
        run_mtool([mcopy, "-i", str(dest), str(agent), "::/nhagent"])
        disk.has_agent = True
    shutil.rmtree(staging, ignore_errors=True)
    return disk


def list_disk(image: Path) -> list[str]:
    """Every file on a delivery disk (for tests and `--keep` inspection)."""
    mdir = need_mtool("mdir")
    proc = subprocess.run([mdir, "-i", str(image), "-b", "-/", "::"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise InfraError(f"mdir: {proc.stderr.strip()}")
    return sorted(line.strip().removeprefix("::") for line in proc.stdout.splitlines() if line.strip())


def agent_hash(agent_source_dir: Path = AGENT_SOURCE_DIR) -> str:
    """Hash of the agent sources: the cache key for agents built inside a guest."""
    h = hashlib.sha256()
    for p in sorted(agent_source_dir.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(agent_source_dir).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:16]
