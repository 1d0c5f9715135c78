"""The pipeline end to end through DVC, in a throw-away copy of the project.

Proves the caching contract (what reruns after which change, read from DVC's own output),
bit-for-bit reproducibility against the committed dvc.lock, that a `dvc exp run -S` override
reaches the trained model, and that sweeps and comparisons work as the README shows them.
The tests run in order and share one copy: each builds on the state the previous one left.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
import yaml

from tabpipe.io import load_model
from tests.dvc_repo import PROJECT, STAGES, affected_stages, copy_project, run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    return copy_project(tmp_path_factory.mktemp("pipeline"))


def out_hashes(lock_path: Path) -> dict[str, str]:
    lock = yaml.safe_load(lock_path.read_text())
    return {
        out["path"]: out["md5"]
        for stage in lock["stages"].values()
        for out in stage.get("outs", [])
    }


def test_cold_run_runs_every_stage_and_reproduces_the_committed_lock(repo):
    # the committed metric files would let DVC skip evaluate: remove them for a truly cold run
    shutil.rmtree(repo / "metrics")
    result = run(["dvc", "repro"], repo)
    assert affected_stages(result.stdout) == STAGES
    committed = PROJECT / "dvc.lock"
    assert out_hashes(repo / "dvc.lock") == out_hashes(committed)
    # nothing differs from what was committed: dvc.lock and the metric files, byte for byte
    assert run(["git", "status", "--porcelain"], repo).stdout == ""


def test_second_run_with_nothing_changed_runs_no_stage(repo):
    result = run(["dvc", "repro"], repo)
    assert affected_stages(result.stdout) == []
    assert "Data and pipelines are up to date" in result.stdout


def reset(repo: Path) -> None:
    """Back to the committed state: params.yaml, dvc.lock, metrics and the outputs they name."""
    run(["git", "checkout", "--", "."], repo)
    run(["dvc", "checkout", "--force"], repo)


def test_model_override_reruns_train_and_evaluate_and_changes_the_model(repo):
    reset(repo)
    before = load_model(repo / "models/model.skops")
    assert before.named_steps["model"].C == 1.0
    result = run(["dvc", "exp", "run", "-n", "c-03", "-S", "model.C=0.3"], repo)
    assert affected_stages(result.stdout) == ["train", "evaluate"]
    assert yaml.safe_load((repo / "params.yaml").read_text())["model"]["C"] == 0.3
    after = load_model(repo / "models/model.skops")
    assert after.named_steps["model"].C == 0.3  # the stage trained with the -S value
    assert not (after.named_steps["model"].coef_ == before.named_steps["model"].coef_).all()


def test_balance_override_reruns_balance_to_evaluate(repo):
    reset(repo)
    result = run(["dvc", "exp", "run", "-n", "k3", "-S", "balance.k_neighbors=3"], repo)
    assert affected_stages(result.stdout) == ["balance", "featurize", "train", "evaluate"]


def test_group_override_picks_another_model(repo):
    reset(repo)
    result = run(["dvc", "exp", "run", "-n", "rf", "-S", "model=random_forest"], repo)
    assert affected_stages(result.stdout) == ["train", "evaluate"]
    model = load_model(repo / "models/model.skops").named_steps["model"]
    assert type(model).__name__ == "RandomForestClassifier"


def test_compare_experiments(repo):
    metrics = run(["dvc", "metrics", "diff", "c-03", "rf", "--json"], repo).stdout
    diff = json.loads(metrics)["metrics/evaluate/metrics.json"]
    assert diff["test.roc_auc"]["old"] != diff["test.roc_auc"]["new"]
    params = json.loads(run(["dvc", "params", "diff", "c-03", "rf", "--json"], repo).stdout)
    assert "model._target_" in params["params.yaml"]
    out = repo / "plots_diff"
    run(["dvc", "plots", "diff", "c-03", "rf", "-o", str(out)], repo)
    assert (out / "index.html").exists()


def test_queued_sweep_runs_in_parallel_and_shows_in_exp_show(repo):
    reset(repo)
    run(["dvc", "exp", "run", "--queue", "-S", "model.C=0.01,0.1,1,10"], repo)
    run(["dvc", "queue", "start", "-j", "2"], repo)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        status = run(["dvc", "queue", "status"], repo).stdout
        if "Queued" not in status and "Running" not in status:
            break
        time.sleep(3)
    assert "Failed" not in status, status
    shown = json.loads(run(["dvc", "exp", "show", "--json"], repo).stdout)
    values = []
    for baseline in shown:
        for exp in baseline.get("experiments") or []:
            for rev in exp.get("revs", []):
                data = rev.get("data") or {}
                c = data.get("params", {}).get("params.yaml", {}).get("data", {}).get("model", {})
                auc = (
                    data.get("metrics", {})
                    .get("metrics/evaluate/metrics.json", {})
                    .get("data", {})
                    .get("test", {})
                    .get("roc_auc")
                )
                if c.get("C") in (0.01, 0.1, 1, 10) and auc is not None:
                    values.append((c["C"], auc))
    # a set: other experiments (k3 has C=1.0) may repeat a value of the sweep
    assert {0.01, 0.1, 1, 10} <= {c for c, _ in values}
