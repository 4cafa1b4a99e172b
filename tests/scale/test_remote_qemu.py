"""The QEMU boot fixtures (harness/qemu/fixtures: not kernels) booted on a "remote" host:
through a real sshd on loopback, files copied by SFTP, console and QMP over forwarded
unix sockets; nothing left on the host afterwards, however the harness ends."""

from __future__ import annotations

import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sshdutil import Sshd, missing

from harness.errors import HarnessError
from harness.qemu.console import BootState
from harness.qemu.fixture import build_fixture
from harness.qemu.profiles import check_qemu, get_profile
from harness.remote.machine import RemoteMachine
from harness.remote.ssh import SshConnection, SshOptions, parse_host

pytestmark = [pytest.mark.qemu, pytest.mark.slow]


def qemu_pids(needle: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes()
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if needle.encode() in cmd and b"qemu-system" in cmd and state != "Z":
                pids.append(int(entry.name))
    return pids


def connect(sshd: Sshd) -> SshConnection:
    return SshConnection(parse_host(sshd.target), SshOptions(known_hosts=sshd.known_hosts,
                                                             identity=sshd.user_key, agent=False)).connect()


def fixture_for(name: str, tmp_path: Path) -> Path:
    try:
        check_qemu(get_profile(name))
        return build_fixture(name, tmp_path / "fixture")
    except HarnessError as e:
        missing(str(e))
        raise


@pytest.mark.parametrize("name", ["amd64", "arm64", "arm64-uboot", "mips"])
def test_a_fixture_boots_on_the_host_and_leaves_nothing(sshd: Sshd, name: str, tmp_path: Path) -> None:
    image = fixture_for(name, tmp_path)
    with connect(sshd) as conn:
        m = RemoteMachine(conn, get_profile(name), image, workdir=tmp_path / "vm", snapshots=True, net=False,
                          append=f"console=0 nh=fixture-{name}")
        try:
            m.start()
            assert m.remote_dir is not None and Path(m.remote_dir).is_dir()
            rdir = m.remote_dir
            assert qemu_pids(rdir), "QEMU runs on the host, in the run directory"
            result = m.boot()
            assert result.reached(BootState.RC) and result.bootargs_default == "local!/dev/sdC0/fs"
            log = (tmp_path / "vm" / "console.log").read_text()
            assert f"nh=fixture-{name}" in log.split("conf: ", 1)[1]  # the boot configuration got there
            r = m.run("echo one^two $status; plain words")
            assert (r.output, r.status) == ("onetwo \nplain words\n", "")
            assert m.status().running
            m.snapshot("booted")  # savevm into the copied vmstate disk on the host
            m.run("after snapshot")
            m.restore("booted")
            assert m.run("echo back").output == "back\n"
            cmdline = (tmp_path / "vm" / "qemu.cmdline").read_text()
            assert cmdline.startswith(f"# host: {sshd.target}") and str(image) not in cmdline
        finally:
            m.close()
        assert qemu_pids(rdir) == [] and not Path(rdir).exists()


CLIENT = """
import sys, time
from pathlib import Path
from harness.qemu.profiles import get_profile
from harness.remote.machine import RemoteMachine
from harness.remote.ssh import SshConnection, SshOptions, parse_host
target, known, key, image, workdir = sys.argv[1:]
conn = SshConnection(parse_host(target), SshOptions(known_hosts=Path(known), identity=Path(key), agent=False)).connect()
m = RemoteMachine(conn, get_profile("amd64"), Path(image), workdir=Path(workdir), net=False)
m.start()
m.boot()
print(m.remote_dir, flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_a_killed_run_leaves_no_qemu_or_directory_on_the_host(sshd: Sshd, sig: int, tmp_path: Path) -> None:
    image = fixture_for("amd64", tmp_path)
    client = subprocess.Popen([sys.executable, "-c", CLIENT, sshd.target, str(sshd.known_hosts), str(sshd.user_key),
                               str(image), str(tmp_path / "vm")], stdout=subprocess.PIPE, text=True)
    try:
        assert client.stdout is not None
        rdir = client.stdout.readline().strip()
        assert rdir and qemu_pids(rdir)
        client.send_signal(sig)
        client.wait(30)
        end = time.monotonic() + 20
        while (qemu_pids(rdir) or Path(rdir).exists()) and time.monotonic() < end:
            time.sleep(0.1)
        assert qemu_pids(rdir) == [] and not Path(rdir).exists()
    finally:
        client.kill()
        client.wait()


def amd64_aout(path: Path) -> Path:
    """A well-formed amd64 (S) a.out: the model loads the agent image it is given (a.out(6))."""
    magic = 0x8000 | (4 * 26 * 26 + 7)
    text = 0x100
    path.write_bytes(struct.pack(">8I", magic, text, 0, 0, 0, 0x200028, 0, 0) + struct.pack(">Q", 0x200028)
                     + b"\0" * text)
    return path


def test_harness_run_on_a_host_boots_there_and_cleans_up(sshd: Sshd, tmp_path: Path) -> None:
    """`harness run --host` end to end on the amd64 fixture: boot, set-up commands, snapshot, the
    agent command (the fixture is no kernel: it echoes it, so the agent "wrote no records",
    an infrastructure verdict and exit 3, never a divergence), then nothing left on the host."""
    from harness.cli import main

    image = fixture_for("amd64", tmp_path)
    agent = amd64_aout(tmp_path / "agent.6")  # never runs: the fixture only echoes the command
    corpus = Path(__file__).resolve().parents[2] / "testcases"
    rc = main(["run", "--host", sshd.target, "--known-hosts", str(sshd.known_hosts), "--ssh-identity",
               str(sshd.user_key), "--arch", "amd64", "--kernel", str(image), "--agent", str(agent),
               "--results", str(tmp_path / "r"), "--timeout", "30",
               str(corpus / "exits" / "short.yaml"), str(corpus / "rfork" / "cow.yaml")])
    assert rc == 3
    [run] = list((tmp_path / "r").iterdir())
    import json

    summary = json.loads((run / "summary.json").read_text())
    assert [v["status"] for v in summary["verdicts"]] == ["infra-error", "infra-error"]
    assert all("wrote no records" in v["summary"] for v in summary["verdicts"])
    log = (run / "console.log").read_text()
    assert "boot fixture, not a kernel" in log and "bind -c /n/nh/tmp /tmp" in log
    cmdline = (run / "vm0" / "qemu.cmdline").read_text()
    assert cmdline.startswith(f"# host: {sshd.target}")
    rdir = cmdline.split(" in ", 1)[1].split("\n", 1)[0]
    assert qemu_pids(rdir) == [] and not Path(rdir).exists()


def test_harness_run_refuses_an_unknown_host_before_booting(sshd: Sshd, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main

    image = fixture_for("amd64", tmp_path)
    agent = amd64_aout(tmp_path / "agent.6")
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    one = str(Path(__file__).resolve().parents[2] / "testcases" / "exits" / "short.yaml")
    base = ["run", one, "--arch", "amd64", "--kernel", str(image), "--agent", str(agent),
            "--results", str(tmp_path / "r")]
    assert main([*base, "--host", sshd.target, "--known-hosts", str(empty), "--ssh-identity",
                 str(sshd.user_key)]) == 3
    assert "host key not in" in capsys.readouterr().err
    assert main([*base, "--host", "root@bad host"]) == 2
    assert "expected user@host[:port]" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()  # nothing ran


def test_a_host_that_drops_mid_run_fails_only_what_ran_there(sshd: Sshd, tmp_path: Path) -> None:
    """Two workers on the ssh backend (two connections: two "hosts"), worker 0's connection
    dropped after its first scenario: what was running there is an infrastructure error
    naming the lost connection, never a guest crash, and the remaining scenarios move to
    the other worker."""
    from harness.report.progress import Progress
    from harness.report.result import Status, Verdict
    from harness.report.results import ResultsDir
    from harness.run.backends import Backend
    from harness.run.backends.ssh import SshBackend
    from harness.run.config import RunConfig
    from harness.run.pipeline import run_scenarios
    from harness.scenario.compiler import compile_scenario, find_scenarios

    image = fixture_for("amd64", tmp_path)
    agent = amd64_aout(tmp_path / "agent.6")
    scenarios = [compile_scenario(f, "amd64") for f in find_scenarios([str(Path(__file__).resolve().parents[2]
                                                                          / "testcases" / "rfork")])]
    rd = ResultsDir.create(tmp_path / "r", "drop")
    cfg = RunConfig("amd64", "9front-2022.05", agent_image=agent.read_bytes(), scenario_timeout=30, jobs=2,
                    scratch_server="dossrv", backend="ssh", kernel=image, agent=agent,
                    hosts=(sshd.target, sshd.target), known_hosts=sshd.known_hosts, ssh_identity=sshd.user_key)
    SshBackend.check(cfg, [sc.name for sc in scenarios])
    workers: dict[int, SshBackend] = {}
    dropped: list[str] = []
    recorded: list[str] = []

    def factory(n: int, results: ResultsDir) -> Backend:
        workers[n] = SshBackend(n, results, cfg)
        return workers[n]

    class DropHost0(Progress):
        def scenario_done(self, name: str, verdict: Verdict, worker: int = 0) -> None:
            recorded.append(name)
            vm0 = rd.root / "vm0" / "console.log"
            conn = workers[0].conn if 0 in workers else None
            # once host 0 has run a scenario, and with work left for it: the network to host 0 goes away
            if not dropped and conn is not None and vm0.exists() and "^-begin; /tmp/nh/nhagent" in vm0.read_text() \
                    and len(recorded) <= len(scenarios) - 3:
                dropped.append(name)
                conn.transport.close()

    verdicts = run_scenarios(scenarios, cfg, factory, rd, progress=DropHost0(lambda v, c: [], live=False))
    assert sorted(v.scenario for v in verdicts) == sorted(s.name for s in scenarios)
    assert all(v.status is Status.INFRA_ERROR for v in verdicts)  # the fixture is no kernel
    assert dropped, "host 0 never ran a scenario early enough to be dropped"
    lost = [v for v in verdicts if "connection lost" in v.summary]
    assert len(lost) == 1 and "machine died" in lost[0].summary, "; ".join(f"{v.scenario}: {v.summary[:150]}" for v in verdicts)
    ran = {vm: (rd.root / vm / "console.log").read_text().count("^-begin; /tmp/nh/nhagent") for vm in ("vm0", "vm1")}
    # host 0 ran one scenario or two (the lost one, if its command got out); host 1 all the rest
    assert ran["vm0"] <= 2 and ran["vm1"] >= len(scenarios) - 2 and ran["vm0"] + ran["vm1"] >= len(scenarios) - 1
    for vm in ("vm0", "vm1"):
        rdir = (rd.root / vm / "qemu.cmdline").read_text().split(" in ", 1)[1].split("\n", 1)[0]
        end = time.monotonic() + 20
        while (qemu_pids(rdir) or Path(rdir).exists()) and time.monotonic() < end:
            time.sleep(0.1)
        assert qemu_pids(rdir) == [] and not Path(rdir).exists()
