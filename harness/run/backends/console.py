"""What every backend driven through a 9front rc console shares: the agent
command, turning console events into a GuestRun, and classifying a failed boot.

Boot failures (README, "What a failure means"), like syzkaller's BootError:
a panic, a reset, or silence once the kernel has printed its banner is the
kernel's verdict (BootCrash, boot-crash, exit 1); silence before any kernel
output, QEMU failing to start or dying by a signal, a kernel file QEMU cannot
load and host resource failures are infrastructure (InfraError, exit 3).
"""

from __future__ import annotations

import secrets

from harness.errors import BootCrash, BootTimeout, HarnessError, InfraError
from harness.qemu.console import BOOT_BEFORE_BANNER, BootState, CommandTimeout, Console, GuestPanic
from harness.run.backends import GuestRun

# The agent writes its records to standard output, i.e. the console; -k: the
# run's frame key (harness.trace.frame), so what a scenario writes there
# itself can never pass for a record.
AGENT_COMMAND = "{agent} -k {key} -d {scratch} {program}"


def new_frame_key() -> str:
    return secrets.token_hex(8)


def run_on_console(console: Console, agent: str, scratch: str, program: str, timeout: float) -> GuestRun:
    """Run one agent command; turn console events into a GuestRun."""
    key = new_frame_key()
    command = AGENT_COMMAND.format(agent=agent, key=key, scratch=scratch, program=program)
    try:
        res = console.run_command(command, timeout)
    except GuestPanic as e:
        return GuestRun(output="\n".join(e.event.lines).encode(), status=None,
                        crash=f"panic: {e.event.message}", panic_pc=e.event.pc, frame_key=key)
    except CommandTimeout as e:
        return GuestRun(output="\n".join(e.last_lines).encode(), status=None,
                        crash=f"hang: no end of command within {timeout:.0f}s", frame_key=key)
    except InfraError as e:  # console closed: the machine went away under the scenario
        if console.log.error is not None:
            raise InfraError(f"host: cannot write the console log: {console.log.error}") from e
        return GuestRun(output=b"", status=None, crash=f"machine died: {e}", frame_key=key)
    if console.log.error is not None:  # the host, not the guest: the run is not complete
        raise InfraError(f"host: cannot write the console log: {console.log.error}")
    return GuestRun(output=res.output.encode("utf-8", "replace"), status=res.status, frame_key=key)


def after_banner(state: BootState | None) -> bool:
    return state is not None and state not in BOOT_BEFORE_BANNER


def classify_boot_failure(e: HarnessError, state: BootState | None, machine_reset: bool = False) -> HarnessError:
    """The error a failed boot stands for.  STATE: the last boot state the console
    reached; MACHINE_RESET: the machine ended by itself (QEMU -no-reboot exits 0)."""
    if isinstance(e, BootCrash):
        return e
    if isinstance(e, GuestPanic):
        return BootCrash(f"the kernel panicked while booting: {e}")
    if not after_banner(state):
        return e  # nothing from the kernel yet: it never ran, QEMU or the loader is at fault
    if isinstance(e, BootTimeout):
        return BootCrash(f"the kernel went silent while booting, after its banner: {e}")
    if machine_reset:
        return BootCrash(f"the kernel reset the machine while booting, after its banner: {e}")
    return e
