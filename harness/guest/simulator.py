"""A SIMULATED 9front console, for testing the harness pipeline without a kernel.

This is not 9front.  It is a Python process that speaks the first few lines of
a 9front boot on its stdin/stdout (banner, ``bootargs is ...`` prompt, ``!rc``,
``% `` prompt), understands the handful of rc command shapes the harness
sends (``echo``, ``;``-separated lists, ``$status``, mounts that it pretends to
do), and runs the guest agent's job by executing compiled programs through the
golden model and writing framed records, exactly as the real agent would.

Faults can be injected to exercise crash handling (``--fault KIND[:SCENARIO]``):

* ``panic``   print a kernel-style ``panic:`` line with a pc and exit (as a
              -no-reboot QEMU does);
* ``hang``    stop answering (the console goes silent);
* ``flood``   interleave kernel-style prints inside the record stream;
* ``corrupt`` flip one byte inside one framed record;
* ``exit``    the "machine" disappears without a word (QEMU died);
* ``forge``   before the records, write a well-formed frame of a made-up
              record without the run's frame key, as a scenario writing a
              frame-shaped buffer to fd 1 does (it must stay console text);
* ``flaky``   panic half-way on the runs ``--run-index`` selects (harness/guest/simkernel.py);
* ``panic-at-boot``  panic after the banner, while booting;
* ``hang-at-boot``   go silent after the banner, while booting;
* ``silent-at-boot`` print nothing at all (no banner: the kernel never ran).

With ``:SCENARIO`` the fault fires only while running that scenario.
``--kernel-file FILE`` runs a SIMULATED kernel file (harness/guest/simkernel.py):
its profile and switches, and its faults.  The agent's command line is the real
one (``-k KEY -d DIR PROGRAM``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from harness.guest.simkernel import Fault, FaultKind, flaky_misbehaves
from harness.model.errors import Enonexist
from harness.model.profiles import DEFAULT_PROFILE, Profile
from harness.program import parse as parse_program
from harness.program import tokenize
from harness.trace.schema import Record, end_record

BANNER = "Plan 9\n"
SIM_NOTE = "nine-harness SIMULATED 9front console (not a kernel)\n"
BOOTARGS = "bootargs is (tcp, tls, il, local!device)[] "
PROMPT = "% "
FAULT_KINDS = tuple(k.value for k in FaultKind)
PANIC_TEXT = ("panic: fault: 0x0 pc=0xffffffff80{i:06x}\n"
              "ktrace /kernel/path 0xffffffff80110abc 0xfffffe8000a1f6e8\n"
              "cpu0: exiting\n")


class Simulator:
    def __init__(self, arch: str, profile: str | Profile, fault: str | None, delay: float,
                 faults: tuple[Fault, ...] = (), run_index: int = 0) -> None:
        self.arch = arch
        self.profile = profile
        try:
            self.faults = faults + ((Fault.parse(fault),) if fault else ())
        except ValueError as e:
            raise SystemExit(f"simulator: {e}") from None
        self.run_index = run_index
        self.delay = delay
        self.status = ""
        self.out = sys.stdout

    def say(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    def boot(self) -> None:
        kinds = {f.kind for f in self.faults}
        if FaultKind.SILENT_AT_BOOT in kinds:
            _forever()
        self.say(BANNER)
        time.sleep(self.delay)
        if FaultKind.PANIC_AT_BOOT in kinds:
            self.say("panic: simulated boot panic: no root file system\n"
                     "ktrace /kernel/path 0xffffffff80110abc\ncpu0: exiting\n")
            os._exit(0)  # as QEMU -no-reboot does after the kernel's reboot
        if FaultKind.HANG_AT_BOOT in kinds:
            _forever()
        self.say(SIM_NOTE)
        name = self.profile.name if isinstance(self.profile, Profile) else self.profile
        self.say(f"cpu0: simulated {self.arch}, profile {name}\n")
        while True:
            self.say(BOOTARGS)
            line = sys.stdin.readline()
            if not line:
                raise SystemExit(0)
            if line.strip() == "!rc":
                break
            self.say("bootargs: only !rc is simulated\n")

    def fault_for(self, scenario: str) -> str:
        """The kind of fault to inject while running SCENARIO ("" for none)."""
        for f in self.faults:
            if not f.applies(scenario):
                continue
            if f.kind is FaultKind.FLAKY:
                if flaky_misbehaves(scenario, self.run_index):
                    return FaultKind.PANIC.value
                continue
            return f.kind.value
        return ""

    def repl(self) -> None:
        while True:
            self.say(PROMPT)
            line = sys.stdin.readline()
            if not line:
                return
            for cmd in _split_commands(line):
                self.run(cmd)

    def run(self, cmd: str) -> None:
        words = tokenize(cmd.replace("$status", self.status or "''"))
        if not words:
            return
        name = words[0].rsplit("/", 1)[-1]
        if name == "echo":
            self.say(" ".join(w.replace("^", "") for w in words[1:]) + "\n")  # rc's ^ joins words
            self.status = ""
        elif name in ("dossrv", "mount", "bind", "mkdir", "cd", "rfork", "mntgen"):
            self.status = ""  # the simulator pretends; delivery is a host directory here
        elif name in ("nhagent", "nhagent.sim"):
            self.status = self.agent(words[1:])
        else:
            self.say(f"{words[0]}: '{words[0]}' {Enonexist}\n")  # rc's exec failure: the kernel's errstr
            self.status = f"{words[0]}:exec"

    def agent(self, argv: list[str]) -> str:
        """Do what the guest agent does: run the program, write framed records."""
        from harness.model.machine import Machine
        from harness.trace.frame import encode

        progfile = argv[-1] if argv else ""
        key = argv[argv.index("-k") + 1] if "-k" in argv[:-1] else ""
        try:
            program = parse_program(Path(progfile).read_text(), source=progfile)
        except (OSError, ValueError) as e:
            self.say(f"nhagent: {progfile}: {e}\n")
            return "nhagent:bad program"
        fault_kind = self.fault_for(program.scenario)
        started = time.perf_counter_ns()  # the agent's own time: from its start to its last record
        records = Machine(arch=self.arch, profile=self.profile).run(program)
        if fault_kind == "forge" and records:
            fake = records[0].to_json() | {"op": "forged", "ret": 4242}
            sys.stdout.buffer.write(encode(Record.from_json(fake)))  # no key: what a scenario can write
        for i, rec in enumerate(records):
            frame = encode(rec, key=key)
            if fault_kind and i == len(records) // 2:
                if fault_kind == "panic":
                    self.say(PANIC_TEXT.format(i=i))
                    os._exit(1)
                if fault_kind == "hang":
                    _forever()
                if fault_kind == "exit":
                    os._exit(9)
                if fault_kind == "corrupt":
                    mid = len(frame) // 2
                    frame = frame[:mid] + bytes([frame[mid] ^ 0x20]) + frame[mid + 1:]
                if fault_kind == "flood":
                    mid = len(frame) // 2
                    self.out.flush()
                    sys.stdout.buffer.write(frame[:mid] + b"\nsdE0: interrupt storm (simulated)\n" + frame[mid:])
                    sys.stdout.buffer.flush()
                    continue
            sys.stdout.buffer.write(frame)
            sys.stdout.buffer.flush()
        sys.stdout.buffer.write(encode(end_record(time.perf_counter_ns() - started), key=key))
        sys.stdout.buffer.flush()
        return ""


def _forever() -> None:
    while True:
        time.sleep(3600)


def _split_commands(line: str) -> list[str]:
    """Split an rc command line at unquoted ';'."""
    out: list[str] = []
    cur: list[str] = []
    quoted = False
    for c in line.rstrip("\n"):
        if c == "'":
            quoted = not quoted
        if c == ";" and not quoted:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(c)
    out.append("".join(cur))
    return [c.strip() for c in out if c.strip()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="SIMULATED 9front console for harness tests (not a kernel)")
    ap.add_argument("--arch", default="amd64")
    ap.add_argument("--profile", default=DEFAULT_PROFILE)
    ap.add_argument("--fault", help=f"inject a fault: KIND[:SCENARIO], KIND one of {', '.join(FAULT_KINDS)}")
    ap.add_argument("--kernel-file", help="a SIMULATED kernel file: arch, profile, switches and faults from it")
    ap.add_argument("--run-index", type=int, default=0, help="which run this is (selects a flaky fault's runs)")
    ap.add_argument("--boot-delay", type=float, default=0.05, help="seconds between banner and prompt")
    args = ap.parse_args(argv)
    if args.kernel_file:
        from harness.guest.simkernel import load

        sk = load(args.kernel_file)
        sim = Simulator(sk.arch, sk.model_profile(), args.fault, args.boot_delay, sk.faults, args.run_index)
    else:
        sim = Simulator(args.arch, args.profile, args.fault, args.boot_delay, run_index=args.run_index)
    try:
        sim.boot()
        sim.repl()
    except (BrokenPipeError, KeyboardInterrupt):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
