"""tabpipe.workspace: the last commit put back after a failed stage; one run per workspace."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tabpipe import workspace
from tabpipe.errors import PipelineError


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, check=True, capture_output=True, text=True
    ).stdout


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def put_in_cache(root: Path, data: bytes) -> str:
    digest = md5(data)
    path = workspace.cache_file(root / ".dvc/cache", digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return digest


@pytest.fixture
def repo(tmp_path) -> Path:
    """A committed project: a model and a directory of features in DVC's cache, metrics in Git."""
    root = tmp_path
    (root / ".dvc/tmp").mkdir(parents=True)
    model, feature = b"model-v1", b"features-v1"
    model_md5 = put_in_cache(root, model)
    feature_md5 = put_in_cache(root, feature)
    manifest = json.dumps([{"md5": feature_md5, "relpath": "train.parquet"}]).encode()
    dir_md5 = md5(manifest) + ".dir"
    path = workspace.cache_file(root / ".dvc/cache", dir_md5)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(manifest)
    (root / "models").mkdir()
    (root / "models/model.skops").write_bytes(model)
    (root / "data/features").mkdir(parents=True)
    (root / "data/features/train.parquet").write_bytes(feature)
    (root / "metrics/train/plots").mkdir(parents=True)
    (root / "metrics/train/metrics.json").write_text('{"score": 0.8}\n')
    (root / "metrics/train/plots/trials.json").write_text("[]\n")
    (root / "params.yaml").write_text("model:\n  C: 1.0\n")
    lock = {
        "schema": "2.0",
        "stages": {
            "featurize": {"outs": [{"path": "data/features", "md5": dir_md5}]},
            "train": {
                "outs": [
                    {"path": "models/model.skops", "md5": model_md5},
                    {"path": "metrics/train/metrics.json", "md5": "x"},
                    {"path": "metrics/train/plots", "md5": "y.dir"},
                ]
            },
        },
    }
    (root / "dvc.lock").write_text(yaml.safe_dump(lock))
    (root / ".gitignore").write_text("/models/\n/data/\n/.dvc/cache/\n/.dvc/tmp/\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "t@example.com")
    git(root, "config", "user.name", "t")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    return root


def test_a_failed_run_gets_the_committed_outputs_back(repo):
    # what DVC and a failing train leave: outputs deleted, params and lock changed
    (repo / "models/model.skops").unlink()
    (repo / "data/features/train.parquet").write_bytes(b"half-written")
    (repo / "metrics/train/metrics.json").unlink()
    (repo / "metrics/train/plots/new.json").write_text("{}")
    (repo / "params.yaml").write_text("model:\n  C: abc\n")
    (repo / "dvc.lock").write_text("schema: '2.0'\n")
    restored, missing, head = workspace.restore_committed(repo)
    assert head == git(repo, "rev-parse", "--short", "HEAD").strip()
    assert missing == []
    assert set(restored) == {
        "params.yaml",
        "dvc.lock",
        "models/model.skops",
        "data/features",
        "metrics/train/metrics.json",
        "metrics/train/plots",
    }
    assert (repo / "models/model.skops").read_bytes() == b"model-v1"
    assert (repo / "data/features/train.parquet").read_bytes() == b"features-v1"
    assert git(repo, "status", "--porcelain") == ""  # new.json removed, the rest as committed


def test_nothing_to_restore_says_nothing(repo):
    assert workspace.restore_committed(repo)[0] == []
    assert workspace.restore_line("train", repo) is None


def test_an_output_missing_from_the_cache_is_named(repo):
    for path in (repo / ".dvc/cache").rglob("*"):
        if path.is_file() and path.read_bytes() == b"model-v1":
            path.unlink()
    (repo / "models/model.skops").unlink()
    line = workspace.restore_line("train", repo)
    assert line.startswith("restored: [train]")
    assert "not in DVC's cache (rebuild with `dvc repro`): models/model.skops" in line


def test_outside_a_git_repository_nothing_is_restored(tmp_path):
    assert workspace.restore_committed(tmp_path) is None


def test_the_index_is_left_alone(repo):
    (repo / "params.yaml").write_text("model:\n  C: 2.0\n")
    git(repo, "add", "params.yaml")  # staged by the user (or DVC's autostage)
    (repo / "params.yaml").write_text("model:\n  C: abc\n")
    workspace.restore_committed(repo)
    assert (repo / "params.yaml").read_text() == "model:\n  C: 1.0\n"
    assert "C: 2.0" in git(repo, "show", ":params.yaml")


HOLD = """
import sys, time
sys.path.insert(0, {src!r})
import os
os.chdir({root!r})
from tabpipe import workspace
workspace.hold_run_lock("train")
print("held", flush=True)
time.sleep(30)
"""


def test_a_second_run_is_refused_while_a_stage_holds_the_lock(repo):
    src = str(Path(workspace.__file__).parents[1])
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD.format(src=src, root=str(repo))],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert f"PID {holder.pid}" in workspace.busy(repo)
        with pytest.raises(PipelineError) as err:
            workspace.refuse_if_busy("`make run`", repo)
        assert "another run is using this workspace" in str(err.value)
        assert "dvc exp run --queue" in str(err.value)
    finally:
        holder.kill()
        holder.wait()
    assert workspace.busy(repo) is None  # the lock goes with the process, even when killed


