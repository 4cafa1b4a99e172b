"""SSH to a QEMU host (paramiko): keys or agent only, host keys from known_hosts.

- Host keys are checked against known_hosts (``~/.ssh/known_hosts`` unless
  given) with a RejectPolicy: an unknown host is refused, never added; a
  changed key is refused with both fingerprints.  Both are ``HostKeyError``.
- Authentication is by key file or ssh-agent only; no password is ever sent.
- Every command is an argv list joined with ``shlex.join``: a user value is
  always one quoted word, never shell text.
- Errors: a malformed ``--host`` is bad input (exit 2, ``UsageError``); an
  unreachable host, a refused key or a host-key problem is infrastructure
  configuration (exit 3, ``SshError``): no kernel verdict can come of it.

Unix sockets on the host (QEMU's serial console and QMP) are reached through
``direct-streamlocal@openssh.com`` channels (OpenSSH's ``ssh -L local:remote``
for sockets), which paramiko does not offer: ``open_unix`` adds the request's
three fields to the channel-open message paramiko builds (RFC 4254 7.2 layout,
OpenSSH PROTOCOL 2.4).  ``UnixForward`` serves such a socket as a local one, so
the console and QMP code that drives a local QEMU drives a remote one unchanged.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import select
import shlex
import socket
import stat
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import paramiko
from paramiko.common import cMSG_CHANNEL_OPEN

from harness.errors import InfraError, UsageError

STREAMLOCAL = "direct-streamlocal@openssh.com"
# paramiko's one method that sends a built message; private, and absent from its type stubs
_SEND = "_send_user_message"
_HOST = re.compile(r"^(?:(?P<user>[^@\s:/]+)@)?(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<name>[A-Za-z0-9._-]+))"
                   r"(?::(?P<port>[0-9]{1,5}))?$")


class SshError(InfraError):
    """The QEMU host cannot be used: unreachable, key refused, SFTP or command failure."""


class HostKeyError(SshError):
    """The host's key is not in known_hosts, or differs from the one recorded there."""


@dataclass(frozen=True)
class HostSpec:
    host: str
    user: str | None = None
    port: int = 22

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.user + '@' if self.user else ''}{host}{'' if self.port == 22 else f':{self.port}'}"

    @property
    def known_hosts_name(self) -> str:
        """How OpenSSH's known_hosts names this host."""
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"


def parse_host(text: str) -> HostSpec:
    """``user@host[:port]`` (``[v6]:port`` too) -> HostSpec; anything else is exit 2."""
    m = _HOST.match(text.strip())
    if not m:
        raise UsageError(f"--host {text!r}: expected user@host[:port]")
    port = int(m["port"] or 22)
    if not 0 < port < 65536:
        raise UsageError(f"--host {text!r}: port {port} is not 1..65535")
    return HostSpec(m["v6"] or m["name"], m["user"], port)


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's SHA256 fingerprint (what `ssh-keygen -lf` prints)."""
    digest = base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")
    return f"{key.get_name()} SHA256:{digest}"


class _Reject(paramiko.RejectPolicy):
    """RejectPolicy that says what to check and how to add the key (by hand)."""

    def __init__(self, spec: HostSpec, known_hosts: Path) -> None:
        self.spec, self.known_hosts = spec, known_hosts

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> NoReturn:
        port = "" if self.spec.port == 22 else f"-p {self.spec.port} "
        raise HostKeyError(
            f"{self.spec.known_hosts_name}: host key not in {self.known_hosts} (offered {fingerprint(key)}); "
            f"check the fingerprint on the host, then add it: ssh-keyscan {port}{self.spec.host} >> "
            f"{self.known_hosts} (the harness never adds host keys)")


@dataclass(frozen=True)
class SshOptions:
    known_hosts: Path | None = None  # default ~/.ssh/known_hosts
    identity: Path | None = None  # a private key file; default: the agent and ~/.ssh/id_*
    agent: bool = True
    timeout: float = 15.0  # connecting and authenticating

    @property
    def known_hosts_file(self) -> Path:
        return self.known_hosts or Path.home() / ".ssh" / "known_hosts"


@dataclass(frozen=True)
class RemoteResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


