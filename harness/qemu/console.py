"""The guest's serial console: the 9front boot dialogue as a state machine, and
framed command execution in rc.

Boot states, in order (each optional state may be skipped by a given setup)::

    FIRMWARE --------------------------------> BANNER -> BOOTARGS -> [USER] -> RC
       \\-> UBOOT_AUTOBOOT -> UBOOT_PROMPT --/

- FIRMWARE: QEMU started; SeaBIOS/U-Boot may talk; we wait for the kernel.
- UBOOT_AUTOBOOT: U-Boot counts down; we send a key to stop it.
- UBOOT_PROMPT: at ``=>`` we type the profile's commands (``setenv confaddr ...;
  bootm ...``).
- BANNER: the kernel printed ``Plan 9``; it probes devices and mounts its bootfs.
- BOOTARGS: ``bootargs is (tcp, tls, il, local!device)[DEFAULT]``; we answer
  (``!rc`` by default: a shell from the kernel's bootfs).
- USER: ``user[none]:`` (asked when booting a real root); we answer.
- RC: an rc prompt ``% `` (or ``term% ``/``cpu% ``).

Each state has its own timeout (sized for TCG emulation and multiplied by a
scale factor); when it runs out, ``BootTimeout`` names the state and quotes the
last console lines.  A kernel panic seen in any state (or while a command runs)
raises ``GuestPanic`` carrying a ``PanicEvent`` (harness.report.panic parses it)
with the panic message, the PC when the kernel printed one, and the
surrounding console lines.

Commands are framed so their output is cut out exactly, whatever else the
console carries::

    echo NONCE^-begin; CMD; echo NONCE^-end $status

rc prints ``NONCE-begin`` and ``NONCE-end STATUS``; the typed (echoed) line
contains ``NONCE^-begin`` instead, so the echo can never be mistaken for a
marker.  Everything the console delivers is appended, as it arrives, to the
log file (flushed on every write).
"""

from __future__ import annotations

import collections
import contextlib
import enum
import re
import secrets
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import pexpect
import pexpect.fdpexpect

from harness.errors import BootTimeout, ExitCode, HarnessError, ImageError, InfraError, UsageError
from harness.qemu.profiles import QemuProfile
from harness.report.panic import PanicEvent, panic_event


class BootState(enum.Enum):
    FIRMWARE = "FIRMWARE"
    UBOOT_AUTOBOOT = "UBOOT_AUTOBOOT"
    UBOOT_PROMPT = "UBOOT_PROMPT"
    BANNER = "BANNER"
    BOOTARGS = "BOOTARGS"
    USER = "USER"
    RC = "RC"


# The states before the kernel has printed anything (its banner): a failure
# here says nothing about the kernel (harness.run.backends.console).
BOOT_BEFORE_BANNER = frozenset({BootState.FIRMWARE, BootState.UBOOT_AUTOBOOT, BootState.UBOOT_PROMPT})

# What each state is waiting for, for error messages.
WAITING_FOR = {
    BootState.FIRMWARE: "the kernel banner 'Plan 9' (or U-Boot)",
    BootState.UBOOT_AUTOBOOT: "the U-Boot '=>' prompt",
    BootState.UBOOT_PROMPT: "the kernel banner 'Plan 9' after bootm",
    BootState.BANNER: "the 'bootargs is' prompt",
    BootState.BOOTARGS: "an rc prompt (or 'user[...]:')",
    BootState.USER: "an rc prompt",
}

# Base timeouts in seconds.  Measured under TCG on a 2-core box (real 9front):
# banner at 0.2 s, bootargs prompt at ~5 s (amd64) / ~2 s (arm64), rc at +0.1 s,
# U-Boot prompt at 0.3 s.  The margins cover slow, loaded CI machines.
DEFAULT_TIMEOUTS: dict[BootState, float] = {
    BootState.FIRMWARE: 60.0,
    BootState.UBOOT_AUTOBOOT: 30.0,
    BootState.UBOOT_PROMPT: 60.0,
    BootState.BANNER: 180.0,
    BootState.BOOTARGS: 90.0,
    BootState.USER: 90.0,
}

