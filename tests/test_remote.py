"""A shared DVC remote, really exercised: moto's S3 server on 127.0.0.1, started by the test.

One teammate runs the pipeline and pushes outputs and the run cache; a fresh clone pulls them
and has nothing to rerun; a parameter change reruns exactly the stages it touches; an
experiment travels through a bare Git repository on disk plus the S3 remote to a third clone.
The `tabpipe ci` commands the workflow calls are used where the workflow uses them.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tabpipe.io import load_model
from tests import prepared
from tests.dvc_repo import VENV_BIN, affected_stages, run

pytestmark = pytest.mark.slow

BUCKET = "tabpipe-dvc"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3(request, tmp_path_factory) -> str:
    """moto's S3 server on a free local port with one bucket; stopped when the module ends."""
    port = free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("w")
    server = subprocess.Popen(
        [VENV_BIN / "moto_server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def stop() -> None:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()

    request.addfinalizer(stop)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"moto_server did not start on {endpoint}")
            time.sleep(0.2)

    patch = pytest.MonkeyPatch()
    request.addfinalizer(patch.undo)
    for name, value in CREDENTIALS.items():  # read by boto3 here and by DVC in subprocesses
        patch.setenv(name, value)
    import boto3

    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
    return endpoint


def objects(endpoint: str) -> list[str]:
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint)
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def clone(origin: Path, dest: Path) -> Path:
    run(["git", "clone", "-q", str(origin), str(dest)], origin.parent)
    run(["git", "config", "user.email", "test@example.com"], dest)
    run(["git", "config", "user.name", "test"], dest)
    return dest


@pytest.fixture(scope="module")
def team(s3, tmp_path_factory) -> dict[str, Path]:
    """Alice has run the pipeline and committed its results (a copy of the session's prepared
    fast project: tests/prepared.py), configures the S3 remote and publishes it to origin.

    The tests below run in order and build on each other's state, like tests/test_pipeline_dvc.py.
    """
    root = tmp_path_factory.mktemp("team")
    alice, _ = prepared.clone("fast", root / "alice", tmp_path_factory)  # the fast fixed model
    run(["dvc", "remote", "add", "-d", "storage", f"s3://{BUCKET}/store"], alice)
    run(["dvc", "remote", "modify", "storage", "endpointurl", s3], alice)
    run(["git", "commit", "-q", "-am", "shared S3 remote"], alice)
    assert run(["git", "status", "--porcelain"], alice).stdout == ""
    origin = root / "origin.git"
    run(["git", "clone", "-q", "--bare", str(alice), str(origin)], root)
    run(["git", "remote", "add", "origin", str(origin)], alice)
    return {"root": root, "alice": alice, "origin": origin}


def test_push_then_a_fresh_clone_pulls_everything_and_reruns_nothing(s3, team):
    alice = team["alice"]
    status = run(["tabpipe", "ci", "remote-status"], alice).stdout.strip()
    where = f"DVC remote 'storage' (s3://{BUCKET}/store)"
    assert status == f"{where} is reachable and its credentials are present"
    pushed = run(["tabpipe", "ci", "push"], alice).stdout  # `dvc push --run-cache`
    assert pushed.startswith("pushed outputs and the run cache to 'storage'")
    keys = objects(s3)
    assert any(k.startswith("store/files/md5/") for k in keys)
    assert any(k.startswith("store/runs/") for k in keys)  # the run cache travelled too

    bob = clone(team["origin"], team["root"] / "bob")
    assert not (bob / "models/model.skops").exists()
    pulled = run(["tabpipe", "ci", "pull"], bob).stdout  # `dvc pull --run-cache`
    assert pulled.startswith("pulled data, outputs and the run cache from 'storage'")
    assert (bob / "models/model.skops").exists()
    assert "Data and pipelines are up to date." in run(["dvc", "status"], bob).stdout
    repro = run(["dvc", "repro"], bob)
    assert affected_stages(repro.stdout) == []
    assert "Data and pipelines are up to date." in repro.stdout

    # a parameter change reruns exactly the stages that read it, and what depends on them
    exp = run(["dvc", "exp", "run", "-n", "c-03", "-S", "model.C=0.3"], bob)
    assert affected_stages(exp.stdout) == ["select", "train", "evaluate"]
    team["bob"] = bob


def test_an_experiment_travels_through_git_and_the_s3_remote(s3, team):
    bob = team["bob"]
    shown = json.loads(run(["dvc", "exp", "show", "--json"], bob).stdout)
    bob_auc = roc_auc(shown, "c-03")
    run(["dvc", "exp", "push", "--run-cache", "origin", "c-03"], bob)

    carol = clone(team["origin"], team["root"] / "carol")
    run(["dvc", "exp", "pull", "origin", "c-03"], carol)
    shown = json.loads(run(["dvc", "exp", "show", "--json"], carol).stdout)
    assert roc_auc(shown, "c-03") == bob_auc
    assert params(shown, "c-03")["model"]["C"] == 0.3
    # the experiment's outputs came from the S3 remote: applying it needs no rerun
    run(["dvc", "exp", "apply", "c-03"], carol)
    model = load_model(carol / "models/model.skops").named_steps["model"]
    assert model.C == 0.3
    assert affected_stages(run(["dvc", "repro"], carol).stdout) == []


def find_exp(shown: list, name: str) -> dict:
    for baseline in shown:
        for exp in baseline.get("experiments") or []:
            if exp.get("name") == name:
                return exp["revs"][0]["data"]
    raise AssertionError(f"experiment {name} not in dvc exp show: {json.dumps(shown)[:2000]}")


def roc_auc(shown: list, name: str) -> float:
    metrics = find_exp(shown, name)["metrics"]["metrics/evaluate/metrics.json"]["data"]
    return metrics["test"]["roc_auc"]


def params(shown: list, name: str) -> dict:
    return find_exp(shown, name)["params"]["params.yaml"]["data"]


def test_remote_problems_are_one_line_and_fall_back_to_a_full_rerun(s3, team, tmp_path):
    repo = clone(team["origin"], tmp_path / "fork")
    # no credentials (a pull request from a fork gets no secrets)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["HOME"] = str(tmp_path)  # no ~/.aws/credentials either
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env['PATH']}"
    result = subprocess.run(
        ["tabpipe", "ci", "pull"], cwd=repo, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0
    assert result.stdout.strip() == (
        f"DVC remote 'storage' (s3://{BUCKET}/store): no credentials: set AWS_ACCESS_KEY_ID "
        "and AWS_SECRET_ACCESS_KEY (repository secrets): CI falls back to a full rerun "
        "(`dvc repro` of every stage)"
    )
    # a bucket that does not exist
    run(["dvc", "remote", "modify", "--local", "storage", "url", "s3://no-such-bucket/store"], repo)
    line = run(["tabpipe", "ci", "pull"], repo).stdout.strip()
    assert "unreachable: bucket 'no-such-bucket' does not exist" in line
    assert "full rerun" in line and "\n" not in line
