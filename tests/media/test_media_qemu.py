"""Release-style media on real QEMU, with the boot FIXTURES (not kernels; see
harness/qemu/fixtures/README.md) inside media the tests assemble the way 9front
lays them out (mediautil): the kernel comes out of the ISO and boots with the ISO
as CD; an installed disk's plan9.ini gets console=0 in a qcow2 overlay and the
image's own loader (U-Boot + boot.scr on arm64) or -kernel boots it; the fixture
prints the boot configuration it received, so the change is seen by the guest.
The user's image is byte-identical afterwards."""

from __future__ import annotations

import hashlib
import shlex
from pathlib import Path

import mediautil as mu
import pytest

from harness.cli import main
from harness.qemu import media
from harness.qemu.console import BootState
from harness.qemu.mediakind import DiskBoot

pytestmark = [pytest.mark.qemu, pytest.mark.slow]
S = BootState


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def conf_seen(vmdir: Path) -> str:
    log = (vmdir / "console.log").read_text(errors="replace")
    return log.split("conf: ", 1)[1].split("bootargs is", 1)[0]


def test_release_iso_kernel_extracted_iso_as_cd(fixture_kernel, tmp_path: Path) -> None:
    image = mu.make_iso(tmp_path / "9front.amd64.iso", fixture_kernel("amd64"))
    before = sha(image)
    medium = media.iso_medium("amd64", image, tmp_path / "medium", tmp_path / "cache")
    mu.need_qemu(medium.profile)
    vm = medium.machine(tmp_path / "vm", [])
    try:
        vm.start()
        result = vm.boot()
        assert vm.run("echo up").output == "up\n"
    finally:
        vm.close()
    assert [s for s, _ in result.states] == [S.FIRMWARE, S.BANNER, S.BOOTARGS, S.USER, S.RC]
    # the kernel got the ISO's plan9.ini with console=0 and no 'ask' left
    assert conf_seen(tmp_path / "vm").split()[1:] == ["console=0", "cdboot=yes", "mouseport=ps2",
                                                      "monitor=vesa", "vgasize=text"]
    # bootargs answered with the CD's 9660 partition (the fixture echoes what it read)
    assert "[local!/dev/sdC0/fs] local!/dev/sdD0/data" in (tmp_path / "vm" / "console.log").read_text()
    argv = shlex.split((tmp_path / "vm" / "qemu.cmdline").read_text())
    assert f"if=ide,index=2,media=cdrom,readonly=on,format=raw,file={image}" in argv
    assert Path(argv[argv.index("-kernel") + 1]).read_bytes() == fixture_kernel("amd64").read_bytes()
    assert sha(image) == before


@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
def test_installed_arm64_disk_own_loader(fmt: str, fixture_kernel, tmp_path: Path) -> None:
    raw = mu.make_arm64_disk(tmp_path / "arm64.img", fixture_kernel("arm64"), b"console=1\nnh=installed\n")
    image = raw if fmt == "raw" else mu.to_qcow2(raw, tmp_path / "arm64.qcow2")
    before = sha(image)
    medium = media.disk_medium("arm64", image, tmp_path / "medium")
    mu.need_qemu(medium.profile)
    vm = medium.machine(tmp_path / "vm", [])
    try:
        vm.start()
        result = vm.boot()
    finally:
        vm.close()
    assert result.reached(S.UBOOT_PROMPT) and result.reached(S.RC)
    log = (tmp_path / "vm" / "console.log").read_text(errors="replace")
    assert "Found U-Boot script /boot.scr" in log  # U-Boot's distro boot ran the image's script
    assert conf_seen(tmp_path / "vm").split() == ["console=0", "nh=installed"]
    argv = (tmp_path / "vm" / "qemu.cmdline").read_text()
    assert str(image) not in argv and "medium0.qcow2" in argv  # the VM writes its own overlay
    assert sha(image) == before


@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
def test_installed_amd64_disk_kernel_from_9fat(fmt: str, fixture_kernel, tmp_path: Path) -> None:
    raw = mu.make_amd64_disk(tmp_path / "amd64.img", fixture_kernel("amd64"),
                             b"bootfile=9pc64\nbootargs=local!/dev/sdC0/fs\nconsole=1\nvgasize=ask\n")
    image = raw if fmt == "raw" else mu.to_qcow2(raw, tmp_path / "amd64.qcow2")
    before = sha(image)
    medium = media.disk_medium("amd64", image, tmp_path / "medium", how=DiskBoot.KERNEL)
    mu.need_qemu(medium.profile)
    assert medium.delivery_device == "sdC1"  # the installed disk stays sdC0, as its plan9.ini says
    vm = medium.machine(tmp_path / "vm", [])
    try:
        vm.start()
        vm.boot()
    finally:
        vm.close()
    assert conf_seen(tmp_path / "vm").split()[1:] == ["console=0", "bootargs=local!/dev/sdC0/fs",
                                                      "vgasize=text"]
    assert sha(image) == before


