"""The harness's one exception hierarchy.

Every error a user can cause ends as one line on stderr and a distinct exit
code (see ``ExitCode``).  Modelled *kernel* errors are not here: they are
``harness.model.errors.KernelError`` and are results, not failures.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0
    DIVERGED = 1  # a real difference (or a kernel crash) was found
    BAD_INPUT = 2  # the user gave us something unusable
    INFRA = 3  # QEMU missing, boot timeout, corrupt image; never a kernel verdict
    REJECTED = 3  # `harness aout`: the kernel's own rules reject the file


class HarnessError(Exception):
    """Base of every user-facing error.  ``str(e)`` is the one line we print."""

    exit_code: int = ExitCode.BAD_INPUT


class UsageError(HarnessError):
    """Bad flags or arguments."""


class InputError(HarnessError):
    """A file we were given is missing or unreadable."""


class ScenarioError(HarnessError):
    """A malformed scenario: always names the file, the line and the reason."""

    def __init__(self, path: str, line: int, reason: str) -> None:
        self.path, self.line, self.reason = path, line, reason
        super().__init__(f"{path}:{line}: {reason}")


class ProgramError(HarnessError):
    """A malformed compiled program (the line format both sides execute)."""

    def __init__(self, line: int, reason: str, source: str = "<program>") -> None:
        self.line, self.reason, self.source = line, reason, source
        super().__init__(f"{source}:{line}: {reason}")


class TraceError(HarnessError):
    """A trace file that is not a valid trace of our schema."""


class BootCrash(HarnessError):
    """The kernel under test panicked, reset the machine or went silent after its
    banner while booting: the kernel's verdict (boot-crash), never infrastructure."""

    exit_code = ExitCode.DIVERGED


class InfraError(HarnessError):
    """The test infrastructure failed; this is never a kernel regression."""

    exit_code = ExitCode.INFRA


class WriteError(InfraError):
    """The harness cannot write its own output (disk full, file size limit, read-only)."""


class QemuMissing(InfraError):
    pass


class BootTimeout(InfraError):
    """The boot dialogue stopped.  After the kernel's banner that is the kernel's
    own hang, a boot crash (harness.run.backends.console.classify_boot_failure)."""


class ImageError(InfraError):
    """A kernel or image is missing, corrupt or fails its sha256."""