class _Transport(paramiko.Transport):
    """paramiko's Transport, able to open direct-streamlocal channels (see the module doc)."""

    _streamlocal_lock = threading.Lock()
    _streamlocal_path: str | None = None

    def _send_user_message(self, data: Any) -> None:
        path = self._streamlocal_path
        if path is not None and isinstance(data, paramiko.Message):
            raw = data.asbytes()
            head = cMSG_CHANNEL_OPEN + len(STREAMLOCAL).to_bytes(4, "big") + STREAMLOCAL.encode()
            if raw.startswith(head):
                data.add_string(path)  # socket path
                data.add_string("")  # reserved (originator address)
                data.add_int(0)  # reserved (originator port)
                self._streamlocal_path = None
        getattr(paramiko.Transport, _SEND)(self, data)

    def open_unix(self, path: str, timeout: float) -> paramiko.Channel:
        with self._streamlocal_lock:
            self._streamlocal_path = path
            try:
                return self.open_channel(STREAMLOCAL, timeout=timeout)
            finally:
                self._streamlocal_path = None


def _new_transport(sock: Any, /, **kw: Any) -> paramiko.Transport:
    """SSHClient's transport_factory (paramiko passes disabled_algorithms)."""
    return _Transport(sock, disabled_algorithms=kw.get("disabled_algorithms"))


class SshConnection:
    """One SSH connection to a QEMU host; close() (or the context manager) ends it."""

    def __init__(self, spec: HostSpec, options: SshOptions | None = None) -> None:
        self.spec = spec
        self.options = options or SshOptions()
        self.client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._lock = threading.Lock()

    def connect(self) -> SshConnection:
        opts, spec = self.options, self.spec
        known = opts.known_hosts_file
        client = paramiko.SSHClient()
        try:
            client.load_host_keys(str(known))
        except OSError as e:
            raise HostKeyError(f"{spec}: cannot read known_hosts {known}: {e.strerror}; host keys are always "
                               "verified (add the host's key with ssh-keyscan after checking it)") from None
        client.set_missing_host_key_policy(_Reject(spec, known))
        try:
            client.connect(spec.host, spec.port, username=spec.user, key_filename=str(opts.identity)
                           if opts.identity else None, allow_agent=opts.agent,
                           look_for_keys=opts.identity is None, timeout=opts.timeout,
                           auth_timeout=opts.timeout, banner_timeout=opts.timeout,
                           transport_factory=_new_transport)
        except HostKeyError:
            client.close()
            raise
        except paramiko.BadHostKeyException as e:
            client.close()
            raise HostKeyError(
                f"{spec.known_hosts_name}: HOST KEY CHANGED: it offers {fingerprint(e.key)}, {known} has "
                f"{fingerprint(e.expected_key)}; someone may be intercepting the connection, or the host "
                "was reinstalled: check, then fix known_hosts by hand") from None
        except paramiko.AuthenticationException as e:
            client.close()
            raise SshError(f"{spec}: authentication failed ({e}); keys or ssh-agent only, passwords "
                           "are never used") from None
        except (paramiko.SSHException, OSError) as e:
            client.close()
            raise SshError(f"{spec}: cannot connect: {e}") from None
        self.client = client
        return self

    @property
    def transport(self) -> _Transport:
        if self.client is None or self.client.get_transport() is None:
            raise SshError(f"{self.spec}: not connected")
        t = self.client.get_transport()
        assert isinstance(t, _Transport)
        return t

    def alive(self) -> bool:
        return self.client is not None and self.transport.is_active()

    # -- commands -----------------------------------------------------------
    def start(self, argv: Sequence[str]) -> paramiko.Channel:
        """Start ARGV (every word quoted) on an exec channel; the caller reads and closes it."""
        try:
            chan = self.transport.open_session(timeout=self.options.timeout)
            chan.exec_command(shlex.join(argv))
        except (paramiko.SSHException, OSError, EOFError) as e:
            raise SshError(f"{self.spec}: cannot run {argv[0]}: {e}") from None
        return chan

    def run(self, argv: Sequence[str], *, timeout: float = 60.0, check: bool = True) -> RemoteResult:
        """Run ARGV to completion; with ``check``, a non-zero exit is an SshError quoting stderr."""
        chan = self.start(argv)
        out, err = bytearray(), bytearray()
        end = time.monotonic() + timeout
        try:
            while not (chan.exit_status_ready() and not chan.recv_ready() and not chan.recv_stderr_ready()):
                if time.monotonic() > end:
                    raise SshError(f"{self.spec}: {shlex.join(argv)[:80]}: no exit within {timeout:.0f}s")
                select.select([chan], [], [], 0.2)
                while chan.recv_ready():
                    out += chan.recv(65536)
                while chan.recv_stderr_ready():
                    err += chan.recv_stderr(65536)
            rc = chan.recv_exit_status()
        finally:
            chan.close()
        res = RemoteResult(tuple(argv), rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))
        if check and rc != 0:
            raise SshError(f"{self.spec}: {shlex.join(argv)[:120]}: exit {rc}: {res.stderr.strip()[:300]}")
        return res

    # -- files --------------------------------------------------------------
    @property
    def sftp(self) -> paramiko.SFTPClient:
        with self._lock:
            if self._sftp is None:
                try:
                    self._sftp = self.client.open_sftp() if self.client else None
                except (paramiko.SSHException, OSError) as e:
                    raise SshError(f"{self.spec}: SFTP unavailable: {e}") from None
            if self._sftp is None:
                raise SshError(f"{self.spec}: not connected")
            return self._sftp

    def put(self, local: Path, remote: str) -> None:
        try:
            self.sftp.put(str(local), remote)
            self.sftp.chmod(remote, stat.S_IMODE(local.stat().st_mode))
        except OSError as e:
            raise SshError(f"{self.spec}: copying {local} to {remote}: {e}") from None

    def read_bytes(self, remote: str) -> bytes:
        try:
            with self.sftp.open(remote, "rb") as f:
                return bytes(f.read())
        except OSError as e:
            raise SshError(f"{self.spec}: reading {remote}: {e}") from None

    def make_tempdir(self, prefix: str = "nh-run.") -> str:
        """A fresh private directory under the host's $TMPDIR (mktemp -d)."""
        path = self.run(["mktemp", "-d", "-t", prefix + "XXXXXXXX"], timeout=self.options.timeout).stdout.strip()
        if not path.startswith("/"):
            raise SshError(f"{self.spec}: mktemp -d printed {path!r}")
        return path

    def remove_tree(self, path: str) -> None:
        self.run(["rm", "-rf", "--", path], timeout=self.options.timeout)

    # -- unix sockets -------------------------------------------------------
    def open_unix(self, path: str) -> paramiko.Channel:
        try:
            return self.transport.open_unix(path, self.options.timeout)
        except (paramiko.SSHException, OSError, EOFError) as e:
            raise SshError(f"{self.spec}: cannot connect to {path} there: {e} (if it exists, the host's "
                           "sshd refuses forwarding: AllowStreamLocalForwarding and AllowTcpForwarding "
                           "must not be 'no')") from None

    def forward_unix(self, remote_path: str, local_path: Path, *, wait: float = 30.0) -> UnixForward:
        return UnixForward(self, remote_path, local_path, wait).start()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            if self._sftp is not None:
                self._sftp.close()
        self._sftp = None
        if self.client is not None:
            self.client.close()
            self.client = None

    def __enter__(self) -> SshConnection:
        return self.connect() if self.client is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()


