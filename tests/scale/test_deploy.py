"""deploy/: the Kubernetes manifests against the Kubernetes schemas (kubernetes-validate,
offline), the CI examples, the Dockerfile's entry point, and the container's entry
command run here with JOB_COMPLETION_INDEX set, on the SIMULATED guest, then merged.

No container engine is available to the tests: the image itself is not built here
(docs/SCALE.md says so); what the pods run is run, exactly as the manifest says."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate.utils as kv
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
# backoffLimitPerIndex and FailIndex are beta (on by default) from 1.29, GA in 1.33
K8S_VERSIONS = ["1.29", "1.33", kv.latest_version()]


def docs(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((DEPLOY / "k8s" / name).read_text()) if d]


def job(name: str = "job.yaml") -> dict[str, Any]:
    [j] = [d for d in docs(name) if d["kind"] == "Job"]
    return j


def container(j: dict[str, Any]) -> dict[str, Any]:
    [c] = j["spec"]["template"]["spec"]["containers"]
    return c


def env_of(c: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in c.get("env", []) if "value" in e}


def rule_for(j: dict[str, Any], code: int) -> str | None:
    for r in j["spec"]["podFailurePolicy"]["rules"]:
        ex = r.get("onExitCodes")
        if ex and ex["operator"] == "In" and code in ex["values"]:
            assert ex["containerName"] == container(j)["name"]
            return str(r["action"])
    return None


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("name", ["job.yaml", "merge-job.yaml"])
def test_manifests_validate_against_the_kubernetes_schema(name: str, version: str) -> None:
    for d in docs(name):
        kv.validate(d, version, strict=True)  # raises on any unknown or mistyped field


def test_the_schema_check_is_real() -> None:
    broken = job()
    broken["spec"]["podFailurePolicy"]["rules"][0]["onExitCodes"]["values"] = ["three"]
    with pytest.raises(kv.ValidationError):
        kv.validate(broken, K8S_VERSIONS[0], strict=True)


def test_indexed_job_retries_infrastructure_only() -> None:
    j = job()
    spec = j["spec"]
    assert spec["completionMode"] == "Indexed" and spec["backoffLimitPerIndex"] >= 1
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    assert rule_for(j, 1) == "FailIndex"  # a divergence: that index's verdict, never retried
    assert rule_for(j, 2) == "FailJob"  # bad input is the same in every pod
    assert rule_for(j, 3) is None  # infrastructure: counted against backoffLimitPerIndex, retried
    c = container(j)
    assert env_of(c)["NH_SHARD_COUNT"] == str(spec["completions"])
    assert c["args"][c["args"].index("--shard") + 1] == "auto"
    [run_id] = [e for e in c["env"] if e["name"] == "NH_RUN_ID"]
    assert run_id["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.labels['batch.kubernetes.io/job-name']"
    # the merge Job reads the shard Job's results: same run id, same claim
    m = job("merge-job.yaml")
    assert env_of(container(m))["NH_RUN_ID"] == j["metadata"]["name"]
    claims = {v["persistentVolumeClaim"]["claimName"] for x in (j, m) for v in x["spec"]["template"]["spec"]["volumes"]
              if v["name"] == "results"}
    assert claims == {"nine-harness-results"}
    pvc = [d for d in docs("job.yaml") if d["kind"] == "PersistentVolumeClaim"]
    assert pvc and pvc[0]["spec"]["accessModes"] == ["ReadWriteMany"]


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's stages as (INSTRUCTION, rest) lists (a minimal parse: continuations joined)."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    stages: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if word.upper() == "FROM":
            stages.append([])
        stages[-1].append((word.upper(), rest.strip()))
    return stages


def dockerfile_final_stage() -> dict[str, Any]:
    final = dockerfile_stages()[-1]
    return {"all": final, **{w: r for w, r in final}}


def test_dockerfile_runs_harness_from_its_wheel_as_a_user() -> None:
    st = dockerfile_final_stage()
    assert json.loads(st["ENTRYPOINT"]) == ["harness"]
    assert st["FROM"].startswith("debian:")
    user = st["USER"]
    assert user not in ("root", "0") and user == str(job()["spec"]["template"]["spec"]["securityContext"]["runAsUser"])
    runs = " ".join(r for w, r in st["all"] if w == "RUN")
    assert "qemu-system-x86" in runs and "qemu-system-arm" in runs and re.search(r"pip install .*\.whl", runs)
    copies = [r for w, r in st["all"] if w == "COPY"]
    corpus = [c.split()[-1] for c in copies if c.split()[0] == "testcases"]
    assert corpus and corpus[0] in container(job())["args"]  # the Job runs the corpus the image ships


def test_ci_examples_shard_and_merge() -> None:
    gl = yaml.safe_load((DEPLOY / "ci" / "gitlab-ci.yml").read_text())
    n = gl["scenarios"]["parallel"]
    assert "--shard auto" in " ".join(gl["scenarios"]["script"]) and n >= 2
    assert gl["scenarios"]["retry"]["exit_codes"] == [3]
    assert "harness merge" in " ".join(gl["report"]["script"]) and gl["report"]["when"] == "always"
    gh = yaml.safe_load((DEPLOY / "ci" / "github-actions.yml").read_text())
    shards = gh["jobs"]["scenarios"]["strategy"]["matrix"]["shard"]
    run = " ".join(s.get("run", "") for s in gh["jobs"]["scenarios"]["steps"])
    assert shards == list(range(len(shards))) and f"/{len(shards)}" in run
    assert gh["jobs"]["report"]["needs"] == "scenarios"
    assert any("harness merge" in s.get("run", "") for s in gh["jobs"]["report"]["steps"])


def expand(arg: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion in container args ($$ escapes; unknown stays)."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), arg)


def pod_command(j: dict[str, Any], env: dict[str, str], mounts: dict[str, Path]) -> list[str]:
    """What the pod runs: the image's ENTRYPOINT + the container's args, expanded, with the
    volume mount paths mapped to local directories."""
    entry = json.loads(dockerfile_final_stage()["ENTRYPOINT"])
    argv = [expand(a, env) for a in [*entry, *container(j)["args"]]]
    for mount, local in mounts.items():
        argv = [str(local) + a[len(mount):] if a.startswith(mount) else a for a in argv]
    argv[0] = str(Path(sys.executable).parent / argv[0])
    return argv


@pytest.mark.slow
def test_the_pods_entry_command_runs_every_shard_and_the_merge_job_joins_them(tmp_path: Path) -> None:
    j = job()
    count = j["spec"]["completions"]
    results, kernels = tmp_path / "results", tmp_path / "kernels"
    results.mkdir()
    kernels.mkdir()
    mounts = {"/results": results, "/kernels": kernels,
              "/usr/share/nine-harness/testcases": ROOT / "testcases" / "exits"}
    c = container(j)
    for index in range(count):
        env = {**env_of(c), "NH_RUN_ID": j["metadata"]["name"], "JOB_COMPLETION_INDEX": str(index)}
        argv = pod_command(j, env, mounts)
        # SIMULATED guest instead of a 9front kernel and its agent (none may exist here): the one change
        k = argv.index("--kernel")
        argv[k:k + 2] = ["--simulate"]
        a = argv.index("--agent")
        del argv[a:a + 2]
        proc = subprocess.run(argv, env={**os.environ, **env}, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert f"shard {index}/{count}" in proc.stdout
    m = job("merge-job.yaml")
    argv = pod_command(m, env_of(container(m)), {"/results": results})
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads((results / j["metadata"]["name"] / "merged" / "summary.json").read_text())
    expected = sorted(p.stem for p in (ROOT / "testcases" / "exits").rglob("*.yaml"))
    assert sorted(v["scenario"] for v in summary["verdicts"]) == expected
    assert [s["index"] for s in summary["shards"]] == list(range(count))
    assert summary["run_id"] == j["metadata"]["name"] and summary["meta"]["simulated"] is True


@pytest.mark.slow
def test_the_wheel_the_dockerfile_builds_has_the_harness_and_its_ssh_extra(tmp_path: Path) -> None:
    """The Dockerfile's first stage: a wheel from exactly what it COPYs (pyproject, README, harness/)."""
    import shutil
    import zipfile

    copies = [r.split() for w, r in dockerfile_stages()[0] if w == "COPY"]
    src = tmp_path / "src"
    src.mkdir()
    for words in copies:
        for name in words[:-1]:
            (shutil.copytree if (ROOT / name).is_dir() else shutil.copy)(ROOT / name, src / name)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                           "-w", str(tmp_path / "out"), str(src)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    [whl] = list((tmp_path / "out").glob("nine_harness-*.whl"))
    with zipfile.ZipFile(whl) as z:
        names = set(z.namelist())
        meta = z.read(next(n for n in names if n.endswith("/METADATA"))).decode()
        entry = z.read(next(n for n in names if n.endswith("/entry_points.txt"))).decode()
    assert {"harness/cli/__init__.py", "harness/guest/agent/agent.c", "harness/remote/ssh.py",
            "harness/qemu/fixtures/amd64.S"} <= names
    assert "harness = harness.cli:main" in entry
    assert "Provides-Extra: ssh" in meta and re.search(r"Requires-Dist: paramiko.*extra == .ssh.", meta)



@pytest.mark.parametrize("name", ["job.yaml", "merge-job.yaml"])
def test_every_variable_the_args_use_is_defined(name: str) -> None:
    """Kubernetes leaves an undefined $(VAR) in args as it is: every one must be in env
    (JOB_COMPLETION_INDEX is set by the Indexed Job itself)."""
    c = container(job(name))
    defined = {e["name"] for e in c.get("env", [])} | ({"JOB_COMPLETION_INDEX"} if name == "job.yaml" else set())
    used = {m for a in c["args"] for m in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", a)}
    assert used and used <= defined


def test_run_script_is_valid_sh() -> None:
    script = DEPLOY / "k8s" / "run.sh"
    assert subprocess.run(["sh", "-n", str(script)], capture_output=True).returncode == 0
    text = script.read_text()
    assert text.index("job.yaml") < text.index("merge-job.yaml")  # shards first, then the merge
