"""Real QEMU, every profile's real command line, booting the boot FIXTURES (not
kernels; see harness/qemu/fixtures/README.md): state machine, framed commands,
QMP, snapshot/restore, panic, timeouts and cleanup."""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from qemutestutil import need_qemu, qemu_processes_in

from harness.errors import BootTimeout
from harness.qemu.console import BootState, BootTimeouts, GuestPanic
from harness.qemu.fixture import fixture_symbol
from harness.qemu.machine import Machine, QemuExited
from harness.qemu.profiles import PROFILES, Disk, get_profile, make_overlay

pytestmark = pytest.mark.qemu

BuildImage = Callable[..., Path]


def assert_gone(m: Machine, workdir: Path) -> None:
    assert m.proc is not None and m.proc.poll() is not None
    with pytest.raises(ProcessLookupError):
        os.killpg(m.proc.pid, 0)
    assert qemu_processes_in(workdir) == []


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_boot_command_status_kill(name: str, fixture_image: BuildImage, tmp_path: Path) -> None:
    profile = get_profile(name)
    need_qemu(profile)
    image = fixture_image(name)
    m = Machine(profile, image, workdir=tmp_path, append="console=0 nh=fixture-" + name)
    try:
        m.start()
        result = m.boot()
        assert result.reached(BootState.BANNER) and result.reached(BootState.RC)
        assert result.reached(BootState.UBOOT_PROMPT) == (profile.uboot is not None)
        assert result.bootargs_default == "local!/dev/sdC0/fs"
        log = (tmp_path / "console.log").read_text()
        # The boot configuration reached the guest by this profile's own path.
        conf = log.split("conf: ", 1)[1].split("bootargs is", 1)[0]
        assert "console=0" in conf and f"nh=fixture-{name}" in conf
        r = m.run("echo one^two $status; plain words")
        assert (r.output, r.status) == ("onetwo \nplain words\n", "")
        st = m.status()
        assert (st.status, st.running) == ("running", True)
        assert (tmp_path / "qemu.cmdline").read_text().startswith(profile.binary + " ")
    finally:
        m.kill()
    assert_gone(m, tmp_path)
    assert m.returncode == -signal.SIGKILL


@pytest.mark.parametrize("name", ["amd64", "arm64", "mips"])
def test_snapshot_restore(name: str, fixture_image: BuildImage, tmp_path: Path) -> None:
    profile = get_profile(name)
    need_qemu(profile)
    image = fixture_image(name)
    linebuf = fixture_symbol(image, "linebuf")
    with Machine(profile, image, workdir=tmp_path, snapshots=True, net=False,
                 memory=128) as m:
        m.boot()
        m.run("before snapshot")
        m.snapshot("booted")
        assert m.qmp is not None and "booted" in m.qmp.snapshots()
        m.run("after snapshot")
        dump = tmp_path / "linebuf.bin"

        def typed_line() -> bytes:
            m.qmp.pmemsave(linebuf, 256, dump)  # type: ignore[union-attr]
            return dump.read_bytes().split(b"\0")[0]

        assert typed_line().endswith(b"after snapshot; echo " + typed_line().split(b"; echo ")[-1])
        m.qmp.loadvm("booted")
        # The fixture's line buffer is back to the command typed before the snapshot.
        assert b"before snapshot" in typed_line()
        m.console.resync()  # type: ignore[union-attr]
        assert m.run("after restore").output == "after restore\n"
    assert_gone(m, tmp_path)


def test_snapshot_on_qcow2_overlay(fixture_image: BuildImage, tmp_path: Path) -> None:
    profile = get_profile("arm64")
    need_qemu(profile)
    base = tmp_path / "base.img"
    base.write_bytes(b"\0" * (1 << 20))
    overlay = make_overlay(Disk(base), tmp_path / "overlay.qcow2")
    with Machine(profile, fixture_image("arm64"), workdir=tmp_path / "vm", disks=[overlay],
                 snapshots=True, net=False, memory=128) as m:
        m.boot()
        m.snapshot("s1")
        m.run("x")
        m.restore("s1")
        assert m.run("y").output == "y\n"
        assert not (tmp_path / "vm" / "vmstate.qcow2").exists()  # state went to the overlay
        assert "virtio-blk-pci,drive=disk0,disable-legacy=on" in m.command
    assert base.read_bytes() == b"\0" * (1 << 20)


