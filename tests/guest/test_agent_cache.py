"""The agent cache (harness.guest.build): keys, atomic store, lookup, and
copying a built agent off a real FAT build disk (mtools)."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.guest import build
from harness.guest.delivery import agent_hash, build_disk, list_disk


def _kernel(tmp_path: Path, content: bytes) -> Path:
    k = tmp_path / f"k{len(content)}"
    k.write_bytes(content)
    return k


def test_key_follows_kernel_bytes_and_agent_source(tmp_path: Path) -> None:
    a = build.agent_key("amd64", _kernel(tmp_path, b"kernel one"))
    b = build.agent_key("amd64", _kernel(tmp_path, b"kernel two!"))
    assert a.agent_sha == b.agent_sha == agent_hash()
    assert a.kernel_sha != b.kernel_sha and a.relpath != b.relpath
    assert a.relpath.parts[:2] == ("agents", "amd64") and a.relpath.name == "nhagent"
    src = tmp_path / "src"
    shutil.copytree(build.__file__.replace("build.py", "agent"), src)
    before = agent_hash(src)
    (src / "agent.c").write_text((src / "agent.c").read_text() + "\n/* edited */\n")
    assert agent_hash(src) != before  # editing agent.c means building again


def test_store_then_hit_and_empty_is_a_miss(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NINE_HARNESS_CACHE", str(tmp_path / "cache"))
    key = build.agent_key("arm64", _kernel(tmp_path, b"k"))
    assert build.cached_agent(key) is None
    binary = tmp_path / "nhagent"
    binary.write_bytes(b"\x00\x00\x8a\x97 agent bytes")
    dest = build.store_agent(key, binary, {"arch": "arm64"})
    assert dest == tmp_path / "cache" / key.relpath
    assert build.cached_agent(key) == dest and dest.read_bytes() == binary.read_bytes()
    assert dest.stat().st_mode & 0o111 and (dest.parent / "build.json").is_file()
    assert not list(dest.parent.glob("*.part"))
    dest.write_bytes(b"")
    assert build.cached_agent(key) is None


def test_resolve_uses_the_cache_without_booting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NINE_HARNESS_CACHE", str(tmp_path / "cache"))
    kernel = _kernel(tmp_path, b"not a kernel: booting it would fail")
    binary = tmp_path / "nhagent"
    binary.write_bytes(b"cached agent")
    stored = build.store_agent(build.agent_key("amd64", kernel), binary, {})
    said: list[str] = []
    assert build.resolve_agent("amd64", kernel, None, tmp_path / "w", say=said.append) == stored
    assert said and "cached" in said[0]


def test_build_commands_per_arch() -> None:
    mount, check, cmd = build.build_commands("amd64", "sdC0")
    assert "dossrv -f /dev/sdC0/data nhbuild" in mount
    assert check == "test -x /bin/6c && test -x /bin/6l"
    assert cmd.endswith("6c -FTVw agent.c && 6l -o /n/nhb/out/nhagent agent.6")
    assert "7c -FTVw" in build.build_commands("arm64", "sdF0")[2]
    with pytest.raises(UsageError):
        build.build_commands("sparc", "sdC0")


@pytest.fixture
def mtools() -> None:
    if shutil.which("mcopy") is None:
        pytest.skip("mtools missing (make sysdeps installs it)")


def test_extract_copies_what_the_guest_left(tmp_path: Path, mtools: None) -> None:
    disk = build_disk(tmp_path / "build.img", {}, None).path
    assert {"/src/agent.c", "/src/ops.h", "/src/mkfile"} <= set(list_disk(disk))  # the sources the guest compiles
    subprocess.run(["mmd", "-i", str(disk), "::/out"], check=True)
    built = tmp_path / "from-guest"
    built.write_bytes(bytes(range(256)) * 300)
    subprocess.run(["mcopy", "-i", str(disk), str(built), "::/out/nhagent"], check=True)
    got = build.extract_from_disk(disk, tmp_path / "nhagent")
    assert got.read_bytes() == built.read_bytes()


def test_extract_without_a_built_agent_is_a_build_error(tmp_path: Path, mtools: None) -> None:
    disk = build_disk(tmp_path / "build.img", {}, None).path
    with pytest.raises(build.AgentBuildError, match="left no agent"):
        build.extract_from_disk(disk, tmp_path / "nhagent")


def _arm64_aout(symbols: list[tuple[int, str, str]]) -> bytes:
    """A minimal arm64 (R_MAGIC) a.out whose symbol table holds SYMBOLS (value, type, name)."""
    from harness.model.arch import R_MAGIC

    table = b"".join(struct.pack(">Q", v) + bytes([ord(t) | 0x80]) + n.encode() + b"\0" for v, t, n in symbols)
    text, data = b"\0" * 0x100, b"\0" * 0x10
    hdr = struct.pack(">8I", R_MAGIC, len(text), len(data), 0x3000000, len(table), 0x10028, 0, 0)
    return hdr + struct.pack(">Q", 0x10028) + text + data + table


def test_arm64_agent_with_statics_beyond_7ls_reach_is_refused() -> None:
    good = _arm64_aout([(0x10028, "T", "_main"), (0x20000, "D", "setSB"), (0x20100, "b", "pool"),
                        (0x20000 + (1 << 24) - 8, "b", "errmsg")])
    build.check_agent_image("arm64", good)
    bad = _arm64_aout([(0x10028, "T", "_main"), (0x20000, "D", "setSB"), (0x20100, "b", "pool"),
                       (0x20000 + (1 << 24), "b", "errmsg")])
    with pytest.raises(UsageError, match="errmsg at 0x1020000"):
        build.check_agent_image("arm64", bad, "nhagent.7")
    build.check_agent_image("amd64", bad)  # 6l has no such limit
    with pytest.raises(UsageError, match="not a Plan 9 a.out"):
        build.check_agent_image("arm64", b"#!/bin/rc\n")
