"""The CI workflow's steps (`tabpipe ci ...`), run here as CI runs them.

GitHub Actions itself cannot run here, so: the workflow is validated offline (GitHub's schema,
zizmor's audit) and its structure checked; every command it calls is run against real inputs
(Git repositories with committed and regenerated lock files, a local stand-in for GitHub's
comments API on 127.0.0.1, DVC repositories with missing, unreachable and credential-less
remotes). The S3 round trip is in tests/test_remote.py.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import yaml

from tabpipe.project import ci, lockdiff
from tests.dvc_repo import PROJECT, VENV_BIN, copy_project, env

WORKFLOW = PROJECT / ".github" / "workflows" / "ci.yaml"
TABPIPE = str(VENV_BIN / "tabpipe")


def tabpipe(args: list[str], cwd: Path, extra_env: dict[str, str] | None = None, drop=()):
    run_env = {**env(), **(extra_env or {})}
    for name in drop:
        run_env.pop(name, None)
    return subprocess.run([TABPIPE, *args], cwd=cwd, env=run_env, capture_output=True, text=True)


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout


# ------------------------------------------------------------------------------- the workflow


@pytest.fixture(scope="module")
def workflow() -> dict:
    # PyYAML reads the key `on` as True
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def test_workflow_passes_githubs_schema_and_zizmors_audit():
    schema = subprocess.run(
        [VENV_BIN / "check-jsonschema", "--builtin-schema", "vendor.github-workflows", WORKFLOW],
        capture_output=True,
        text=True,
    )
    assert schema.returncode == 0, schema.stdout + schema.stderr
    audit = subprocess.run(
        [VENV_BIN / "zizmor", "--offline", WORKFLOW], capture_output=True, text=True
    )
    assert audit.returncode == 0, audit.stdout + audit.stderr


def test_workflow_triggers_permissions_and_concurrency(workflow):
    assert set(workflow[True]) == {"pull_request", "push", "workflow_dispatch"}
    assert workflow[True]["push"]["branches"] == ["main"]
    assert workflow["permissions"] == {}  # nothing by default; each job asks for its own
    jobs = workflow["jobs"]
    assert set(jobs) >= {"test", "reproduce", "comment"}
    writers = [name for name, job in jobs.items() if "write" in job["permissions"].values()]
    assert writers == ["publish-plots", "comment"]
    assert jobs["publish-plots"]["permissions"] == {"contents": "write"}
    assert jobs["comment"]["permissions"]["pull-requests"] == "write"
    assert "pull_request" in jobs["comment"]["if"]
    assert "pull_request.number" in workflow["concurrency"]["group"]
    assert "pull_request" in str(workflow["concurrency"]["cancel-in-progress"])


def test_every_action_is_pinned_to_a_commit_and_checkouts_keep_no_credentials(workflow):
    lines = WORKFLOW.read_text(encoding="utf-8").splitlines()
    uses = [line.strip() for line in lines if "uses:" in line]
    assert uses
    for line in uses:
        assert re.search(r"uses: [\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$", line), line
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False


def test_reproduce_job_runs_the_documented_steps_in_order(workflow):
    steps = workflow["jobs"]["reproduce"]["steps"]
    checkout = steps[0]
    assert checkout["with"]["fetch-depth"] == 0
    runs = [step.get("run", "") for step in steps]
    order = ["tabpipe ci pull", "dvc repro", "make report", "tabpipe ci check-lock"]
    positions = [next(i for i, r in enumerate(runs) if cmd in r) for cmd in order]
    assert positions == sorted(positions)
    push = next(step for step in steps if "tabpipe ci push" in step.get("run", ""))
    assert "refs/heads/main" in push["if"]
    uploads = [step["with"]["path"] for step in steps if "upload-artifact" in step.get("uses", "")]
    assert "dvc_plots/" in uploads
    test_runs = " ".join(s.get("run", "") for s in workflow["jobs"]["test"]["steps"])
    assert "make test" in test_runs and "make lint" in test_runs
    for job in ("test", "reproduce"):
        uv = next(s for s in workflow["jobs"][job]["steps"] if "setup-uv" in s.get("uses", ""))
        assert uv["with"]["cache-dependency-glob"] == "uv.lock"


# ------------------------------------------------------------------------------- lock files


def lock(**stages) -> dict:
    return {"schema": "2.0", "stages": stages}


def entry(params: dict | None = None, deps: dict | None = None, outs: dict | None = None):
    return {
        "cmd": "python -m x",
        "deps": [{"path": p, "hash": "md5", "md5": h} for p, h in (deps or {}).items()],
        "params": {"params.yaml": params or {}},
        "outs": [{"path": p, "hash": "md5", "md5": h} for p, h in (outs or {}).items()],
    }


def test_lockdiff_names_params_deps_and_outputs_that_moved():
    old = lock(
        balance=entry({"balance": {"k_neighbors": 5, "sampling_strategy": 0.5}}, {"a": "1"}),
        train=entry({"model": {"C": 1.0}}, {"b": "1"}, {"m": "1"}),
        gone=entry(),
        evaluate=entry({}, {"m": "1"}, {"e.json": "1"}),
    )
    new = lock(
        balance=entry({"balance": {"k_neighbors": 3, "sampling_strategy": 0.5}}, {"a": "1"}),
        train=entry({"model": {"C": 1.0}}, {"b": "2"}, {"m": "2"}),
        evaluate=entry({}, {"m": "1"}, {"e.json": "2"}),
        fresh=entry(),
    )
    changes = {c.stage: c for c in lockdiff.compare(old, new)}
    assert list(changes) == ["balance", "train", "evaluate", "fresh", "gone"]
    assert changes["balance"].params == {"balance.k_neighbors": (5, 3)}
    assert changes["balance"].reason() == "params balance.k_neighbors 5 -> 3"
    assert changes["train"].deps == ["b"] and changes["train"].outs == ["m"]
    assert not changes["evaluate"].inputs_changed  # same inputs, new output
    assert "same inputs, different outputs: e.json" in changes["evaluate"].reason()
    assert changes["fresh"].added and changes["gone"].removed
    assert lockdiff.compare(old, old) == []


def test_lockdiff_lists_stages_in_the_pipelines_order_not_the_locks(tmp_path):
    """DVC appends a stage added later at the end of dvc.lock (the committed lock lists check
    and select after evaluate): the report names stages in dvc.yaml's order."""
    old = lock(train=entry({"model": {"C": 1.0}}), check=entry({"model": {"C": 1.0}}))
    new = lock(train=entry({"model": {"C": 0.3}}), check=entry({"model": {"C": 0.3}}))
    (tmp_path / "dvc.yaml").write_text(
        yaml.safe_dump({"stages": {"check": {}, "train": {}}}, sort_keys=False)
    )
    order = lockdiff.pipeline_order(tmp_path)
    assert order == ["check", "train"] and lockdiff.pipeline_order(tmp_path / "none") == []
    assert [c.stage for c in lockdiff.compare(old, new, order=order)] == ["check", "train"]
    assert [c.stage for c in lockdiff.compare(old, new)] == ["train", "check"]


