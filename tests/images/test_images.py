"""Kernel manifests (harness.images) against a real HTTP server on localhost:
fetch, the sha256 check, the cache, .gz unpacking, and the CLI."""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from httpserver import LocalServer

from harness import images
from harness.cli import main
from harness.errors import ImageError, InputError, UsageError

KERNEL = b"\x00\x00\x8a\x97 not a kernel, but bytes with a known digest" * 1000


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LocalServer]:
    www = tmp_path / "www"
    www.mkdir()
    (www / "9pc64").write_bytes(KERNEL)
    (www / "9pc64.gz").write_bytes(gzip.compress(KERNEL))
    s = LocalServer(www)
    yield s
    s.httpd.shutdown()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    monkeypatch.setenv("NINE_HARNESS_IMAGES", str(manifests))
    monkeypatch.setenv("NINE_HARNESS_CACHE", str(tmp_path / "cache"))
    return manifests


def _manifest(d: Path, url: str, sha: str, name: str = "k1", extra: str = "") -> None:
    (d / f"{name}.toml").write_text(
        f'[[image]]\nname = "{name}"\narch = "amd64"\nurl = "{url}"\nsha256 = "{sha}"\n{extra}')


def test_fetch_checks_then_caches(server: LocalServer, env: Path) -> None:
    _manifest(env, f"{server.url}/9pc64", hashlib.sha256(KERNEL).hexdigest(), extra='profile = "9front-current"\n')
    img = images.find_image("k1")
    assert img.profile == "9front-current" and img.manifest.parent == env
    path = images.fetch(img)
    assert path.read_bytes() == KERNEL and path == images.cached_path(img)
    assert images.fetch(img) == path
    assert server.hits == ["/9pc64"]  # the second fetch used the cache


def test_wrong_digest_keeps_nothing(server: LocalServer, env: Path) -> None:
    _manifest(env, f"{server.url}/9pc64", "0" * 64)
    img = images.find_image("k1")
    with pytest.raises(ImageError, match="the manifest says 0000"):
        images.fetch(img)
    # no partial or wrong file left, not even the image's directory
    assert not images.cached_path(img).parent.exists()
    assert list(images.cached_path(img).parent.parent.iterdir()) == []


def test_a_failed_unpack_leaves_no_debris(server: LocalServer, env: Path) -> None:
    bad = b"\x1f\x8b not gzip after all"
    (server.root / "bad.gz").write_bytes(bad)
    _manifest(env, f"{server.url}/bad.gz", hashlib.sha256(bad).hexdigest())
    img = images.find_image("k1")
    with pytest.raises(ImageError, match="cannot store"):
        images.fetch(img)
    assert list(images.cached_path(img).parent.parent.iterdir()) == []  # no empty dir, no 0-byte .unpacked


def test_listing_says_corrupt_for_a_tampered_copy(server: LocalServer, env: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    _manifest(env, f"{server.url}/9pc64", hashlib.sha256(KERNEL).hexdigest())
    img = images.find_image("k1")
    assert images.cache_state(img) == "not fetched"
    path = images.fetch(img)
    assert images.cache_state(img) == "cached"
    path.write_bytes(KERNEL[:-1] + b"!")
    assert images.cache_state(img) == "corrupt"
    assert main(["images"]) == 0
    assert "corrupt" in capsys.readouterr().out


def test_cached_copy_that_changed_is_refused(server: LocalServer, env: Path) -> None:
    _manifest(env, f"{server.url}/9pc64", hashlib.sha256(KERNEL).hexdigest())
    img = images.find_image("k1")
    path = images.fetch(img)
    path.write_bytes(KERNEL + b"tampered")
    with pytest.raises(ImageError, match="delete"):
        images.fetch(img)


def test_gz_is_checked_then_unpacked(server: LocalServer, env: Path) -> None:
    packed = (server.root / "9pc64.gz").read_bytes()
    _manifest(env, f"{server.url}/9pc64.gz", hashlib.sha256(packed).hexdigest())
    img = images.find_image("k1")
    path = images.fetch(img)
    assert path.read_bytes() == KERNEL
    assert images.fetch(img) == path and server.hits == ["/9pc64.gz"]
    path.write_bytes(b"changed")
    with pytest.raises(ImageError):
        images.fetch(img)


def test_unreachable_url_is_an_image_error(env: Path, tmp_path: Path) -> None:
    _manifest(env, (tmp_path / "absent").as_uri(), "1" * 64)
    with pytest.raises(ImageError, match="cannot download"):
        images.fetch(images.find_image("k1"))


@pytest.mark.parametrize(("body", "msg"), [
    ('[[image]]\nname = "x"\narch = "amd64"\nurl = "https://e/x"\n', "missing sha256"),
    ('[[image]]\nname = "x"\narch = "sparc"\nurl = "https://e/x"\nsha256 = "' + "a" * 64 + '"\n', "arch 'sparc'"),
    ('[[image]]\nname = "x"\narch = "amd64"\nurl = "ftp://e/x"\nsha256 = "' + "a" * 64 + '"\n', "url must be"),
    ('[[image]]\nname = "x"\narch = "amd64"\nurl = "https://e/x"\nsha256 = "abc"\n', "64 hex digits"),
    ("[[image]\n", "not valid TOML"),
])
def test_malformed_manifests_name_the_file(env: Path, body: str, msg: str) -> None:
    (env / "bad.toml").write_text(body)
    with pytest.raises(InputError, match=msg) as e:
        images.all_images()
    assert "bad.toml" in str(e.value)


def test_duplicate_names_and_unknown_names(env: Path) -> None:
    _manifest(env, "https://e/a", "a" * 64, name="k1")
    (env / "again.toml").write_text((env / "k1.toml").read_text())
    with pytest.raises(InputError, match="also in"):
        images.all_images()
    (env / "again.toml").unlink()
    with pytest.raises(UsageError, match="known: k1"):
        images.find_image("nope")


def test_repository_manifests_parse() -> None:
    # images/*.toml as shipped: valid, and no kernel (none may be committed or vouched for)
    assert images.all_images([images.REPO_IMAGES]) == []
    assert (images.REPO_IMAGES / "README.md").is_file()


def test_cli(server: LocalServer, env: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    _manifest(env, f"{server.url}/9pc64", hashlib.sha256(KERNEL).hexdigest())
    assert main(["images"]) == 0
    listed = capsys.readouterr().out
    assert "k1" in listed and "not fetched" in listed
    assert main(["images", "fetch", "k1"]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path.read_bytes() == KERNEL
    assert main(["images"]) == 0 and "cached" in capsys.readouterr().out
    assert main(["images", "fetch", "nope"]) == 2
    # run --image: bad combinations are bad input before anything boots
    assert main(["run", "--image", "k1", "--kernel", str(path)]) == 2
    assert main(["run", "--image", "k1", "--arch", "arm64", "--results", str(tmp_path / "r")]) == 2
    assert "is for amd64" in capsys.readouterr().err
