"""The golden model: ``Machine(arch, profile, agent_image).run(program)``.

A run boots a fresh Kernel, starts the agent in it as rc would, and lets
the scheduler run every process the program makes; the agent's records
are the trace.

The agent image: Machine(agent_image=bytes) loads that a.out (helper
harness.model.aout); without it a synthetic image with text 0x18000, data
0x1800 and bss 0x2000 bytes is used (SYNTH_*), laid out by the same loader.
"""

from __future__ import annotations

import struct

from harness.model import aout, sysfile, sysproc
from harness.model.agent import Agent
from harness.model.arch import HDR_MAGIC, Arch, get_arch
from harness.model.coverage import rule
from harness.model.fs import AGENT_PATH, FileTree, ScratchServer
from harness.model.kernel import Kernel
from harness.model.portdat import Chan, ChanKind, Proc
from harness.model.proc import newproc, schedule
from harness.model.profiles import DEFAULT_PROFILE, Profile, Sw, get_profile
from harness.model.sysfile import OREAD, OWRITE
from harness.program import Program
from harness.trace.schema import Record

SYNTH_TEXT, SYNTH_DATA, SYNTH_BSS = 0x18000, 0x1800, 0x2000
HANDLER_MODULES = (sysproc, sysfile)  # importing them fills the system call table


def synthetic_agent(arch: Arch) -> bytes:
    magic = arch.magics[0]
    hdr = 40 if magic & HDR_MAGIC else 32
    entry = arch.utzero + hdr
    words = struct.pack(">8I", magic, SYNTH_TEXT, SYNTH_DATA, SYNTH_BSS, 0, entry & 0xFFFFFFFF, 0, 0)
    if magic & HDR_MAGIC:
        words += struct.pack(">Q", entry)
    return words + bytes(SYNTH_TEXT + SYNTH_DATA)


def boot(k: Kernel, img: aout.ExecImage) -> Proc:
    """The process rc starts the agent in."""
    p = newproc(k)
    # The agent is started by rc on the console and inherits its fds: 0 is
    # bootrc's "} </dev/cons" (sys/src/9/boot/bootrc:206 at e9bb7876e, 209 at
    # 027f579f4); 1 and 2 are initcode's opens of the console, "#c/cons" on
    # the seed (port/initcode.c), "/dev/cons" after e2509e765 bound #c on /dev
    # first.  It runs in a note group of its own (the agent does
    # rfork(RFNOTEG) first), so a scenario's group notes cannot reach the shell.
    initcons = "/dev/cons" if k.profile.has(Sw.BOOT_FDS_DEV_CONS) else "#c/cons"
    rule("initcode.c@e2509e765:40" if k.profile.has(Sw.BOOT_FDS_DEV_CONS) else "initcode.c:27")
    for fd, mode, name in ((0, OREAD, "/dev/cons"), (1, OWRITE, initcons), (2, OWRITE, initcons)):
        p.fgrp.fds[fd] = Chan(name, mode, kind=ChanKind.CONS)
    p.noteid = k.allocpid()
    p.argv = [AGENT_PATH]
    p.args = aout.truncate_args(p.argv)
    sysproc.newimage(k, p, img)
    return p


class Machine:
    arch: Arch
    profile: Profile
    agent: bytes
    scratch_server: ScratchServer

    def __init__(
        self,
        arch: str | Arch,
        profile: str | Profile = DEFAULT_PROFILE,
        agent_image: bytes | None = None,
        scratch_server: str = ScratchServer.PERM,
    ) -> None:
        self.scratch_server = ScratchServer(scratch_server)  # ValueError for an unknown one
        self.arch = arch if isinstance(arch, Arch) else get_arch(arch)
        self.profile = profile if isinstance(profile, Profile) else get_profile(profile)
        self.agent = agent_image if agent_image is not None else synthetic_agent(self.arch)

    def run(self, program: Program) -> list[Record]:
        k = Kernel(self.arch, self.profile, FileTree(self.scratch_server))
        k.fs.nodes[AGENT_PATH].data = bytearray(self.agent)
        img = aout.load_image(self.agent, self.arch, self.profile)
        agent = Agent(k, program)
        agent.start(boot(k, img), img)
        schedule(k, agent.over, agent.hang)
        return agent.records
