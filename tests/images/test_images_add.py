"""`harness images add` against a real HTTP server on 127.0.0.1: the digest comes
from the bytes (checked against --sha256, or shown and confirmed), the entry reads
back as a manifest, the download is cached; nothing is written when it should not be."""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from httpserver import LocalServer

from harness import images
from harness.cli import main

ISO = b"CD001 stand-in bytes of a release ISO " * 5000
SHA = hashlib.sha256(ISO).hexdigest()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    www = tmp_path / "www"
    www.mkdir()
    (www / "9front-10931.amd64.iso").write_bytes(ISO)
    s = LocalServer(www)
    yield f"{s.url}/9front-10931.amd64.iso", s.hits
    s.httpd.shutdown()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    monkeypatch.setenv("NINE_HARNESS_IMAGES", str(manifests))
    monkeypatch.setenv("NINE_HARNESS_CACHE", str(tmp_path / "cache"))
    return manifests


def test_add_url_with_the_published_digest(server, env: Path, capsys) -> None:
    url, hits = server
    assert main(["images", "add", url, "--name", "iso-10931", "--arch", "amd64", "--kind", "iso",
                 "--sha256", SHA.upper()]) == 0
    out = capsys.readouterr()
    assert f"sha256 {SHA}  {url}" in out.err and "added iso-10931 (iso, amd64" in out.out
    doc = tomllib.loads((env / "local.toml").read_text())
    assert doc["image"] == [{"name": "iso-10931", "arch": "amd64", "kind": "iso", "url": url, "sha256": SHA}]
    img = images.find_image("iso-10931")
    # the download is in the cache: using the image fetches nothing more
    assert images.fetch(img).read_bytes() == ISO and hits == ["/9front-10931.amd64.iso"]
    assert main(["images"]) == 0
    assert "iso-10931" in capsys.readouterr().out


def test_wrong_digest_writes_nothing(server, env: Path, capsys) -> None:
    url, _ = server
    assert main(["images", "add", url, "--name", "x", "--arch", "amd64", "--sha256", "0" * 64]) == 3
    assert f"has sha256 {SHA}, not the 0000" in capsys.readouterr().err
    assert not (env / "local.toml").exists()
    assert not list((Path(str(env)).parent / "cache").rglob("x*"))


def test_unconfirmed_digest_writes_nothing(server, env: Path, capsys) -> None:
    url, _ = server
    # stdin is not a terminal under pytest: the user cannot have compared it
    assert main(["images", "add", url, "--name", "x", "--arch", "amd64"]) == 2
    err = capsys.readouterr().err
    assert SHA in err and "Compare this sha256 with the one 9front publishes" in err
    assert not (env / "local.toml").exists()


def test_add_local_file_confirmed(tmp_path: Path, env: Path, capsys) -> None:
    disk = tmp_path / "9front.arm64.qcow2"
    disk.write_bytes(ISO)
    assert main(["images", "add", str(disk), "--name", "mydisk", "--arch", "arm64", "--kind", "disk",
                 "--yes", "--notes", 'installed "by hand"']) == 0
    img = images.find_image("mydisk")
    assert (img.kind, img.url, img.sha256, img.notes) == ("disk", disk.as_uri(), SHA, 'installed "by hand"')
    # a second entry is appended to the same manifest; a taken name is refused
    assert main(["images", "add", str(disk), "--name", "mydisk2", "--arch", "arm64", "--yes"]) == 0
    assert [i.name for i in images.all_images()] == ["mydisk", "mydisk2"]
    assert main(["images", "add", str(disk), "--name", "mydisk", "--arch", "arm64", "--yes"]) == 2
    assert "already in the manifests" in capsys.readouterr().err


def test_bad_input(tmp_path: Path, env: Path, capsys) -> None:
    assert main(["images", "add", str(tmp_path / "absent"), "--name", "a", "--arch", "amd64", "--yes"]) == 2
    assert main(["images", "add", "x", "--name", "bad name", "--arch", "amd64", "--yes"]) == 2
    assert main(["images", "add", "x", "--name", "a", "--arch", "amd64", "--sha256", "12"]) == 2
    (env / "k.toml").write_text('[[image]]\nname = "k"\narch = "amd64"\nkind = "floppy"\n'
                                'url = "https://e/k"\nsha256 = "' + "a" * 64 + '"\n')
    assert main(["images"]) == 2
    assert "kind 'floppy'" in capsys.readouterr().err
