"""Shared logic of sessions driven through a 9front rc console."""

from __future__ import annotations

from harness.errors import InfraError
from harness.qemu.console import CommandTimeout, Console, GuestPanic
from harness.run.session import GuestRun

# The agent writes its records to standard output, i.e. the console.
AGENT_COMMAND = "{agent} -d {scratch} {program}"


def run_on_console(console: Console, command: str, timeout: float) -> GuestRun:
    """Run one agent command; turn console events into a GuestRun."""
    try:
        res = console.run_command(command, timeout)
    except GuestPanic as e:
        return GuestRun(output="\n".join(e.event.lines).encode(), status=None,
                        crash=f"panic: {e.event.message}", panic_pc=e.event.pc)
    except CommandTimeout as e:
        return GuestRun(output="\n".join(e.last_lines).encode(), status=None,
                        crash=f"hang: no end of command within {timeout:.0f}s")
    except InfraError as e:  # console closed: the machine went away under the scenario
        return GuestRun(output=b"", status=None, crash=f"machine died: {e}")
    return GuestRun(output=res.output.encode("utf-8", "replace"), status=res.status)
