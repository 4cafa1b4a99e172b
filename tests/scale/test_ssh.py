"""harness.remote against a real sshd on loopback (tests/scale/conftest.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sshdutil import Sshd

from harness.errors import ExitCode, UsageError
from harness.remote.process import RemoteProcess
from harness.remote.ssh import (
    HostKeyError,
    HostSpec,
    SshConnection,
    SshError,
    SshOptions,
    parse_host,
    private_tempdir,
)


def connect(sshd: Sshd, **kw: object) -> SshConnection:
    opts = SshOptions(known_hosts=sshd.known_hosts, identity=sshd.user_key, agent=False)
    for k, v in kw.items():
        opts = SshOptions(**{**opts.__dict__, k: v})
    return SshConnection(parse_host(sshd.target), opts).connect()


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_until(cond: object, seconds: float = 15.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return bool(cond())  # type: ignore[operator]


@pytest.mark.parametrize(("text", "want"), [
    ("root@qemu1", HostSpec("qemu1", "root", 22)),
    ("ci@qemu1.example.org:2222", HostSpec("qemu1.example.org", "ci", 2222)),
    ("10.0.0.7", HostSpec("10.0.0.7", None, 22)),
    ("me@[::1]:2200", HostSpec("::1", "me", 2200)),
])
def test_parse_host(text: str, want: HostSpec) -> None:
    assert parse_host(text) == want
    assert parse_host(str(want)) == want


@pytest.mark.parametrize("text", ["", "a@", "@h", "u@h:0", "u@h:70000", "u@h:x", "u@h;rm -rf /", "u@h p", "u:p@h"])
def test_a_bad_host_is_bad_input(text: str) -> None:
    with pytest.raises(UsageError) as e:
        parse_host(text)
    assert e.value.exit_code == ExitCode.BAD_INPUT


def test_run_quotes_every_word(sshd: Sshd) -> None:
    with connect(sshd) as c:
        words = ["it's", "two words", "$HOME", "`id`", "a;b", "*", ""]
        res = c.run(["printf", "%s\\n", *words])
        assert res.stdout.split("\n")[:-1] == words
        with pytest.raises(SshError, match="exit 3"):
            c.run(["sh", "-c", "echo oops >&2; exit 3"])
        assert c.run(["false"], check=False).returncode == 1


def test_copy_to_a_private_temporary_directory(sshd: Sshd, tmp_path: Path) -> None:
    blob = tmp_path / "kernel"
    blob.write_bytes(os.urandom(3 << 20))
    blob.chmod(0o640)
    with connect(sshd) as c:
        d = c.make_tempdir()
        assert Path(d).is_dir() and (Path(d).stat().st_mode & 0o777) == 0o700
        c.put(blob, f"{d}/kernel")
        assert c.read_bytes(f"{d}/kernel") == blob.read_bytes()
        assert c.run(["stat", "-c", "%a", f"{d}/kernel"]).stdout.strip() == "640"
        c.remove_tree(d)
        assert not Path(d).exists()


def test_an_unknown_host_key_is_refused_never_added(sshd: Sshd, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(HostKeyError) as e:
        connect(sshd, known_hosts=empty)
    fp = subprocess.run(["ssh-keygen", "-lf", str(sshd.dir / "host_key.pub")], capture_output=True,
                        text=True).stdout.split()[1]
    msg = str(e.value)
    assert f"[127.0.0.1]:{sshd.port}: host key not in {empty}" in msg and fp in msg and "ssh-keyscan" in msg
    assert e.value.exit_code == ExitCode.INFRA
    assert empty.read_text() == ""  # nothing was added
    with pytest.raises(HostKeyError, match="cannot read known_hosts"):
        connect(sshd, known_hosts=tmp_path / "absent")


def test_a_changed_host_key_is_refused(sshd: Sshd, tmp_path: Path) -> None:
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} {' '.join(Path(str(other) + '.pub').read_text().split()[:2])}\n")
    with pytest.raises(HostKeyError, match="HOST KEY CHANGED"):
        connect(sshd, known_hosts=known)


def test_a_key_the_host_does_not_accept(sshd: Sshd, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    with pytest.raises(SshError, match="authentication failed.*passwords are never used") as e:
        connect(sshd, identity=stranger)
    assert e.value.exit_code == ExitCode.INFRA
    fp = subprocess.run(["ssh-keygen", "-lf", f"{stranger}.pub"], capture_output=True, text=True).stdout.split()[1]
    log = sshd.log()
    assert f"Failed publickey for {sshd.user} from 127.0.0.1" in log and fp in log
    assert "password" not in log.lower()  # no password was ever tried


def test_unreachable(tmp_path: Path, sshd: Sshd) -> None:
    with pytest.raises(SshError, match="cannot connect"):
        SshConnection(HostSpec("127.0.0.1", "root", 1), SshOptions(known_hosts=sshd.known_hosts)).connect()


ECHO_SERVER = """
import socket, sys
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(1)
c, _ = s.accept()
while True:
    b = c.recv(100)
    if not b: break
    c.sendall(b.upper())