class UnixForward:
    """A local unix socket whose every connection is relayed to a unix socket on the host.

    The remote socket may not exist yet (QEMU creates it as it starts): opening the
    channel is retried until ``wait`` runs out, then the local connection is closed."""

    def __init__(self, conn: SshConnection, remote_path: str, local_path: Path, wait: float) -> None:
        self.conn, self.remote_path, self.local_path, self.wait = conn, remote_path, local_path, wait
        self._listener: socket.socket | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> UnixForward:
        self.local_path.unlink(missing_ok=True)
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o077)  # only we may connect to the console of our VM
        try:
            srv.bind(str(self.local_path))
        finally:
            os.umask(old)
        srv.listen(4)
        srv.settimeout(0.2)
        self._listener = srv
        self._spawn(self._accept)
        return self

    def _spawn(self, target: Any, *args: Any) -> None:
        t = threading.Thread(target=target, args=args, daemon=True, name=f"fwd {self.remote_path}")
        t.start()
        self._threads.append(t)

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                local, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._spawn(self._relay, local)

    def _open(self) -> paramiko.Channel | None:
        end = time.monotonic() + self.wait
        while not self._stop.is_set():
            try:
                return self.conn.open_unix(self.remote_path)
            except SshError:
                if time.monotonic() > end or not self.conn.alive():
                    return None
                time.sleep(0.05)
        return None

    def _relay(self, local: socket.socket) -> None:
        chan = self._open()
        try:
            if chan is None:
                return
            ends: list[Any] = [local, chan]
            while not self._stop.is_set():
                ready, _, _ = select.select(ends, [], [], 0.2)
                for src in ready:
                    data = src.recv(65536)
                    if not data:
                        return
                    (chan if src is local else local).sendall(data)
        except OSError:
            return
        finally:
            if chan is not None:
                chan.close()
            local.close()

    def close(self) -> None:
        self._stop.set()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        for t in self._threads:
            t.join(2.0)
        self.local_path.unlink(missing_ok=True)


def private_tempdir(prefix: str = "nh-ssh-") -> Path:
    """A local 0700 directory for forwarded sockets (short path: sun_path is 108 bytes)."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
