"""Reading release media without booting: the ISO's plan9.ini and kernel (pycdlib),
the installed disk's partition tables (MBR, GPT, the Plan 9 table), and the
plan9.ini change made in a qcow2 overlay while the user's image stays as it was."""

from __future__ import annotations

import gzip
import hashlib
import struct
import uuid
from pathlib import Path

import mediautil as mu
import pytest

from harness.errors import ImageError, UsageError
from harness.qemu import diskimage, iso, media
from harness.qemu.profiles import Disk

PLAN9INI = b"bootfile=9pc64\nbootargs=local!/dev/sdC0/fs\nmouseport=ask\nconsole=1\n[menu]\nx=y\n"


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_iso_kernel_and_plan9ini(fixture_kernel, tmp_path: Path) -> None:
    k = fixture_kernel("amd64")
    image = mu.make_iso(tmp_path / "9front.amd64.iso", k)
    before = sha(image)
    boot = iso.open_release_iso(image, tmp_path / "w", tmp_path / "cache")
    assert boot.kernel.read_bytes() == k.read_bytes() and boot.kernel_path == "/amd64/9pc64"
    assert boot.iso == image and boot.bootargs == "local!/dev/sdD0/data"
    assert iso.kernel_conf(boot.plan9ini) == "console=0 cdboot=yes mouseport=ps2 monitor=vesa vgasize=text"
    assert sha(image) == before


def test_gzipped_iso_is_unpacked_once_into_the_cache(fixture_kernel, tmp_path: Path) -> None:
    plain = mu.make_iso(tmp_path / "x.iso", fixture_kernel("amd64"))
    gz = tmp_path / "9front.amd64.iso.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    boot = iso.open_release_iso(gz, tmp_path / "w", tmp_path / "cache")
    assert boot.iso.is_relative_to(tmp_path / "cache") and boot.iso.read_bytes() == plain.read_bytes()
    mtime = boot.iso.stat().st_mtime_ns
    assert iso.open_release_iso(gz, tmp_path / "w2", tmp_path / "cache").iso.stat().st_mtime_ns == mtime


def test_not_a_release_iso(fixture_kernel, tmp_path: Path) -> None:
    junk = tmp_path / "junk.iso"
    junk.write_bytes(b"\0" * 100000)
    with pytest.raises(ImageError, match="not a readable ISO 9660 image"):
        iso.open_release_iso(junk, tmp_path / "w", tmp_path / "c")
    nobootfile = mu.make_iso(tmp_path / "n.iso", fixture_kernel("amd64"), plan9ini=b"cdboot=yes\n")
    with pytest.raises(ImageError, match="names no bootfile"):
        iso.open_release_iso(nobootfile, tmp_path / "w", tmp_path / "c")
    missing = mu.make_iso(tmp_path / "m.iso", fixture_kernel("amd64"), plan9ini=b"bootfile=/amd64/9pc64.gz\n")
    with pytest.raises(ImageError, match=r"no /amd64/9pc64.gz on the ISO"):
        iso.open_release_iso(missing, tmp_path / "w", tmp_path / "c")


def test_kernel_conf_quotes_for_tokenize() -> None:
    conf = [("console", "1"), ("bootargs", "local!/dev/sdC0/fscache -c"), ("x", "it's"), ("bootfile", "k")]
    assert iso.kernel_conf(conf, extra="nh=1") == "console=0 'bootargs=local!/dev/sdC0/fscache -c' 'x=it''s' nh=1"


def test_iso_is_amd64_only(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="amd64 release ISO"):
        media.iso_medium("arm64", tmp_path / "x.iso", tmp_path, tmp_path)