def test_cache_dir_follows_the_dvc_config(tmp_path):
    (tmp_path / ".dvc").mkdir()
    assert workspace.cache_dir(tmp_path) == tmp_path / ".dvc/cache"
    (tmp_path / ".dvc/config").write_text("[cache]\n    dir = ../elsewhere\n")
    assert workspace.cache_dir(tmp_path) == (tmp_path / "elsewhere").resolve()


def test_a_same_size_rewrite_right_after_the_commit_is_seen(repo):
    # `C: abc` and `C: 1.0` have one size: within the index's second, `git status` misses it
    (repo / "params.yaml").write_text("model:\n  C: abc\n")
    restored, _, _ = workspace.restore_committed(repo)
    assert restored == ["params.yaml"]
    assert (repo / "params.yaml").read_text() == "model:\n  C: 1.0\n"


def _fool_git(path: Path, content: bytes) -> bool:
    """Rewrite `path` in place, same size, keeping the inode and the timestamps the index holds;
    True when `git diff` no longer sees the change (git compares timestamps in seconds)."""
    root = path.parent
    past = path.stat().st_mtime_ns - 10**10
    os.utime(path, ns=(past, past))
    git(root, "update-index", "-q", "--refresh")  # the index now stamps the file with `past`
    with open(path, "r+b") as handle:
        handle.write(content)
    os.utime(path, ns=(past, past))
    diff = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", path.name], cwd=root)
    return diff.returncode == 0


def test_a_rewrite_the_index_stamps_as_unchanged_is_still_put_back(repo):
    # what DVC's stash apply left behind in CI: params.yaml rewritten within the second the
    # index recorded, so `git restore` and `git diff` both took it for the committed file
    committed = (repo / "params.yaml").read_bytes()
    for _ in range(3):  # the ctime's second can turn between the refresh and the rewrite
        if _fool_git(repo / "params.yaml", b"model:\n  C: abc\n"):
            break
        (repo / "params.yaml").write_bytes(committed)
    else:
        pytest.fail("could not make git take a changed file for the committed one")
    assert workspace.differs_from_head(repo) == ["params.yaml"]
    restored, _, _ = workspace.restore_committed(repo)
    assert restored == ["params.yaml"]
    assert (repo / "params.yaml").read_bytes() == committed
    assert workspace.differs_from_head(repo) == []


def _running_as_dvc(tmp: Path, where: str) -> subprocess.Popen:
    """A live process recorded where DVC records its runs: `rwlock` or the exp run's PID file."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    if where == "rwlock":
        record = tmp / "rwlock"
        content = {"write": {"models": {"pid": proc.pid, "cmd": "dvc repro"}}, "read": {}}
    else:
        record = tmp / workspace.EXP_RUN_INFO
        content = {"pid": proc.pid, "stdin": None, "stdout": None, "stderr": None}
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(content))
    return proc


@pytest.mark.parametrize("where", ["rwlock", "exp-run"])
def test_a_run_between_dvc_and_its_stage_is_seen_without_the_lock(repo, where):
    # DVC lets go of its lock before a stage's command starts; the stage takes it a moment
    # later. A `make run` in that moment saw a free workspace and refused on params.yaml instead.
    proc = _running_as_dvc(repo / ".dvc/tmp", where)
    try:
        assert f"PID {proc.pid}" in workspace.busy(repo)
        with pytest.raises(PipelineError, match="another run is using this workspace"):
            workspace.refuse_if_busy("`make run`", repo)
    finally:
        proc.kill()
        proc.wait()
    assert workspace.busy(repo) is None  # a dead PID left in DVC's records is not a run