PATTERNS = {
    "banner": r"Plan 9\r*\n",
    "bootargs": r"bootargs is \(([^)\r\n]*)\)\[([^\]\r\n]*)\] ?",
    "user": r"user\[([^\]\r\n]*)\]: ?",
    "rc": r"(?:\A|\n)[A-Za-z0-9_.-]*% ",
    # 9front's panic() prints "panic: MSG" at the start of a line (port/devcons.c).
    # Only a complete line counts: the console delivers text in arbitrary pieces.
    "panic": r"(?:\A|\n)panic: ([^\r\n]*)\r*\n",
}


class ConsoleClosed(InfraError):
    """The console connection ended: QEMU exited (or was killed)."""


class CommandTimeout(InfraError):
    """A framed command did not finish in time (the guest may be hung)."""

    def __init__(self, message: str, last_lines: Sequence[str]) -> None:
        self.last_lines = list(last_lines)
        super().__init__(message)


class GuestPanic(HarnessError):
    """The guest kernel panicked: a kernel verdict, never an infrastructure failure."""

    exit_code = ExitCode.DIVERGED

    def __init__(self, event: PanicEvent) -> None:
        self.event = event
        pc = f" (pc={event.pc:#x})" if event.pc is not None else ""
        super().__init__(f"kernel panic during {event.state}: {event.message}{pc}")


@dataclass
class BootTimeouts:
    """Per-state timeouts (seconds) times ``scale`` (raise it for slow hosts)."""

    scale: float = 1.0
    per_state: dict[BootState, float] = field(default_factory=lambda: dict(DEFAULT_TIMEOUTS))

    def of(self, state: BootState) -> float:
        return self.per_state[state] * self.scale


@dataclass(frozen=True)
class BootDialogue:
    bootargs_answer: str = "!rc"
    user_answer: str = ""  # empty: take the kernel's default
    # Typed before the first command (e.g. to quieten the console); may be empty.
    rc_setup: tuple[str, ...] = ()


@dataclass(frozen=True)
class BootResult:
    states: tuple[tuple[BootState, float], ...]  # state entered, seconds since boot() began
    bootargs_methods: str | None
    bootargs_default: str | None

    def reached(self, state: BootState) -> bool:
        return any(s is state for s, _ in self.states)


@dataclass(frozen=True)
class CommandResult:
    command: str
    output: str  # between the markers, CR LF turned into LF
    status: str  # rc's $status: '' means success
    nonce: str

    @property
    def ok(self) -> bool:
        return self.status == ""


class ConsoleLog:
    """File-like sink for pexpect: append to the log at once, keep the last lines."""

    def __init__(self, path: Path | None, keep: int = 200) -> None:
        self._f: TextIO | None = (
            open(path, "a", encoding="utf-8", errors="replace", newline="")  # noqa: SIM115
            if path
            else None
        )
        self._tail: collections.deque[str] = collections.deque(maxlen=keep)
        self._partial = ""
        # A log the host can no longer write (disk full, ulimit -f): the console goes
        # on (pexpect would take the error for the guest closing it), the error is kept
        # for the session to report as infrastructure.
        self.error: OSError | None = None

    def _file_op(self, op: Callable[[TextIO], object]) -> None:
        if self._f is None:
            return
        try:
            op(self._f)
        except OSError as e:
            self.error = self.error or e
            with contextlib.suppress(OSError):
                self._f.close()
            self._f = None

    def write(self, s: str) -> None:
        self._file_op(lambda f: (f.write(s), f.flush()))
        text = self._partial + s
        *done, self._partial = re.split(r"\r*\n", text)
        self._tail.extend(done)

    def flush(self) -> None:
        self._file_op(lambda f: f.flush())

    def lines(self, n: int = 20) -> list[str]:
        out = list(self._tail) + ([self._partial] if self._partial else [])
        return out[-n:]

    def close(self) -> None:
        self._file_op(lambda f: f.close())
        self._f = None


def _clean(text: str) -> str:
    return re.sub(r"\r+\n", "\n", text)