"""


def test_a_unix_socket_on_the_host_is_forwarded(sshd: Sshd, tmp_path: Path) -> None:
    import socket

    with connect(sshd) as c:
        d = c.make_tempdir()
        proc = RemoteProcess(c, d, [sys.executable, "-c", ECHO_SERVER, f"{d}/echo.sock"]).start()
        local = private_tempdir()
        fwd = c.forward_unix(f"{d}/echo.sock", local / "echo.sock")
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(str(local / "echo.sock"))
            s.sendall(b"console and qmp")
            got = b""
            while len(got) < 15:
                got += s.recv(100)
            assert got == b"CONSOLE AND QMP"
            s.close()
        finally:
            fwd.close()
            proc.kill()
            local.rmdir()
        assert not Path(d).exists()


def test_kill_removes_the_process_and_its_directory(sshd: Sshd) -> None:
    with connect(sshd) as c:
        d = c.make_tempdir()
        proc = RemoteProcess(c, d, ["sleep", "600"]).start()
        assert proc.pid is not None and alive(proc.pid) and proc.alive()
        proc.kill()
        assert not alive(proc.pid) and not Path(d).exists()


def test_a_process_that_exits_reports_its_status(sshd: Sshd) -> None:
    with connect(sshd) as c:
        d = c.make_tempdir()
        proc = RemoteProcess(c, d, ["sh", "-c", "echo bye >&2; exit 5"]).start()
        assert wait_until(lambda: not proc.alive())
        assert proc.returncode == 5
        assert c.read_bytes(f"{d}/process.stderr") == b"bye\n"
        proc.kill()
        assert not Path(d).exists()


CLIENT = """
import sys, time
from pathlib import Path
from harness.remote.ssh import SshConnection, SshOptions, parse_host
from harness.remote.process import RemoteProcess
c = SshConnection(parse_host(sys.argv[1]), SshOptions(known_hosts=Path(sys.argv[2]), identity=Path(sys.argv[3]),
                  agent=False)).connect()
d = c.make_tempdir()
p = RemoteProcess(c, d, ["sleep", "600"]).start()
print(d, p.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_a_killed_harness_leaves_no_remote_directory_or_process(sshd: Sshd, sig: int) -> None:
    client = subprocess.Popen([sys.executable, "-c", CLIENT, sshd.target, str(sshd.known_hosts),
                               str(sshd.user_key)], stdout=subprocess.PIPE, text=True)
    try:
        assert client.stdout is not None
        d, pid = client.stdout.readline().split()
        assert Path(d).is_dir() and alive(int(pid))
        client.send_signal(sig)
        client.wait(30)
        # SIGKILL runs no handler at all: the lifeline on the host does the cleaning
        assert wait_until(lambda: not alive(int(pid)) and not Path(d).exists()), sshd.log()[-2000:]
    finally:
        client.kill()
        client.wait()
