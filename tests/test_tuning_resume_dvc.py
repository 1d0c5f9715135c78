"""Ctrl-C and SIGTERM in the middle of a tuning search, through `dvc repro`: the next run
resumes from the finished trials and ends with the uninterrupted run's choice, byte for byte.

A copy of the prepared fast project with a small search committed as its config (histogram
gradient boosting, 8 TPE trials on 3 folds: about a second a trial here). The signal goes to
the run's process group (as Ctrl-C in a terminal does) once the search's log
(.tabpipe/tuning/<key>.jsonl) holds two finished trials. Then: no temporary file, DVC's lock
free, the log still there; the next `dvc repro select` says it resumes, asks only the rest,
removes the log and writes the same data/select/ and metrics/select/ as a run never
interrupted, in another copy.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tabpipe import workspace
from tests.dvc_repo import env, run
from tests.prepared import clone

pytestmark = pytest.mark.slow

SEARCH = ["model=hist_gradient_boosting", "tune=bayesian", "tune.n_trials=8", "cv.folds=3"]
OUTPUTS = ("data/select", "metrics/select")
TRIAL_LINE = '"op_code":4,'  # Optuna's journal: one such line per trial written


@pytest.fixture(scope="module")
def committed(tmp_path_factory) -> Path:
    """The fast project with the small search as its committed config (a failed or
    interrupted stage puts the last commit back, so the config must be in it)."""
    root = clone("fast", tmp_path_factory.mktemp("resume") / "base", tmp_path_factory)[0]
    run(["tabpipe", "config", "compose", *SEARCH], root)
    run(["git", "commit", "-qam", "a small tuning search"], root)
    return root


def copy_of(committed: Path, dest: Path) -> Path:
    return Path(shutil.copytree(committed, dest, symlinks=True))


def outputs(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for top in OUTPUTS
        for path in sorted((root / top).rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def uninterrupted(committed, tmp_path_factory) -> dict[str, bytes]:
    root = copy_of(committed, tmp_path_factory.mktemp("resume") / "uninterrupted")
    result = run(["dvc", "repro", "select"], root)
    assert result.stdout.count("tune: trial ") == 8, result.stdout
    assert not (root / ".tabpipe").exists()  # a finished search removes its log
    return outputs(root)


def finished_trials(root: Path) -> int:
    logs = list((root / ".tabpipe/tuning").glob("*.jsonl"))
    return sum(log.read_text(encoding="utf-8").count(TRIAL_LINE) for log in logs)


def leftovers(root: Path) -> list[str]:
    """Temporary files of tabpipe's atomic writes, and anything beside the search's journal
    (Optuna's lock, `<journal>.lock`, while it appends a trial)."""
    found = list(root.rglob("*.tmp"))
    if (root / ".tabpipe").exists():
        found += [p for p in (root / ".tabpipe").rglob("*") if p.suffix not in ("", ".jsonl")]
    return sorted(str(p.relative_to(root)) for p in found)


def wait_for_group(pgid: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        assert time.monotonic() < deadline, f"process group {pgid} still running"
        time.sleep(0.05)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_search_resumes_and_ends_as_an_uninterrupted_one(
    committed, uninterrupted, tmp_path, sig
):
    root = copy_of(committed, tmp_path / "repo")
    log_file = tmp_path / "first.log"
    with open(log_file, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(
            ["dvc", "repro", "select"],
            cwd=root,
            env=env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group, signalled as a terminal would
        )
        try:
            deadline = time.monotonic() + 180
            while not (root / ".tabpipe/tuning").is_dir() or finished_trials(root) < 2:
                assert proc.poll() is None, log_file.read_text(encoding="utf-8")
                assert time.monotonic() < deadline, "the search never finished two trials"
                time.sleep(0.05)
            os.killpg(proc.pid, sig)
            proc.wait(timeout=60)
            # SIGTERM reaches DVC too, which may exit while the stage still puts the last
            # commit back: the group is done when its last process is
            wait_for_group(proc.pid, timeout_s=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    first = log_file.read_text(encoding="utf-8")
    assert proc.returncode != 0, first
    assert "Traceback" not in first, first
    done = finished_trials(root)
    assert 2 <= done < 8, first  # interrupted in the middle of the search
    assert leftovers(root) == []
    assert workspace.busy(root) is None  # DVC's lock (and the stage's hold on it) released

    again = run(["dvc", "repro", "select"], root)
    assert (
        f"select: resuming the search: {done} of 8 trials finished earlier (.tabpipe/tuning/"
        in again.stdout
    ), again.stdout
    # only the trials the first run did not finish were asked
    assert again.stdout.count("tune: trial ") == 8 - done, again.stdout
    assert f"tune: trial {done + 1}/8 " in again.stdout
    assert not (root / ".tabpipe").exists()  # removed once the outputs were written
    assert outputs(root) == uninterrupted
    assert leftovers(root) == []
