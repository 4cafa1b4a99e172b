"""The in-guest agent build's QEMU path, on a boot FIXTURE (not a kernel): the
fixture's imitation rc answers every command with an empty status, so the
build "succeeds" without producing a binary; the harness must notice that
and cache nothing.  The real build was checked by hand (docs/STATUS.md)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from qemutestutil import need_qemu, qemu_processes_in

from harness.guest import build
from harness.qemu.profiles import get_profile

pytestmark = pytest.mark.qemu


def test_build_in_fixture_guest_reports_missing_binary(fixture_image: Callable[..., Path], tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    need_qemu(get_profile("amd64"))
    monkeypatch.setenv("NINE_HARNESS_CACHE", str(tmp_path / "cache"))
    kernel = fixture_image("amd64")
    said: list[str] = []
    with pytest.raises(build.AgentBuildError, match="left no agent"):
        build.resolve_agent("amd64", kernel, None, tmp_path / "vm", say=said.append)
    log = (tmp_path / "vm" / "console.log").read_text()
    _, check, cmd = build.build_commands("amd64", "sdC0")
    assert check in log and cmd in log  # what was typed into the guest, in order
    assert log.index(check) < log.index(cmd)
    assert any("building it inside the guest" in s for s in said)
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").rglob("nhagent"))
    assert qemu_processes_in(tmp_path / "vm") == []
