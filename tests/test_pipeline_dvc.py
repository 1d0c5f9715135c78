"""The pipeline end to end through DVC, in a throw-away copy of the project.

Proves the caching contract (what reruns after which change, read from DVC's own output),
bit-for-bit reproducibility against the committed dvc.lock, that a `dvc exp run -S` override
reaches the trained model, and that comparisons work as the README shows them (the queued
sweep is docs/experiments.md's, run and checked by tests/test_docs_commands.py). The tests run
in order and share one copy: each builds on the state the previous one left.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tabpipe.io import load_model
from tests.dvc_repo import STAGES, affected_stages, back_to_head, run
from tests.prepared import clone

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def committed(tmp_path_factory) -> tuple[Path, str]:
    """The project as committed (model=auto), after its cold run, and what that run printed."""
    return clone("default", tmp_path_factory.mktemp("committed") / "repo", tmp_path_factory)


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """The project with the fast fixed model as its default, run once and committed."""
    return clone("fast", tmp_path_factory.mktemp("pipeline") / "repo", tmp_path_factory)[0]


def out_hashes(lock_path: Path) -> dict[str, str]:
    return out_hashes_of(lock_path.read_text())


def out_hashes_of(text: str) -> dict[str, str]:
    lock = yaml.safe_load(text)
    return {
        out["path"]: out["md5"]
        for stage in lock["stages"].values()
        for out in stage.get("outs", [])
    }


def test_cold_run_runs_every_stage_and_reproduces_the_committed_lock(committed):
    repo, cold_run = committed  # tests/prepared.py: a copy of the project, metrics/ removed
    assert affected_stages(cold_run) == STAGES
    lock = run(["git", "show", "HEAD:dvc.lock"], repo).stdout  # the project's HEAD
    assert out_hashes(repo / "dvc.lock") == out_hashes_of(lock)
    # nothing differs from what was committed: dvc.lock and the metric files, byte for byte
    assert run(["git", "status", "--porcelain"], repo).stdout == ""
    # the default searched the families and says what it chose, in `dvc exp show`'s files
    chosen = json.loads((repo / "metrics/select/metrics.json").read_text())
    assert len(chosen["family_best"]) == 4 and chosen["tune"]["trials"] == 20
    best_single = max(chosen["family_best"].values())
    if chosen["family"] == "ensemble":  # each family's best, weighed, beats the best alone
        assert len(chosen["ensemble"]) >= 2 and set(chosen["ensemble"]) <= set(
            chosen["family_best"]
        )
        assert abs(sum(chosen["ensemble"].values()) - 1) < 1e-5
        assert chosen["cv"]["roc_auc_mean"] > best_single
    else:
        assert chosen["family"] in chosen["family_best"]
        assert chosen["cv"]["roc_auc_mean"] == best_single


def test_second_run_with_nothing_changed_runs_no_stage(committed):
    repo, _ = committed
    result = run(["dvc", "repro"], repo)
    assert affected_stages(result.stdout) == []
    assert "Data and pipelines are up to date" in result.stdout


def reset(repo: Path) -> None:
    """Back to the committed state: params.yaml, dvc.lock, metrics and the outputs they name."""
    back_to_head(repo)


def test_model_override_reruns_train_and_evaluate_and_changes_the_model(repo):
    reset(repo)
    before = load_model(repo / "models/model.skops")
    assert before.named_steps["model"].C == 1.0
    result = run(["dvc", "exp", "run", "-n", "c-03", "-S", "model.C=0.3"], repo)
    assert affected_stages(result.stdout) == ["select", "train", "evaluate"]
    assert yaml.safe_load((repo / "params.yaml").read_text())["model"]["C"] == 0.3
    after = load_model(repo / "models/model.skops")
    assert after.named_steps["model"].C == 0.3  # the stage trained with the -S value
    rows = pd.read_parquet(repo / "data/split/test.parquet").head(50)
    assert not (after.predict_proba(rows) == before.predict_proba(rows)).all()


def test_balance_override_reruns_balance_to_evaluate(repo):
    reset(repo)
    result = run(["dvc", "exp", "run", "-n", "k3", "-S", "balance.k_neighbors=3"], repo)
    assert affected_stages(result.stdout) == [
        "select",
        "balance",
        "featurize",
        "train",
        "evaluate",
    ]


def test_group_override_picks_another_model(repo):
    reset(repo)
    # 30 trees, not the option's 300: the forest is fitted six times (select's five folds,
    # train) and permuted for the importance plot, which took half the run; the group switch
    # and the stages it reruns are what is under test, and a value of the new group (as
    # `-S model.C=0.3` above) is read by the same stages
    override = ["-S", "model=random_forest", "-S", "model.n_estimators=30"]
    result = run(["dvc", "exp", "run", "-n", "rf", *override], repo)
    assert affected_stages(result.stdout) == ["select", "train", "evaluate"]
    model = load_model(repo / "models/model.skops").named_steps["model"]
    assert type(model).__name__ == "RandomForestClassifier"
    assert model.n_estimators == 30  # the group's option, with the value given after it


def test_compare_experiments(repo):
    metrics = run(["dvc", "metrics", "diff", "c-03", "rf", "--json"], repo).stdout
    diff = json.loads(metrics)["metrics/evaluate/metrics.json"]
    assert diff["test.roc_auc"]["old"] != diff["test.roc_auc"]["new"]
    params = json.loads(run(["dvc", "params", "diff", "c-03", "rf", "--json"], repo).stdout)
    assert "model._target_" in params["params.yaml"]
    out = repo / "plots_diff"
    run(["dvc", "plots", "diff", "c-03", "rf", "-o", str(out)], repo)
    assert (out / "index.html").exists()
