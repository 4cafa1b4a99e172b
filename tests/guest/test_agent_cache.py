"""The agent cache (harness.guest.build): keys, atomic store, lookup, and
copying a built agent off a real FAT build disk (mtools)."""

from __future__ import annotations

import shutil
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
    assert "/src/agent.c" in list_disk(disk)  # the sources the guest compiles
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