def test_amd64_disk_own_loader_command_line(fixture_kernel, tmp_path: Path) -> None:
    """9boot itself is 9front code and cannot be in CI: the command line boots the
    overlay as the first IDE disk with -boot c and no -kernel (run by hand on a real image)."""
    # cli; hlt: stand-in boot code (9front's mbr/pbs/9bootfat are not in CI)
    image = mu.make_amd64_disk(tmp_path / "amd64.img", fixture_kernel("amd64"), b"bootfile=9pc64\n",
                               loader=b"\xfa\xf4")
    medium = media.disk_medium("amd64", image, tmp_path / "medium")
    from harness.qemu.profiles import build_command

    argv = build_command(medium.profile, medium.kernel, workdir=tmp_path,
                         disks=medium.guest_disks(tmp_path), extra=medium.extra_args)
    assert "-kernel" not in argv and argv[argv.index("-boot") + 1] == "c"
    assert f"if=ide,index=0,media=disk,file={tmp_path / 'medium0.qcow2'},format=qcow2" in argv


def test_amd64_disk_that_bios_cannot_boot_says_so(fixture_kernel, tmp_path: Path) -> None:
    from harness.errors import ImageError

    image = mu.make_amd64_disk(tmp_path / "amd64.img", fixture_kernel("amd64"), b"bootfile=9pc64\n")
    with pytest.raises(ImageError, match="no boot code in the MBR.*--disk-boot kernel"):
        media.disk_medium("amd64", image, tmp_path / "m1")
    image = mu.make_amd64_disk(tmp_path / "amd64b.img", fixture_kernel("amd64"), b"bootfile=9pc64\n")
    with image.open("r+b") as f:
        f.write(b"\xfa\xf4")
    with pytest.raises(ImageError, match="no 9bootfat on 9fat"):
        media.disk_medium("amd64", image, tmp_path / "m2")


@pytest.mark.parametrize("via", ["--iso", "--image"])
def test_cli_run_iso_builds_the_agent_in_the_live_system(via: str, fixture_kernel, tmp_path: Path, capsys,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """`harness run --iso` (or --image NAME of a manifest entry of kind iso) end to end
    up to the in-guest build: the fixture has no compilers, so the build leaves no
    agent and the run stops as infrastructure (3), after the guest mounted the build
    disk at sdC0 (the CD being sdD0)."""
    monkeypatch.setenv("NINE_HARNESS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("NINE_HARNESS_IMAGES", str(tmp_path / "manifests"))
    image = mu.make_iso(tmp_path / "9front.amd64.iso", fixture_kernel("amd64"))
    mu.need_qemu(media.get_profile("amd64"))
    if via == "--iso":
        args = ["--arch", "amd64", "--iso", str(image)]
    else:
        assert main(["images", "add", str(image), "--name", "rel", "--arch", "amd64", "--kind", "iso",
                     "--sha256", sha(image)]) == 0
        args = ["--image", "rel"]
    rc = main(["run", *args, "--results", str(tmp_path / "res"), "--syscall", "rfork"])
    out = capsys.readouterr()
    assert rc == 3, out
    assert "boot: ISO" in out.out and "agent: building in the guest" in out.out
    assert "the guest build left no agent" in out.err
    log = next((tmp_path / "res").rglob("agent-build/console.log")).read_text()
    assert "conf: " in log and "console=0 cdboot=yes" in log
    assert "dossrv -f /dev/sdC0/data nhbuild" in log


def test_cli_run_disk_arm64_mounts_delivery_after_the_image(fixture_kernel, tmp_path: Path, capsys,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NINE_HARNESS_CACHE", str(tmp_path / "cache"))
    image = mu.make_arm64_disk(tmp_path / "arm64.img", fixture_kernel("arm64"), b"console=0\n")
    before = sha(image)
    mu.need_qemu(media.ARM64_DISK)
    rc = main(["run", "--arch", "arm64", "--disk", str(image), "--results", str(tmp_path / "res"),
               "--syscall", "rfork"])
    out = capsys.readouterr()
    assert rc == 3, out
    log = next((tmp_path / "res").rglob("agent-build/console.log")).read_text()
    assert "dossrv -f /dev/sdG0/data nhbuild" in log  # sdF0 is the installed disk
    assert sha(image) == before


def test_disk_without_boot_loader_is_an_image_error_not_a_timeout(tmp_path: Path) -> None:
    """SeaBIOS's own words end the FIRMWARE state at once (real SeaBIOS, a blank disk)."""
    from harness.errors import ImageError
    from harness.qemu.machine import Machine
    from harness.qemu.profiles import Disk, get_profile

    blank = tmp_path / "blank.img"
    blank.write_bytes(bytes(1 << 20))
    profile = get_profile("amd64")
    mu.need_qemu(profile)
    with Machine(profile, None, workdir=tmp_path / "vm", disks=[Disk(blank)], net=False) as vm, \
            pytest.raises(ImageError, match="the firmware found nothing to boot"):
        vm.boot()
