"""The QEMU command builder per profile, uImage headers, and QemuMissing."""

from __future__ import annotations

import dataclasses
import zlib
from pathlib import Path

import pytest
from qemutestutil import need_qemu

from harness.errors import ImageError, QemuMissing, UsageError
from harness.qemu import uimage
from harness.qemu.machine import Machine
from harness.qemu.profiles import (
    PROFILES,
    Disk,
    KernelLoad,
    build_command,
    check_qemu,
    conf_text,
    get_profile,
)


@pytest.fixture
def kernel(tmp_path: Path) -> Path:
    k = tmp_path / "9kernel"
    k.write_bytes(b"\0" * 64)
    return k


def opt(cmd: list[str], flag: str) -> list[str]:
    """Every value given to ``flag`` in an argv."""
    return [cmd[i + 1] for i, a in enumerate(cmd[:-1]) if a == flag]


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_common_shape(name: str, kernel: Path, tmp_path: Path) -> None:
    p = get_profile(name)
    cmd = build_command(p, kernel, workdir=tmp_path)
    assert cmd[0] == p.binary
    assert opt(cmd, "-machine") == [p.machine]
    assert opt(cmd, "-m") == [str(p.memory_mb)]
    assert opt(cmd, "-smp") == ["1"]
    for flag in ("-nographic", "-no-reboot", "-S"):
        assert flag in cmd
    assert opt(cmd, "-monitor") == ["none"]
    assert opt(cmd, "-serial") == ["chardev:ser0"]
    assert opt(cmd, "-chardev") == [
        f"socket,id=ser0,path={tmp_path / 'serial.sock'},server=on,wait=off"]
    assert opt(cmd, "-qmp") == [f"unix:{tmp_path / 'qmp.sock'},server=on,wait=off"]
    assert "-S" not in build_command(p, kernel, workdir=tmp_path, paused=False)


def test_amd64_is_multiboot_with_append(kernel: Path, tmp_path: Path) -> None:
    cmd = build_command(get_profile("amd64"), kernel, workdir=tmp_path,
                        append="console=0 *nomp=1", memory=256)
    assert opt(cmd, "-kernel") == [str(kernel)]
    assert opt(cmd, "-append") == ["console=0 *nomp=1"]
    assert opt(cmd, "-m") == ["256"]
    assert opt(cmd, "-cpu") == ["qemu64"]
    assert opt(cmd, "-nic") == ["user,model=e1000"]


def test_arm64_direct_writes_plan9ini_at_confaddr(kernel: Path, tmp_path: Path) -> None:
    p = get_profile("arm64")
    cmd = build_command(p, kernel, workdir=tmp_path, append="console=0 *maxmem=512M")
    assert opt(cmd, "-machine") == ["virt-2.12,gic-version=3"]
    assert opt(cmd, "-cpu") == ["cortex-a72"]
    assert opt(cmd, "-kernel") == [str(kernel)]
    assert "-append" not in cmd
    ini = tmp_path / "plan9.ini"
    assert f"loader,file={ini},addr=0x40010000,force-raw=on" in opt(cmd, "-device")
    assert ini.read_bytes() == b"console=0\n*maxmem=512M\n\0"


def test_arm64_uboot_places_kernel_for_bootm(kernel: Path, tmp_path: Path) -> None:
    p = get_profile("arm64-uboot")
    need_qemu(p)  # needs the U-Boot firmware installed
    cmd = build_command(p, kernel, workdir=tmp_path)
    assert opt(cmd, "-bios")[0].endswith("qemu_arm64/u-boot.bin")
    assert f"loader,file={kernel},addr=0x44000000,force-raw=on" in opt(cmd, "-device")
    assert "-kernel" not in cmd and "-append" not in cmd
    assert p.uboot is not None
    assert p.uboot.command_lines(confaddr=0x40010000, kernel_addr=0x44000000,
                                 append="console=0") == [
        "setenv confaddr 40010000; bootm 44000000 console=0"]
    with pytest.raises(UsageError):
        build_command(p, kernel, workdir=tmp_path, append="console=0; reset")


@pytest.mark.parametrize("name", ["mips", "mipsle"])
def test_malta_elf_kernel(name: str, kernel: Path, tmp_path: Path) -> None:
    p = get_profile(name)
    cmd = build_command(p, kernel, workdir=tmp_path)
    assert p.kernel_load is KernelLoad.ELF and not p.has_9front_kernel
    assert opt(cmd, "-machine") == ["malta"]
    assert opt(cmd, "-append") == ["console=0"]