DVC_YAML = {
    "stages": {
        "train": {
            "cmd": "python -m x.train",
            "params": ["model"],
            "outs": ["models/model.joblib"],
            "metrics": [{"metrics/train.json": {"cache": False}}],
        },
        "evaluate": {
            "cmd": "python -m x.evaluate",
            "deps": ["models/model.joblib"],
            "metrics": [{"metrics/evaluate/metrics.json": {"cache": False}}],
            "plots": [{"metrics/evaluate/plots": {"cache": False}}],
        },
    }
}


@pytest.fixture
def results_repo(tmp_path) -> Path:
    """A Git repository with a dvc.yaml, a dvc.lock and metric files committed (no DVC run)."""
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(DVC_YAML, sort_keys=False))
    committed = lock(
        train=entry({"model": {"C": 1.0}}, {"features": "f1"}, {"models/model.joblib": "m1"}),
        evaluate=entry({}, {"models/model.joblib": "m1"}, {"metrics/evaluate/metrics.json": "e1"}),
    )
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(committed, sort_keys=False))
    (tmp_path / "metrics/evaluate").mkdir(parents=True)
    (tmp_path / "metrics/evaluate/metrics.json").write_text('{"test": {"roc_auc": 0.84}}\n')
    (tmp_path / "metrics/train.json").write_text('{"rows": 10}\n')
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "results")
    return tmp_path


