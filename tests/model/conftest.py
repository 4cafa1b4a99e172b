"""Fixtures for the model tests: real Plan 9 a.out files built with Go.

`GOOS=plan9 go build` produces genuine Plan 9 binaries (386: I_MAGIC, amd64:
S_MAGIC with the expanded header, arm: E_MAGIC) with a Plan 9 symbol table,
which gives the a.out loader and the symbol reader input that no test of
ours wrote by hand.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

GO_ARCHES = ("386", "amd64", "arm")

GO_PROGRAM = """\
package main

import "os"

var counter int
var table = [4]int{1, 2, 3, 4}

func bump(n int) int { counter += n; return counter + table[n%4] }

func main() {
	if bump(len(os.Args)) < 0 {
		os.Exit(1)
	}
}
"""


@dataclass(frozen=True)
class GoBinary:
    goarch: str
    path: Path

    @property
    def data(self) -> bytes:
        return self.path.read_bytes()


def _need_go() -> str:
    go = shutil.which("go")
    if go is None:
        msg = "`go` (golang-go) is not installed: cannot build Plan 9 a.out files"
        if os.environ.get("CI"):
            pytest.fail(msg + " (CI is set: `make sysdeps` should have installed it)")
        pytest.skip(msg)
    return go


@pytest.fixture(scope="session")
def go_binaries(tmp_path_factory: pytest.TempPathFactory) -> dict[str, GoBinary]:
    """GOARCH -> a freshly built plan9 binary (built once per session, in parallel)."""
    go = _need_go()
    src = tmp_path_factory.mktemp("goaout")
    (src / "go.mod").write_text("module aouttest\n\ngo 1.17\n")
    (src / "main.go").write_text(GO_PROGRAM)
    env = {**os.environ, "GOOS": "plan9", "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}
    if not (env.get("GOCACHE") or env.get("XDG_CACHE_HOME") or env.get("HOME")):
        # Go needs a build cache; the default one (under HOME) keeps reruns fast.
        env["GOCACHE"] = str(tmp_path_factory.getbasetemp() / "gocache")
    procs = {}
    for arch in GO_ARCHES:
        out = src / f"prog.{arch}"
        procs[arch] = (
            out,
            subprocess.Popen(
                [go, "build", "-o", str(out), "."],
                cwd=src,
                env={**env, "GOARCH": arch},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            ),
        )
    built = {}
    for arch, (out, proc) in procs.items():
        log, _ = proc.communicate()
        if proc.returncode != 0:
            pytest.fail(f"GOOS=plan9 GOARCH={arch} go build failed:\n{log.decode(errors='replace')}")
        built[arch] = GoBinary(arch, out)
    return built