def test_disks_per_bus(kernel: Path, tmp_path: Path) -> None:
    a, b = Disk(tmp_path / "a.img"), Disk(tmp_path / "b.qcow2", "qcow2", readonly=True)
    cmd = build_command(get_profile("amd64"), kernel, workdir=tmp_path, disks=[a, b])
    assert opt(cmd, "-drive") == [
        f"if=ide,index=0,media=disk,file={a.path},format=raw",
        f"if=ide,index=1,media=disk,file={b.path},format=qcow2,readonly=on"]
    assert get_profile("amd64").guest_disks[:2] == ("sdC0", "sdC1")
    cmd = build_command(get_profile("arm64"), kernel, workdir=tmp_path, disks=[a])
    assert opt(cmd, "-drive") == [f"if=none,id=disk0,file={a.path},format=raw"]
    assert "virtio-blk-pci,drive=disk0,disable-legacy=on" in opt(cmd, "-device")
    assert get_profile("arm64").guest_disks[0] == "sdF0"
    with pytest.raises(UsageError):
        build_command(get_profile("amd64"), kernel, workdir=tmp_path, disks=[a] * 5)


def test_vmstate_and_no_network(kernel: Path, tmp_path: Path) -> None:
    vm = tmp_path / "vmstate.qcow2"
    cmd = build_command(get_profile("mips"), kernel, workdir=tmp_path, vmstate=vm, net=False)
    assert f"if=none,id=vmstate,format=qcow2,file={vm}" in opt(cmd, "-drive")
    assert opt(cmd, "-nic") == ["none"]


def test_disk_boot_only_where_allowed(tmp_path: Path) -> None:
    disk = Disk(tmp_path / "9front.img")
    cmd = build_command(get_profile("amd64"), None, workdir=tmp_path, disks=[disk])
    assert opt(cmd, "-boot") == ["c"] and "-kernel" not in cmd
    with pytest.raises(UsageError):
        build_command(get_profile("arm64"), None, workdir=tmp_path, disks=[disk])
    with pytest.raises(ImageError):
        build_command(get_profile("amd64"), tmp_path / "absent", workdir=tmp_path)


def test_conf_text() -> None:
    assert conf_text("console=0 a=b") == "console=0\na=b\n"
    assert conf_text("console=0\nbootargs=local!/dev/sdF0/fs -m 64\n") == (
        "console=0\nbootargs=local!/dev/sdF0/fs -m 64\n")


def test_unknown_profile() -> None:
    with pytest.raises(UsageError, match="known: amd64"):
        get_profile("sparc")


def test_missing_qemu_binary_is_qemu_missing() -> None:
    p = dataclasses.replace(get_profile("arm64"), binary="qemu-system-nonexistent-arch")
    with pytest.raises(QemuMissing, match="apt-get install qemu-system-arm"):
        check_qemu(p)


def test_machine_start_without_qemu_is_qemu_missing(kernel: Path, tmp_path: Path) -> None:
    p = dataclasses.replace(get_profile("mips"), binary="qemu-system-nonexistent-arch")
    m = Machine(p, kernel, workdir=tmp_path / "vm")
    with pytest.raises(QemuMissing, match="apt-get install qemu-system-mips"):
        m.start()
    assert m.proc is None


@pytest.mark.qemu
@pytest.mark.parametrize("field,value", [("machine", "no-such-board"), ("cpu", "no-such-cpu")])
def test_unsupported_machine_or_cpu_is_qemu_missing(field: str, value: str) -> None:
    p = get_profile("arm64")
    need_qemu(p)
    with pytest.raises(QemuMissing, match=value):
        check_qemu(dataclasses.replace(p, **{field: value}))


def test_uimage_roundtrip_and_corruption() -> None:
    data = bytes(range(256)) * 3
    blob = uimage.make_uimage(data, load=0x40100000, entry=0x40100000, name="9qemu",
                              timestamp=1700000000)
    h = uimage.parse_uimage(blob)
    assert (h.name, h.size, h.load, h.entry) == ("9qemu", len(data), 0x40100000, 0x40100000)
    assert (h.os, h.arch, h.type, h.comp) == (uimage.OS_PLAN9, uimage.ARCH_ARM64,
                                              uimage.TYPE_KERNEL, uimage.COMP_NONE)
    assert h.data_crc == zlib.crc32(data)
    bad = bytearray(blob)
    bad[-1] ^= 1
    with pytest.raises(ImageError, match="data checksum"):
        uimage.parse_uimage(bytes(bad))
    bad = bytearray(blob)
    bad[20] ^= 1  # the load address
    with pytest.raises(ImageError, match="header checksum"):
        uimage.parse_uimage(bytes(bad))
    with pytest.raises(ImageError, match="magic"):
        uimage.parse_uimage(b"\0" * 64)