@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
def test_amd64_disk_9fat_edited_in_overlay_only(fmt: str, fixture_kernel, tmp_path: Path) -> None:
    raw = mu.make_amd64_disk(tmp_path / "disk.img", fixture_kernel("amd64"), PLAN9INI)
    image = raw if fmt == "raw" else mu.to_qcow2(raw, tmp_path / "disk.qcow2")
    before = sha(image)
    prep = diskimage.prepare(image, tmp_path / "w")
    assert prep.base.format == fmt
    assert prep.fat == diskimage.FatVolume("9fat", 2048 * 512, 20480 * 512)
    assert prep.original_plan9ini == PLAN9INI.decode()
    # console=0 first, console=1 gone, the ask answered, the [menu] block left alone
    assert prep.plan9ini.splitlines() == ["console=0", "bootfile=9pc64", "bootargs=local!/dev/sdC0/fs",
                                          "mouseport=ps2", "[menu]", "x=y"]
    # read back through QEMU's block layer from the overlay: the edit is there...
    fat = tmp_path / "via-overlay.fat"
    fat.write_bytes(diskimage.read_range(prep.overlay, prep.fat.offset, prep.fat.size))
    assert diskimage.fat_read(fat, "plan9.ini") == prep.plan9ini.encode()
    assert diskimage.fat_read(fat, "9pc64") == fixture_kernel("amd64").read_bytes()
    # ...and the user's image is byte-identical, its plan9.ini the old one
    assert sha(image) == before
    orig = tmp_path / "orig.fat"
    orig.write_bytes(diskimage.read_range(prep.base, prep.fat.offset, prep.fat.size))
    assert diskimage.fat_read(orig, "plan9.ini") == PLAN9INI
    # the overlay holds only the changed blocks, not a copy of the 10 MiB 9fat
    assert prep.overlay.path.stat().st_size < 2 << 20
    assert diskimage.kernel_from_fat(prep, tmp_path / "w").read_bytes() == fixture_kernel("amd64").read_bytes()


def test_arm64_disk_dos_partition(fixture_kernel, tmp_path: Path) -> None:
    image = mu.make_arm64_disk(tmp_path / "arm.img", fixture_kernel("arm64"), b"console=0\n")
    parts = diskimage.partitions(Disk(image))
    assert [p.kind for p in parts] == [diskimage.PartKind.FAT, diskimage.PartKind.PLAN9]
    prep = diskimage.prepare(image, tmp_path / "w")
    assert prep.fat.name == "dos" and prep.plan9ini == "console=0\n"


def _gpt_disk(path: Path, fat_kernel: Path) -> Path:
    """A disk/edisk-style GPT: protective MBR, header at LBA 1, a plan9 partition."""
    mu.make_amd64_disk(path, fat_kernel, PLAN9INI)
    start, size = 2048, 48 * 2048 - 2048 - 40
    with path.open("r+b") as f:
        mbr = bytearray(512)
        struct.pack_into("<B3sB3sII", mbr, 446, 0, b"\0\2\0", 0xEE, b"\xff\xff\xff", 1, 48 * 2048 - 1)
        mbr[510:512] = b"\x55\xaa"
        f.write(mbr)
        hdr = bytearray(512)
        hdr[:8] = b"EFI PART"
        struct.pack_into("<QII", hdr, 72, 2, 128, 128)
        f.seek(512)
        f.write(hdr)
        ent = diskimage.GPT_PLAN9.bytes_le + uuid.uuid4().bytes_le + struct.pack("<QQ", start, start + size - 1)
        f.seek(1024)
        f.write(ent.ljust(128, b"\0"))
    return path


def test_gpt_plan9_partition(fixture_kernel, tmp_path: Path) -> None:
    image = _gpt_disk(tmp_path / "gpt.img", fixture_kernel("amd64"))
    assert diskimage.find_fat(Disk(image)).offset == 2048 * 512
    assert "console=0" in diskimage.prepare(image, tmp_path / "w").plan9ini


def test_not_an_installed_disk(tmp_path: Path) -> None:
    blank = tmp_path / "blank.img"
    blank.write_bytes(b"\0" * (1 << 20))
    with pytest.raises(ImageError, match="no partition table"):
        diskimage.prepare(blank, tmp_path / "w")
    only_linux = tmp_path / "linux.img"
    only_linux.write_bytes(mu._mbr([(0x83, 2048, 100, True)]).ljust(2 << 20, b"\0"))
    with pytest.raises(ImageError, match=r"no 9fat .* \(partitions: other@2048\)"):
        diskimage.prepare(only_linux, tmp_path / "w")


def test_edit_plan9ini_rules() -> None:
    text = "#comment\r\nconsole=1 9600\r\nvgasize=ask\r\nmonitor=vesa\r\n[install]\r\nbootargs=x\r\n"
    assert diskimage.edit_plan9ini(text, "nh=1").splitlines() == [
        "console=0", "nh=1", "#comment", "vgasize=text", "monitor=vesa", "[install]", "bootargs=x"]