def rewrite_lock(repo: Path, edit) -> None:
    data = yaml.safe_load((repo / "dvc.lock").read_text())
    edit(data["stages"])
    (repo / "dvc.lock").write_text(yaml.safe_dump(data, sort_keys=False))


def test_check_lock_passes_when_the_results_match_the_commit(results_repo):
    result = tabpipe(["ci", "check-lock"], results_repo)
    assert result.returncode == 0, result.stderr
    assert "match the commit" in one_line(result.stdout)


def test_check_lock_names_the_stale_stages_and_the_fix(results_repo):
    # what `dvc repro` leaves when the author changed model.C but committed the old results
    def edit(stages):
        stages["train"]["params"]["params.yaml"]["model"]["C"] = 0.3
        stages["train"]["outs"][0]["md5"] = "m2"
        stages["evaluate"]["deps"][0]["md5"] = "m2"
        stages["evaluate"]["outs"][0]["md5"] = "e2"

    rewrite_lock(results_repo, edit)
    (results_repo / "metrics/evaluate/metrics.json").write_text('{"test": {"roc_auc": 0.85}}\n')
    result = tabpipe(["ci", "check-lock"], results_repo)
    assert result.returncode == 1
    line = one_line(result.stderr)
    assert line.startswith("error: [ci] case: different: dvc.lock and metrics/ differ")
    assert "first: [train] models/model.joblib: md5 m1" in line
    assert "train (params model.C 1.0 -> 0.3)" in line
    assert "evaluate (deps models/model.joblib)" in line
    assert "not reproducible" not in line
    assert line.endswith("Fix: run `make run`, then commit dvc.lock and metrics/")


def test_check_lock_calls_a_stage_with_unchanged_inputs_not_reproducible(results_repo):
    rewrite_lock(results_repo, lambda s: s["evaluate"]["outs"][0].update(md5="e-other"))
    (results_repo / "metrics/evaluate/metrics.json").write_text('{"test": {"roc_auc": 0.83}}\n')
    line = one_line(tabpipe(["ci", "check-lock"], results_repo).stderr)
    assert "not reproducible (same inputs, new outputs): evaluate" in line
    assert "make those stages deterministic" in line


def test_check_lock_says_when_the_numbers_agree_within_tolerance_only(results_repo):
    # another machine's kernels: same inputs, bytes differ in the 14th digit
    rewrite_lock(results_repo, lambda s: s["evaluate"]["outs"][0].update(md5="e-other"))
    (results_repo / "metrics/evaluate/metrics.json").write_text(
        '{"test": {"roc_auc": 0.84000000000001}}\n'
    )
    result = tabpipe(["ci", "check-lock"], results_repo)
    assert result.returncode == 1
    line = one_line(result.stderr)
    assert line.startswith("error: [ci] case: within tolerance:")
    assert "agree to 1e-9 but not bit for bit" in line


def test_check_lock_catches_a_metric_file_left_out_of_the_commit(results_repo):
    (results_repo / "metrics/evaluate/plots").mkdir()
    (results_repo / "metrics/evaluate/plots/roc.json").write_text("[]\n")  # untracked
    result = tabpipe(["ci", "check-lock"], results_repo)
    assert result.returncode == 1
    line = one_line(result.stderr)
    assert "evaluate (metrics/evaluate/plots/roc.json differs from the committed file)" in line


# ------------------------------------------------------------------------------- remotes


