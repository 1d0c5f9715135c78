"""Failed, interrupted and concurrent runs through DVC keep the last committed results.

One shared copy of the project, trained and committed once. Mechanism 1, the check stage:
a bad value stops the run before any stage deletes an output. Mechanism 2, the restore in
every stage DVC runs: a failure the config cannot reveal (the data) puts the last commit
back. A stage holds DVC's lock while it runs, so a second run is refused at once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tabpipe import workspace
from tests.dvc_repo import back_to_head, env, run
from tests.prepared import clone

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    return clone("fast", tmp_path_factory.mktemp("failed_runs") / "repo", tmp_path_factory)[0]


def assert_as_committed(repo: Path) -> None:
    # the working tree as committed, by content: `git diff` trusts the index's timestamps and
    # missed a params.yaml DVC rewrote within their second (DVC's autostage may also have
    # staged its own lock in the index)
    assert workspace.differs_from_head(repo) == []
    assert run(["git", "ls-files", "--others", "--exclude-standard"], repo).stdout == ""
    status = run(["dvc", "status"], repo).stdout
    assert "up to date" in status, status
    assert not list(repo.rglob("*.tmp")), "temporary files left"


def test_a_bad_value_is_stopped_by_the_check_stage_before_anything_is_deleted(repo):
    result = run(["dvc", "exp", "run", "-S", "model.C=abc"], repo, check=False)
    assert result.returncode != 0
    assert "error: [check] params.yaml: bad value for model.C" in result.stderr
    assert "Running stage 'select'" not in result.stdout
    assert_as_committed(repo)


def test_a_failure_inside_a_stage_restores_the_last_commit(repo):
    # the config is valid; only the training rows show that k_neighbors is too large (in the
    # select stage's folds, resampled as balance would)
    result = run(["dvc", "exp", "run", "-S", "balance.k_neighbors=3000"], repo, check=False)
    assert result.returncode != 0
    assert "error: [select]" in result.stderr and "k_neighbors" in result.stderr
    assert "restored: [select] the run failed; put back as in the last commit" in result.stdout
    assert_as_committed(repo)


def test_a_second_run_is_refused_and_the_first_finishes(repo):
    first = subprocess.Popen(
        ["dvc", "exp", "run", "-S", "model.C=0.5"],
        cwd=repo,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        seen = ""
        while "Running stage" not in seen and first.poll() is None:
            seen += first.stdout.readline()
        # DVC's lock, a stage's, or neither for the moment between them: refused all the same
        second = run(["make", "-o", "setup", "run"], repo, check=False)
        out, _ = first.communicate(timeout=300)
        assert first.returncode == 0, seen + out
        assert second.returncode != 0
        assert "another run is using this workspace" in second.stderr + second.stdout
    finally:  # the next tests start from the commit, whatever happened here
        first.kill()
        first.wait()
        back_to_head(repo)
    assert_as_committed(repo)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_in_train_leaves_no_temporary_file_and_the_next_run_succeeds(repo, sig):
    proc = subprocess.Popen(
        ["dvc", "exp", "run", "-S", "tune=random", "-S", "tune.n_trials=200"],
        cwd=repo,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    deadline = time.time() + 120
    seen = ""
    while time.time() < deadline:
        line = proc.stdout.readline()
        seen += line
        if "tune:" in line or "trial" in line:
            break
    time.sleep(2)
    os.killpg(proc.pid, sig)
    out, _ = proc.communicate(timeout=120)
    seen += out
    assert proc.returncode != 0
    assert "Traceback" not in seen, seen
    assert f"interrupted ({sig.name})" in seen or sig == signal.SIGTERM, seen
    assert_as_committed(repo)
    assert run(["dvc", "repro"], repo).returncode == 0
