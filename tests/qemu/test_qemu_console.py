"""The console state machine and command framing, on scripted guests that replay
the real boot transcripts (no QEMU needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import BootTimeout, ImageError
from harness.qemu.console import (
    BootState,
    BootTimeouts,
    CommandTimeout,
    ConsoleClosed,
    ConsoleLog,
    GuestPanic,
)
from harness.qemu.profiles import get_profile
from harness.report.panic import parse_panic_pc

S = BootState


def test_amd64_real_transcript_reaches_rc(scripted) -> None:
    console, record = scripted("amd64-multiboot.boot.txt")
    result = console.boot(get_profile("amd64"))
    assert [s for s, _ in result.states] == [S.FIRMWARE, S.BANNER, S.BOOTARGS, S.RC]
    assert result.bootargs_methods == "tcp, tls, il, local!device"
    assert result.bootargs_default == ""
    assert record.read_text() == "!rc\n"


def test_arm64_direct_real_transcript_reaches_rc(scripted) -> None:
    console, record = scripted("arm64-direct.boot.txt")
    result = console.boot(get_profile("arm64"))
    assert [s for s, _ in result.states] == [S.FIRMWARE, S.BANNER, S.BOOTARGS, S.RC]


def test_arm64_uboot_dialogue_from_profile(scripted) -> None:
    console, record = scripted("arm64-uboot.boot.txt")
    result = console.boot(get_profile("arm64-uboot"), append="console=0")
    assert [s for s, _ in result.states] == [
        S.FIRMWARE, S.UBOOT_AUTOBOOT, S.UBOOT_PROMPT, S.BANNER, S.BOOTARGS, S.RC]
    # Exactly the command line typed in the real U-Boot session.
    assert record.read_text().splitlines() == [
        "setenv confaddr 40010000; bootm 44000000 console=0", "!rc"]


def test_uboot_refusing_the_image_is_an_image_error(scripted) -> None:
    console, _ = scripted("arm64-uboot.boot.txt", "--bad-uboot")
    with pytest.raises(ImageError, match="Wrong Image Format"):
        console.boot(get_profile("arm64-uboot"))


def test_silent_guest_times_out_naming_the_state(scripted) -> None:
    console, _ = scripted("amd64-multiboot.boot.txt", "--silent")
    with pytest.raises(BootTimeout, match="state FIRMWARE") as info:
        console.boot(get_profile("amd64"), timeouts=BootTimeouts(scale=0.02))
    assert "Plan 9" in str(info.value)  # says what it was waiting for


def test_command_framing_extracts_output_and_status(scripted) -> None:
    console, _ = scripted("arm64-direct.boot.txt")
    console.boot(get_profile("arm64"))
    r = console.run_command("echo hello^world $status")
    assert (r.output, r.status, r.ok) == ("helloworld \n", "", True)
    r = console.run_command("fail")
    assert (r.output, r.status, r.ok) == ("", "fail 42: failed", False)
    r = console.run_command("kprint")
    # A kernel print inside the output stays inside it; the markers still frame it.
    assert r.output.splitlines()[0] == "first"
    assert r.output.splitlines()[-1] == "second"
    r = console.run_command("partial")
    assert (r.output, r.status) == ("no newline", "")
    # The echoed command line (NONCE^-begin) never counts as a marker.
    r = console.run_command("echo a; echo b")
    assert r.output == "a\nb\n"


def test_command_timeout(scripted) -> None:
    console, _ = scripted("arm64-direct.boot.txt")
    console.boot(get_profile("arm64"))
    with pytest.raises(CommandTimeout, match="did not finish"):
        console.run_command("hang", timeout=1.0)


def test_panic_during_command_is_a_typed_event(scripted) -> None:
    console, _ = scripted("amd64-multiboot.boot.txt")
    console.boot(get_profile("amd64"))
    with pytest.raises(GuestPanic) as info:
        console.run_command("panic")
    event = info.value.event
    assert event.message == "fault: 0x0"
    assert event.pc == 0xFFFFFFFF80117B2C  # from the dumpstack ktrace line
    assert event.state == "command"
    assert any(line.startswith("ktrace ") for line in event.lines)
    assert info.value.exit_code == 1  # a kernel verdict, not an infra failure


def test_guest_exit_is_console_closed(scripted) -> None:
    console, _ = scripted("amd64-multiboot.boot.txt")
    console.boot(get_profile("amd64"))
    console.child.sendeof()
    with pytest.raises(ConsoleClosed):
        console.run_command("anything", timeout=10)


def test_console_log_is_written_as_it_arrives(tmp_path: Path, scripted) -> None:
    console, _ = scripted("amd64-multiboot.boot.txt")
    console.boot(get_profile("amd64"))
    log = (tmp_path / "console.log").read_text()
    assert "Plan 9" in log and "bootargs is" in log
    assert console.last_lines(1)[-1].endswith("% ")


def test_panic_pc_sources() -> None:
    assert parse_panic_pc("kernel fault pc=0x1234 addr=0", [], []) == 0x1234
    assert parse_panic_pc("x", ["ktrace /k 0000abcd 0000ff00 <<EOF"], []) == 0xABCD
    assert parse_panic_pc("x", [], ["trap: pc=0x42 sp=0x8", "other"]) == 0x42
    assert parse_panic_pc("x", [], []) is None


def test_console_log_tail(tmp_path: Path) -> None:
    log = ConsoleLog(tmp_path / "c.log", keep=3)
    for chunk in ["a\r\nb", "c\r\r\n", "d\ne\nf"]:
        log.write(chunk)
    # Three complete lines kept, plus the unfinished one.
    assert log.lines(10) == ["bc", "d", "e", "f"]
    assert log.lines(2) == ["e", "f"]
    log.close()
    assert (tmp_path / "c.log").read_bytes() == b"a\r\nbc\r\r\nd\ne\nf"
