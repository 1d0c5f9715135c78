"""A queued sweep through DVC, in a throw-away copy of the project with the fast fixed model
as its default (tests/prepared.py): queued, run two at a time, ranked, the winner applied and
written back into conf/, then compared. Split from tests/test_pipeline_dvc.py, so `make test`
can run the two files on both workers at once.
"""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import pytest
import yaml

from tests.dvc_repo import back_to_head, run
from tests.prepared import clone

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """The project with the fast fixed model as its default, run once and committed."""
    return clone("fast", tmp_path_factory.mktemp("sweep") / "repo", tmp_path_factory)[0]


def wait_for_queue(repo: Path, timeout: float = 900) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = run(["dvc", "queue", "status"], repo).stdout
        if "Queued" not in status and "Running" not in status:
            return status
        time.sleep(3)
    raise AssertionError(f"the queue did not finish in {timeout} s:\n{status}")


# two families by two balancings: the smallest grid that is a model-by-balance sweep and has
# work for both queue workers twice (random forest, the slowest to fit and to permute, has its
# own test in tests/test_pipeline_dvc.py)
MODELS = {
    "sklearn.linear_model.LogisticRegression": "logistic_regression",
    "sklearn.ensemble.HistGradientBoostingClassifier": "hist_gradient_boosting",
}
AUC = "metrics/evaluate/metrics.json:test.roc_auc"


def test_model_by_balance_sweep_ranks_and_the_winner_is_adopted(repo):
    """The sweep docs/experiments.md shows: a 2x2 grid queued, run two at a time, ranked, the
    winner applied and written back into conf/, then compared with metrics diff and plots diff."""
    back_to_head(repo)
    run(["dvc", "exp", "remove", "--all-commits"], repo)  # only the sweep's experiments below
    models = ",".join(MODELS.values())
    grid = ["-S", f"model={models}", "-S", "balance=none,smote"]
    # the same sweep, quicker: each of the four reruns balance..evaluate, so 2 folds instead of
    # 5 and one permutation-importance repeat instead of 5
    quick = ["-S", "cv.folds=2", "-S", "evaluate.importance_repeats=1"]
    run(["dvc", "exp", "run", "--queue", *grid, *quick], repo)
    started = time.monotonic()
    run(["dvc", "queue", "start", "-j", "2"], repo)
    status = wait_for_queue(repo)
    assert status.count("Success") == 4 and "Failed" not in status, status
    print(f"2x2 sweep with -j 2: {time.monotonic() - started:.0f} s")

    table = run(
        ["dvc", "exp", "show", "--csv", "--sort-by", AUC, "--sort-order", "desc"], repo
    ).stdout
    rows = [r for r in csv.DictReader(io.StringIO(table)) if r["Experiment"] and r["test.roc_auc"]]
    grid = {(MODELS[r["model._target_"]], r["balance._target_"] or "none") for r in rows}
    assert len(grid) == 4  # every model with and without SMOTE, each once
    aucs = [float(r["test.roc_auc"]) for r in rows]
    assert aucs == sorted(aucs, reverse=True) and len(set(aucs)) > 1
    assert all(float(r["cv.roc_auc_mean"]) > 0.5 for r in rows)  # CV columns are shown
    winner, runner_up = rows[0], rows[1]

    # promote the winner: its params.yaml and outputs, then conf/ written to match
    run(["dvc", "exp", "apply", winner["Experiment"]], repo)
    run(["tabpipe", "config", "adopt"], repo)
    run(["tabpipe", "config", "check"], repo)  # conf/ composes to the applied params.yaml
    defaults = yaml.safe_load((repo / "conf/config.yaml").read_text())["defaults"]
    chosen = {k: v for entry in defaults if isinstance(entry, dict) for k, v in entry.items()}
    assert chosen["model"] == MODELS[winner["model._target_"]]
    assert (
        run(["dvc", "status"], repo).stdout.strip().endswith("Data and pipelines are up to date.")
    )
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-q", "-m", "adopt the sweep's winner"], repo)

    diff = json.loads(run(["dvc", "metrics", "diff", "HEAD~1", "HEAD", "--json"], repo).stdout)
    auc = diff["metrics/evaluate/metrics.json"]["test.roc_auc"]
    assert auc["new"] == float(winner["test.roc_auc"]) and auc["old"] != auc["new"]

    out = repo / "roc_diff"
    run(
        [
            "dvc",
            "plots",
            "diff",
            winner["Experiment"],
            runner_up["Experiment"],
            "--targets",
            "metrics/evaluate/plots/sklearn/roc.json",
            "-o",
            str(out),
        ],
        repo,
    )
    page = (out / "index.html").read_text()
    assert winner["Experiment"] in page and runner_up["Experiment"] in page