def test_missing_credentials_per_kind_of_remote(tmp_path):
    home = {"HOME": str(tmp_path)}  # no ~/.aws, ~/.ssh, gcloud files
    assert "AWS_ACCESS_KEY_ID" in ci.missing_credentials("s3", {}, home)
    # a fork's run: the secrets exist as names but are empty
    fork = {**home, "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}
    assert ci.missing_credentials("s3", {}, fork) is not None
    keys = {**home, "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}
    assert ci.missing_credentials("s3", {}, keys) is None
    assert ci.missing_credentials("s3", {"profile": "team"}, home) is None
    assert "GOOGLE_APPLICATION_CREDENTIALS" in ci.missing_credentials("gs", {}, home)
    gcs = {**home, "GOOGLE_APPLICATION_CREDENTIALS": "/k.json"}
    assert ci.missing_credentials("gs", {}, gcs) is None
    assert "AZURE_STORAGE_CONNECTION_STRING" in ci.missing_credentials("azure", {}, home)
    assert ci.missing_credentials("azure", {"connection_string": "x"}, home) is None
    assert "ssh-agent" in ci.missing_credentials("ssh", {}, home)
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh/id_ed25519").write_text("key")
    assert ci.missing_credentials("ssh", {}, home) is None
    assert ci.missing_credentials("local", {}, home) is None


@pytest.fixture
def dvc_repo(tmp_path) -> Path:
    git(tmp_path, "init", "-q")
    subprocess.run([VENV_BIN / "dvc", "init", "-q"], cwd=tmp_path, check=True, env=env())
    return tmp_path


def dvc(repo: Path, *args: str) -> None:
    subprocess.run([VENV_BIN / "dvc", *args], cwd=repo, check=True, env=env(), capture_output=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


AWS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN")


def test_no_remote_means_one_line_and_a_full_rerun(dvc_repo):
    for action in ("remote-status", "pull", "push"):
        result = tabpipe(["ci", action], dvc_repo)
        assert result.returncode == 0, result.stderr
        line = one_line(result.stdout)
        assert line.startswith("no DVC remote configured")
    assert "full rerun" in one_line(tabpipe(["ci", "pull"], dvc_repo).stdout)


def test_missing_credentials_means_one_line_and_a_full_rerun(dvc_repo, tmp_path_factory):
    dvc(dvc_repo, "remote", "add", "-d", "storage", "s3://team-bucket/dvc")
    home = {"HOME": str(tmp_path_factory.mktemp("home"))}
    result = tabpipe(["ci", "pull"], dvc_repo, {**home, "AWS_ACCESS_KEY_ID": ""}, drop=AWS)
    assert result.returncode == 0
    line = one_line(result.stdout)
    assert line.startswith("DVC remote 'storage' (s3://team-bucket/dvc): no credentials")
    assert "full rerun" in line


def test_unreachable_remote_means_one_line_and_a_full_rerun(dvc_repo, tmp_path_factory):
    dvc(dvc_repo, "remote", "add", "-d", "storage", "s3://team-bucket/dvc")
    dvc(dvc_repo, "remote", "modify", "storage", "endpointurl", f"http://127.0.0.1:{free_port()}")
    # one connection attempt: botocore's retries with back-off took 10 s to give the same error
    creds = {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AWS_MAX_ATTEMPTS": "1"}
    result = tabpipe(["ci", "remote-status", "--timeout", "25"], dvc_repo, creds)
    assert result.returncode == 0
    line = one_line(result.stdout)
    assert "(s3://team-bucket/dvc): unreachable (EndpointConnectionError" in line
    assert "full rerun" in line


def test_a_local_remote_is_ready_and_status_reaches_github_output(dvc_repo, tmp_path):
    dvc(dvc_repo, "remote", "add", "-d", "shared", str(tmp_path / "store"))
    out = tmp_path / "github_output"
    result = tabpipe(["ci", "remote-status"], dvc_repo, {"GITHUB_OUTPUT": str(out)})
    assert "is reachable" in one_line(result.stdout)
    assert out.read_text() == "remote=ready\n"


def probe_raising(error: Exception) -> str | None:
    """What `_probe` says of an S3 remote whose bucket listing raises `error`."""

    class Remote:
        path = "bucket/dvc"

        class fs:  # noqa: N801 - stands in for DVC's filesystem wrapping an fsspec one
            class fs:  # noqa: N801
                @staticmethod
                def ls(path, detail=False):
                    raise error

    class Repo:
        class cloud:  # noqa: N801
            @staticmethod
            def get_remote(name):
                return Remote()

    return ci._probe(Repo(), "storage", "s3", timeout=5)


class EndpointConnectionError(Exception):
    """botocore's name for "nothing answered at the endpoint"."""


def test_the_credentials_check_sees_a_rejected_key():
    problem = probe_raising(PermissionError("InvalidAccessKeyId: the key does not exist"))
    assert problem.startswith("credentials rejected")
    refused = OSError("An error occurred (403) when calling the ListObjectsV2 operation")
    assert probe_raising(refused).startswith("credentials rejected")


@pytest.mark.parametrize("error", [EndpointConnectionError, OSError])
def test_a_port_with_403_in_it_is_not_a_refused_key(error):
    """CI once said "credentials rejected" for an endpoint nobody listened on: its port held
    the digits 403."""
    url = "http://127.0.0.1:40312/team-bucket?list-type=2"
    problem = probe_raising(error(f'Could not connect to the endpoint URL: "{url}"'))
    assert problem.startswith(f"unreachable ({error.__name__}: Could not connect"), problem


# ------------------------------------------------------------------------------- base revision


def test_report_base_for_each_event(results_repo, monkeypatch):
    monkeypatch.chdir(results_repo)
    head = git(results_repo, "rev-parse", "HEAD").strip()
    pr = {"GITHUB_EVENT_NAME": "pull_request", "GITHUB_BASE_REF": "main"}
    assert ci.report_base(pr) == "origin/main"
    assert ci.report_base({"GITHUB_EVENT_NAME": "push", "BEFORE_SHA": head}) == head
    new_branch = {"GITHUB_EVENT_NAME": "push", "BEFORE_SHA": "0" * 40}
    assert ci.report_base(new_branch) == "HEAD~1"
    forced = {"GITHUB_EVENT_NAME": "push", "BEFORE_SHA": "1" * 40}  # not in this history
    assert ci.report_base(forced) == "HEAD~1"
    assert ci.report_base({"GITHUB_EVENT_NAME": "workflow_dispatch"}) == "HEAD~1"


# ------------------------------------------------------------------------------- comment


class FakeGitHub(BaseHTTPRequestHandler):
    """Just enough of GitHub's issue-comments API: list (paged), create, update."""

    comments: list[dict] = []
    status = 200

    def _send(self, code: int, payload) -> None:
        body = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> dict:
        return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

    def do_GET(self):  # noqa: N802
        url = urlparse(self.path)
        query = parse_qs(url.query)
        per_page, page = int(query["per_page"][0]), int(query["page"][0])
        assert url.path == "/repos/team/tabpipe/issues/7/comments"
        self._send(self.status, self.comments[(page - 1) * per_page : page * per_page])

    def do_POST(self):  # noqa: N802
        assert self.headers["Authorization"] == "Bearer secret-token"
        if self.status != 200:
            return self._send(self.status, {"message": "Resource not accessible by integration"})
        comment = {"id": 1000 + len(self.comments), "body": self._body()["body"]}
        self.comments.append(comment)
        self._send(201, comment)

    def do_PATCH(self):  # noqa: N802
        number = int(self.path.rsplit("/", 1)[1])
        comment = next(c for c in self.comments if c["id"] == number)
        comment["body"] = self._body()["body"]
        self._send(200, comment)

    def log_message(self, *args):
        pass


@pytest.fixture
def github():
    FakeGitHub.comments = [{"id": i, "body": f"review comment {i}"} for i in range(150)]
    FakeGitHub.status = 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeGitHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_comment_is_posted_once_then_updated_in_place(github, tmp_path):
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 7}}))
    actions_env = {
        "GITHUB_TOKEN": "secret-token",
        "GITHUB_REPOSITORY": "team/tabpipe",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_API_URL": github,
    }
    report = tmp_path / "report.md"
    args = ["ci", "comment", "--body", str(report), "--footer", "Plots: artifact dvc-plots"]
    for auc in ("0.8421", "0.8455"):
        report.write_text(f"{ci.MARKER}\n## Pipeline report\n\nroc_auc {auc}\n")
        # as the workflow's comment job runs it: a bare Python (-S: no site-packages) and src/
        result = subprocess.run(
            [sys.executable, "-S", "-m", "tabpipe.cli", *args],
            cwd=tmp_path,
            env={**actions_env, "PYTHONPATH": str(PROJECT / "src"), "PATH": os.environ["PATH"]},
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr
        one_line(result.stdout)
    ours = [c for c in FakeGitHub.comments if ci.MARKER in c["body"]]
    assert len(ours) == 1  # the second push updated it; the 150 others are untouched
    assert "roc_auc 0.8455" in ours[0]["body"] and "0.8421" not in ours[0]["body"]
    assert ours[0]["body"].rstrip().endswith("Plots: artifact dvc-plots")
    assert len(FakeGitHub.comments) == 151
    assert "updated the report comment on pull request #7" in result.stdout


def test_comment_from_a_fork_without_write_access_is_one_line_not_a_failure(github):
    FakeGitHub.status = 403
    FakeGitHub.comments = []
    message = ci.post_comment(f"{ci.MARKER}\nreport", "team/tabpipe", 7, "secret-token", github)
    assert message.startswith("could not comment on pull request #7 (HTTP 403")


# ------------------------------------------------------------------------------- hooks


def test_check_yaml_names_the_file_and_line(tmp_path):
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("a: 1\nb: [1, 2]\n")
    bad.write_text("a: 1\nb: [1, 2\nc: 3\n")
    result = tabpipe(["ci", "check-yaml", str(good), str(bad)], tmp_path)
    assert result.returncode == 1
    line = one_line(result.stderr)
    assert re.match(rf"error: \[yaml\] {re.escape(str(bad))}:\d+:\d+: ", line)
    assert tabpipe(["ci", "check-yaml", str(good)], tmp_path).returncode == 0


def test_pre_commit_hook_refuses_params_that_drifted_from_conf(tmp_path):
    repo = copy_project(tmp_path / "repo")
    (repo / ".venv").symlink_to(Path(sys.executable).parents[1])  # the hooks call .venv/bin/...
    hook_env = {**env(), "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}
    hook = [VENV_BIN / "pre-commit", "run", "params-match-conf", "--all-files"]
    ok = subprocess.run(hook, cwd=repo, env=hook_env, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    params = repo / "params.yaml"
    params.write_text(params.read_text().replace("C: 1.0", "C: 0.3"))
    drift = subprocess.run(hook, cwd=repo, env=hook_env, capture_output=True, text=True)
    assert drift.returncode == 1
    assert "model.C (conf/: 1.0, params.yaml: 0.3)" in drift.stdout
    assert "`make params`" in drift.stdout and "`make adopt`" in drift.stdout
    assert os.path.islink(repo / ".venv")


def test_check_code_names_a_tracked_dependency_changed_since_the_lock(tmp_path):
    import hashlib

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    (tmp_path / "train.py").write_text("fit()\n")
    (tmp_path / "data.csv").write_text("a,b\n")  # a data dependency: DVC's, not Git's
    lock = {
        "schema": "2.0",
        "stages": {
            "train": {
                "deps": [
                    {"path": "train.py", "md5": hashlib.md5(b"fit()\n").hexdigest()},
                    {"path": "data.csv", "md5": "0" * 32},
                ]
            }
        },
    }
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock))
    git("init", "-q")
    git("add", "train.py", "dvc.lock")
    assert ci.stale_code(tmp_path) == []  # data.csv differs from its md5 but is not Git's
    (tmp_path / "train.py").write_text("fit(again=True)\n")
    assert ci.stale_code(tmp_path) == ["train: train.py"]


def test_the_committed_lock_records_the_committed_code():
    assert ci.stale_code(PROJECT) == []