class Console:
    """A pexpect-driven guest console (a socket to QEMU's serial port, or any spawn)."""

    def __init__(self, child: pexpect.spawnbase.SpawnBase, log: ConsoleLog,
                 *, line_end: str = "\r") -> None:
        self.child = child
        self.log = log
        # 9front's console turns CR into NL (kbdcr2nl); CR is also what a terminal sends.
        self.line_end = line_end
        child.logfile_read = log
        self.on_eof: Callable[[], str] | None = None  # extra detail for ConsoleClosed
        self.panic_grace = 2.0  # seconds to keep reading after "panic:" for the dump
        self.boot_state: BootState | None = None  # the last state boot() entered

    # -- construction -----------------------------------------------------
    @classmethod
    def connect_unix(cls, path: Path, log_path: Path | None, *, deadline: float = 30.0,
                     alive: Callable[[], bool] | None = None) -> Console:
        """Connect to QEMU's serial chardev socket, retrying while QEMU creates it."""
        end = time.monotonic() + deadline
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(str(path))
                break
            except OSError as e:
                sock.close()
                if (alive is not None and not alive()) or time.monotonic() > end:
                    raise ConsoleClosed(f"cannot connect to the serial console {path}: {e}") from None
                time.sleep(0.05)
        fd = sock.detach()  # the spawn owns the descriptor from now on
        child = pexpect.fdpexpect.fdspawn(fd, encoding="utf-8", codec_errors="replace",
                                          timeout=30, maxread=65536)
        return cls(child, ConsoleLog(log_path))

    def close(self) -> None:
        with contextlib.suppress(Exception):  # the fd may already be gone
            self.child.close()
        self.log.close()

    # -- low level --------------------------------------------------------
    def send(self, text: str) -> None:
        try:
            self.child.send(text)
        except OSError as e:  # QEMU went away: EPIPE/ECONNRESET on the socket
            raise ConsoleClosed(f"console closed while sending ({e}){self._eof_detail()}") from None

    def send_line(self, text: str) -> None:
        self.send(text + self.line_end)

    def _eof_detail(self) -> str:
        return self.on_eof() if self.on_eof else ""

    def last_lines(self, n: int = 20) -> list[str]:
        return self.log.lines(n)

    def _expect(self, patterns: dict[str, str], timeout: float, where: str) -> tuple[str, Any]:
        """Wait for one of ``patterns`` (name -> regex) or a panic.  Returns (name, match)."""
        names = list(patterns)
        compiled = [*patterns.values(), PATTERNS["panic"], pexpect.EOF, pexpect.TIMEOUT]
        try:
            i = self.child.expect(compiled, timeout=max(timeout, 0.01))
        except OSError:  # ECONNRESET reads like EOF: the other end is gone
            i = len(names) + 1
        if i < len(names):
            return names[i], self.child.match
        if i == len(names):
            self._raise_panic(self.child.match.group(1), where)
        if i == len(names) + 1:
            raise ConsoleClosed(f"console closed during {where}{self._eof_detail()}; last lines: "
                                f"{self._tail_text()}")
        return "timeout", None

    def _tail_text(self, n: int = 5) -> str:
        return " | ".join(line.strip() for line in self.last_lines(n) if line.strip()) or "(none)"

    def _raise_panic(self, message: str, where: str) -> None:
        # Keep reading (until quiet, EOF or the grace time) for the dumpstack and
        # ktrace lines that follow the panic line, then split the log around it.
        end = time.monotonic() + self.panic_grace
        while time.monotonic() < end:
            if self._poll([pexpect.TIMEOUT, pexpect.EOF, r"[\s\S]+"], 0.5) != 2:
                break
        raise GuestPanic(panic_event(self.log.lines(80), message, where))  # parsing: harness.report.panic

    def _poll(self, patterns: list[Any], timeout: float) -> int:
        """expect() that reports a reset connection as -1 instead of raising."""
        try:
            return int(self.child.expect(patterns, timeout=timeout))
        except OSError:
            return -1

    def drain(self, quiet: float = 0.2) -> None:
        """Read and discard what the guest has already sent (e.g. after loadvm)."""
        while self._poll([pexpect.TIMEOUT, pexpect.EOF, r"[\s\S]+"], quiet) == 2:
            pass

    # -- the boot dialogue ------------------------------------------------
    def boot(self, profile: QemuProfile, *, dialogue: BootDialogue | None = None,
             timeouts: BootTimeouts | None = None, append: str = "console=0") -> BootResult:
        """Drive the console from power-on to an rc prompt."""
        dialogue = dialogue or BootDialogue()
        timeouts = timeouts or BootTimeouts()
        t0 = time.monotonic()
        state = self.boot_state = BootState.FIRMWARE
        visited: list[tuple[BootState, float]] = [(state, 0.0)]
        methods = default = None
        uboot = profile.uboot
        while state is not BootState.RC:
            wait: dict[str, str]
            if state is BootState.FIRMWARE:
                wait = {"banner": PATTERNS["banner"]}
                if uboot is not None:
                    wait |= {"autoboot": uboot.autoboot, "uprompt": uboot.prompt}
            elif state is BootState.UBOOT_AUTOBOOT:
                assert uboot is not None
                self.send(uboot.stop_key)
                wait = {"uprompt": uboot.prompt}
            elif state is BootState.UBOOT_PROMPT:
                assert uboot is not None and profile.conf_addr is not None
                assert profile.kernel_addr is not None
                lines = uboot.command_lines(confaddr=profile.conf_addr,
                                            kernel_addr=profile.kernel_addr, append=append)
                for n, line in enumerate(lines):
                    self.send_line(line)
                    if n < len(lines) - 1:
                        self._expect({"uprompt": uboot.prompt}, timeouts.of(state), state.value)
                wait = {"banner": PATTERNS["banner"], "uerror": uboot.errors}
            elif state is BootState.BANNER:
                wait = {"bootargs": PATTERNS["bootargs"], "user": PATTERNS["user"],
                        "rc": PATTERNS["rc"]}
            elif state is BootState.BOOTARGS:
                self.send_line(dialogue.bootargs_answer)
                wait = {"user": PATTERNS["user"], "rc": PATTERNS["rc"]}
            else:  # USER
                self.send_line(dialogue.user_answer)
                wait = {"rc": PATTERNS["rc"]}
            name, match = self._expect(wait, timeouts.of(state), state.value)
            if name == "timeout":
                raise BootTimeout(
                    f"boot stuck in state {state.value} for {timeouts.of(state):.0f}s, waiting "
                    f"for {WAITING_FOR[state]}; last console lines: {self._tail_text()}")
            if name == "uerror":
                raise ImageError(f"U-Boot could not boot the kernel: {match.group(0)}; "
                                 f"last console lines: {self._tail_text()}")
            if name == "bootargs":
                methods, default = match.group(1), match.group(2)
            state = {
                "banner": BootState.BANNER, "autoboot": BootState.UBOOT_AUTOBOOT,
                "uprompt": BootState.UBOOT_PROMPT, "bootargs": BootState.BOOTARGS,
                "user": BootState.USER, "rc": BootState.RC,
            }[name]
            self.boot_state = state
            visited.append((state, time.monotonic() - t0))
        for line in dialogue.rc_setup:
            self.run_command(line)
        return BootResult(states=tuple(visited), bootargs_methods=methods,
                          bootargs_default=default)

    # -- commands ---------------------------------------------------------
    def run_command(self, cmd: str, timeout: float = 60.0) -> CommandResult:
        """Run one rc command line at the prompt; return its output and $status."""
        if "\n" in cmd or "\r" in cmd:
            raise UsageError("a console command must be a single line")
        nonce = "nh" + secrets.token_hex(6)
        self.send_line(f"echo {nonce}^-begin; {cmd}; echo {nonce}^-end $status")
        end = time.monotonic() + timeout
        begin = re.escape(nonce) + r"-begin\r*\n"
        # The end marker may follow output that did not end its last line.
        finish = re.escape(nonce) + r"-end ?([^\r\n]*?) *\r*\n"
        name, _ = self._expect({"begin": begin}, end - time.monotonic(), "command")
        if name == "timeout":
            raise CommandTimeout(f"command did not start within {timeout:.0f}s: {cmd!r}; "
                                 f"last console lines: {self._tail_text()}", self.last_lines())
        name, match = self._expect({"end": finish}, end - time.monotonic(), "command")
        if name == "timeout":
            raise CommandTimeout(f"command did not finish within {timeout:.0f}s: {cmd!r}; "
                                 f"last console lines: {self._tail_text()}", self.last_lines())
        output = _clean(str(self.child.before))
        status = match.group(1)
        # Consume the prompt that follows, so the next command starts clean; a
        # missing prompt is not an error (the markers alone delimit the output).
        self._poll([PATTERNS["rc"], pexpect.TIMEOUT, pexpect.EOF], 2.0)
        return CommandResult(command=cmd, output=output, status=status, nonce=nonce)

    def resync(self, timeout: float = 30.0) -> None:
        """Get back to a fresh rc prompt (after restoring a snapshot)."""
        self.drain()
        self.send_line("")
        name, _ = self._expect({"rc": PATTERNS["rc"]}, timeout, "resync")
        if name == "timeout":
            raise CommandTimeout(f"no rc prompt within {timeout:.0f}s after resync; last "
                                 f"console lines: {self._tail_text()}", self.last_lines())
