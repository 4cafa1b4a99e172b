"""The console states a release asks for (bootargs for the CD, user, screenrc's
questions), and the clear errors, on a scripted release console (no QEMU)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pexpect
import pytest

from harness.errors import ImageError
from harness.qemu.console import BootDialogue, BootState, BootTimeouts, Console, ConsoleLog
from harness.qemu.profiles import get_profile

GUEST = Path(__file__).resolve().parent / "release_guest.py"
S = BootState


@pytest.fixture
def release(tmp_path: Path) -> Iterator[Callable[..., tuple[Console, Path]]]:
    spawned: list[Console] = []

    def spawn(*flags: str) -> tuple[Console, Path]:
        record = tmp_path / "answers.txt"
        child = pexpect.spawn(sys.executable, [str(GUEST), "--record", str(record), *flags],
                              encoding="utf-8", echo=False, timeout=30)
        console = Console(child, ConsoleLog(tmp_path / "console.log"))
        spawned.append(console)
        return console, record

    yield spawn
    for c in spawned:
        c.child.close(force=True)
        c.log.close()


def test_iso_dialogue_answers_every_question(release) -> None:
    console, record = release()
    result = console.boot(get_profile("amd64"),
                          dialogue=BootDialogue(bootargs_answer="local!/dev/sdD0/data"))
    assert [s for s, _ in result.states] == [S.FIRMWARE, S.BANNER, S.BOOTARGS, S.USER, S.ASK,
                                             S.ASK, S.RC]
    assert result.bootargs_default == "local!/dev/sdD0/data"
    # bootargs, user (the default), vgasize text (no graphics: rio stays off the screen), mouseport
    assert record.read_text().splitlines() == ["local!/dev/sdD0/data", "", "text", "ps2"]
    assert console.run_command("echo hello").output == "hello\n"


def test_empty_answer_takes_the_disk_default(release) -> None:
    console, record = release("--default", "local!/dev/sdC0/fs")
    console.boot(get_profile("amd64"), dialogue=BootDialogue(bootargs_answer=""))
    assert record.read_text().splitlines()[0] == ""


def test_bootargs_asked_again_is_an_image_error_at_once(release) -> None:
    console, _ = release()
    with pytest.raises(ImageError, match="asked 'bootargs is' again after the answer 'tcp!nowhere'"):
        console.boot(get_profile("amd64"), dialogue=BootDialogue(bootargs_answer="tcp!nowhere"),
                     timeouts=BootTimeouts(scale=100))


def test_no_default_and_no_answer_is_an_image_error(release) -> None:
    console, _ = release("--default", "")
    with pytest.raises(ImageError, match="no default and no answer"):
        console.boot(get_profile("amd64"), dialogue=BootDialogue(bootargs_answer=""))
