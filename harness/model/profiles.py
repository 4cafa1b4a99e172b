"""Named semantic profiles of the 9front kernel (SPEC 3.4).

A profile is a set of behaviour switches.  Each switch is one observable
change made to 9front after the seed, named after what it changes and tied to
the commit that made it, so a nightly run can pick the profile matching its
kernel and a bisect can say which switch flipped.  docs/PROFILES.md has the
audit of every kernel commit between the two profiles and why each one is a
switch or invisible.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from harness.errors import UsageError


class ProfileName(StrEnum):
    SEED = "9front-2022.05"  # the seed kernel, e9bb7876e
    CURRENT = "9front-current"  # 027f579f4 and later


class Sw(StrEnum):
    """The switch names: the model asks ``profile.has(Sw.X)``."""

    SHEBANG_TOKENIZE = "shebang-tokenize"
    RFORK_CHILD_NO_NOTES = "rfork-child-no-notes"
    EXEC_STACK_UNDER_SEGLOCK = "exec-stack-under-seglock"
    NAMEC_ERROR_SUFFIX = "namec-error-suffix"
    WALK_ERROR_ENONEXIST = "walk-error-enonexist"
    BOOT_FDS_DEV_CONS = "boot-fds-dev-cons"
    NOTE_PC_AFTER_TEXT = "note-pc-after-text"
    NOTE_SHARED = "note-shared"
    PIPE_QSIZE_256K = "pipe-qsize-256k"
    MIPS_SPIM_MAGIC = "mips-spim-magic"
    SEMACQUIRE_ERRORS = "semacquire-errors"


@dataclass(frozen=True)
class Switch:
    name: Sw
    commit: str
    date: str
    summary: str


SWITCHES: dict[str, Switch] = {
    s.name: s
    for s in (
        Switch(
            Sw.SHEBANG_TOKENIZE,
            "520a39efc",
            "2022-07-25",
            "#! lines: longer limit, arguments split with tokenize (quotes honoured)",
        ),
        Switch(
            Sw.NOTE_PC_AFTER_TEXT,
            "c8e25d2a1",
            "2022-08-17",
            "a sys: note's ' pc=' suffix follows the whole text and is cut to fit ERRMAX"
            " (seed: the text is cut to ERRMAX-15 bytes first, pc64/trap.c:571)",
        ),
        Switch(
            Sw.NOTE_SHARED,
            "3e1154879",
            "2022-09-03",
            "postnotepg shares one note among the group: a sys: note another process still holds"
            " gets no ' pc=' suffix (popnote: only when ref == 1)",
        ),
        Switch(
            Sw.RFORK_CHILD_NO_NOTES,
            "91f79ce9f",
            "2022-08",
            "notes live on the heap; the child of rfork starts with no pending notes",
        ),
        Switch(
            Sw.BOOT_FDS_DEV_CONS,
            "e2509e765",
            "2022-12-12",
            "the boot environment's fds 1 and 2 are /dev/cons: initcode binds #c on /dev before opening it"
            " (seed: opened as #c/cons, port/initcode.c); fd 0 is bootrc's </dev/cons on both",
        ),
        Switch(
            Sw.EXEC_STACK_UNDER_SEGLOCK,
            "c3474e39d",
            "2022-12-04",
            "exec frees the old stack segment under seglock (not observable from user space)",
        ),
        Switch(
            Sw.NAMEC_ERROR_SUFFIX,
            "6eed7a478",
            "2023-07-29",
            "walk/open errors print the error first: \"file does not exist: '/x'\" (seed: \"'/x' file does not exist\")",
        ),
        Switch(
            Sw.WALK_ERROR_ENONEXIST,
            "6eed7a478",
            "2023-07-29",
            "a walk failing past the first name of a batch (e.g. /tmp/nh/x, /tmp a mount point) says"
            " 'file does not exist' (seed: chan.c:1065 'does not exist'); the first name's error is the server's",
        ),
        Switch(
            Sw.MIPS_SPIM_MAGIC,
            "6fe654f50",
            "2023-03-07",
            "spim (P_MAGIC, mips LE) text aligned to 16 KiB like V_MAGIC instead of the page size",
        ),
        Switch(
            Sw.PIPE_QSIZE_256K,
            "b54c61c61",
            "2024-03-16",
            "a pipe holds 256 KiB before a writer waits (seed on one CPU: 32 KiB, devpipe.c:44-48);"
            " qio's accounting changed with ad9748422 (allocation bytes): thresholds exact to a block",
        ),
        Switch(
            Sw.SEMACQUIRE_ERRORS,
            "e38d42b4a",
            "2024-01-04",
            "errors inside semacquire/tsemacquire handled (no stale queue entry)",
        ),
    )
}


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    switches: frozenset[str]

    def has(self, switch: str) -> bool:
        if switch not in SWITCHES:
            raise KeyError(f"unknown profile switch {switch!r}")
        return switch in self.switches


SEED = ProfileName.SEED
CURRENT = ProfileName.CURRENT

PROFILES: dict[str, Profile] = {
    SEED: Profile(SEED, "9front e9bb7876e (2022-05-28), the seed sysproc.c", frozenset()),
    CURRENT: Profile(
        CURRENT,
        "9front 027f579f4 (2024-03-27) and later: every known change after the seed",
        frozenset(SWITCHES),
    ),
}

DEFAULT_PROFILE = SEED


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise UsageError(f"unknown profile {name!r} (known: {', '.join(PROFILES)})") from None