def test_panic_is_detected(fixture_image: BuildImage, tmp_path: Path) -> None:
    profile = get_profile("mipsle")
    need_qemu(profile)
    with Machine(profile, fixture_image("mipsle"), workdir=tmp_path, net=False) as m:
        m.boot()
        assert m.console is not None
        m.console.panic_grace = 1.0
        with pytest.raises(GuestPanic) as info:
            m.run("panic")
    assert info.value.event.pc == 0x80101234
    assert info.value.event.message.startswith("fixture: simulated panic")
    assert_gone(m, tmp_path)


def test_silent_guest_boot_timeout(fixture_image: BuildImage, tmp_path: Path) -> None:
    profile = get_profile("amd64")
    need_qemu(profile)
    m = Machine(profile, fixture_image("amd64", silent=True), workdir=tmp_path, net=False,
                timeouts=BootTimeouts(scale=0.05), memory=64)
    with m:
        with pytest.raises(BootTimeout, match="state FIRMWARE") as info:
            m.boot()
        # The hang report a run keeps for a silent guest: registers and memory.
        regs, core = m.hang_report(tmp_path / "hang", memory=True)
        assert "EIP=" in regs.read_text()
        with open(core, "rb") as f:
            assert f.read(4) == b"\x7fELF"
    # SeaBIOS spoke, the guest did not: the last lines are the firmware's.
    assert "Booting from ROM" in str(info.value)
    assert_gone(m, tmp_path)


def test_uboot_silent_kernel_stuck_after_bootm(fixture_image: BuildImage, tmp_path: Path) -> None:
    profile = get_profile("arm64-uboot")
    need_qemu(profile)
    m = Machine(profile, fixture_image("arm64", silent=True), workdir=tmp_path, net=False,
                timeouts=BootTimeouts(scale=0.05), memory=128)
    with m:
        with pytest.raises(BootTimeout, match="state UBOOT_PROMPT"):
            m.boot()
        (regs,) = m.hang_report(tmp_path / "hang")
        # The fixture parks in its wfe loop inside the image U-Boot copied to 0x40100000.
        assert re.search(r"PC=00000000401000", regs.read_text())
    assert_gone(m, tmp_path)


def test_qemu_failing_at_start_is_qemu_exited(tmp_path: Path) -> None:
    profile = get_profile("amd64")
    need_qemu(profile)
    junk = tmp_path / "not-a-kernel"
    junk.write_bytes(b"this is no multiboot kernel\n" * 10)
    m = Machine(profile, junk, workdir=tmp_path / "vm", net=False)
    with pytest.raises(QemuExited, match="exit status 1"):
        m.start()
    assert_gone(m, tmp_path / "vm")


def test_guest_quit_detected_as_exit(fixture_image: BuildImage, tmp_path: Path) -> None:
    profile = get_profile("arm64")
    need_qemu(profile)
    with Machine(profile, fixture_image("arm64"), workdir=tmp_path, net=False) as m:
        m.boot()
        assert m.qmp is not None
        m.qmp.quit()
        with pytest.raises(QemuExited, match="console closed"):
            m.run("anything", timeout=30)
        assert m.returncode == 0
    assert_gone(m, tmp_path)


def test_cleanup_on_keyboard_interrupt(fixture_image: BuildImage, tmp_path: Path) -> None:
    profile = get_profile("mips")
    need_qemu(profile)
    long_dir = tmp_path / ("d" * 90)  # too long for unix sockets: they go to /tmp
    m = Machine(profile, fixture_image("mips"), workdir=long_dir, net=False)
    with pytest.raises(KeyboardInterrupt), m:
        m.boot()
        raise KeyboardInterrupt
    assert_gone(m, long_dir)
    assert m._sockdir is not None and not m._sockdir.exists()