def test_changed_runs() -> None:
    a = bytes(16384)
    b = bytearray(a)
    b[5] = 1
    b[4096 + 7] = 1
    b[12288] = 1
    assert diskimage.changed_runs(a, bytes(b)) == [(0, 8192), (12288, 4096)]
    assert diskimage.changed_runs(a, a) == []


@pytest.mark.parametrize(("args", "msg"), [
    (["--iso", "X", "--kernel", "X"], "give one of --kernel, --iso, --disk, --image (not --kernel and --iso)"),
    (["--iso", "X", "--simulate"], "not with --simulate"),
    (["--iso", "X"], "--arch is required with --iso"),
    (["--iso", "X", "--arch", "arm64"], "no arm64 release ISO|there is none for arm64"),
    (["--disk", "X", "--arch", "mips"], "amd64 or arm64 images, not mips"),
    (["--disk", "X", "--arch", "arm64", "--qemu-profile", "arm64"], "does not apply to --disk"),
    (["--kernel", "X", "--arch", "amd64", "--bootargs", "local!/dev/sdC0/fs"], "--bootargs answers"),
    (["--kernel", "X", "--arch", "amd64", "--disk-boot", "kernel"], "--disk-boot only applies"),
])
def test_media_options_bad_input(args: list[str], msg: str, tmp_path: Path, capsys) -> None:
    from harness.cli import main

    f = tmp_path / "X"
    f.write_bytes(b"x")
    argv = [str(f) if a == "X" else a for a in args]
    assert main(["run", *argv, "--results", str(tmp_path / "r"), "--syscall", "rfork"]) == 2
    err = capsys.readouterr().err
    assert any(m in err for m in msg.split("|")), err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(("args", "msg"), [(["--bootargs", "local!/dev/sdC0/fs"], "--bootargs answers"),
                                           (["--disk-boot", "kernel"], "--disk-boot only applies to --disk")])
def test_media_flags_alone_are_refused_not_a_model_run(args: list[str], msg: str, tmp_path: Path, capsys) -> None:
    """Without a medium these flags would be ignored by a model-only run: refused instead."""
    from harness.cli import main

    assert main(["run", *args, "--arch", "amd64", "--results", str(tmp_path / "r"), "--syscall", "rfork"]) == 2
    assert msg in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_runner_resolve_puts_the_checked_medium_into_the_run_config(fixture_kernel, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """--iso through harness.run.runner: the QEMU backend, the medium in RunConfig (prepared
    only by the backend's setup), no kernel yet, nothing on disk before the run."""
    from harness.qemu.mediakind import MediumKind
    from harness.run.runner import RunOptions, RunUI, resolve

    mu.need_qemu(media.get_profile("amd64"))
    image = mu.make_iso(tmp_path / "9front.amd64.iso", fixture_kernel("amd64"))
    cfg, backend, compiled = resolve(RunOptions(arch="amd64", iso=str(image), syscall="rfork",
                                                results_base=str(tmp_path / "r")), RunUI())
    assert cfg.backend == "qemu" and backend.__name__ == "QemuBackend" and compiled
    assert cfg.media is not None and cfg.media.kind is MediumKind.ISO and cfg.media.path == image
    assert cfg.medium is None and cfg.kernel is None
    assert not (tmp_path / "r").exists()


def test_manifest_disk_of_another_arch_is_refused_before_any_fetch(tmp_path: Path, capsys,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.cli import main

    monkeypatch.setenv("NINE_HARNESS_IMAGES", str(tmp_path / "m"))
    monkeypatch.setenv("NINE_HARNESS_CACHE", str(tmp_path / "cache"))
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "x.toml").write_text(
        '[[image]]\nname = "inst"\narch = "arm64"\nkind = "disk"\n'
        f'url = "{(tmp_path / "absent.img").as_uri()}"\nsha256 = "{"0" * 64}"\n')
    assert main(["run", "--image", "inst", "--arch", "amd64", "--results", str(tmp_path / "r"),
                 "--syscall", "rfork"]) == 2
    assert "image inst is for arm64, not amd64" in capsys.readouterr().err
    assert not (tmp_path / "r").exists() and not (tmp_path / "cache" / "images").exists()
