"""The select and train stages through their real entry points: CV, tuning, reports, errors,
reproducibility (the fast fixed model; the model=auto search has tests of its own)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tabpipe.io import load_model
from tests.dvc_repo import PROJECT, fast_params
from tests.test_stage_errors import assert_one_line_error, digest, run_stage
from tests.trained_project import stage_in_process

ROWS = 240


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """A churn-like table of 240 rows run through clean, split, balance, featurize, train once
    (in this process: tests/trained_project.py's stage_in_process)."""
    path = tmp_path_factory.mktemp("train")
    params = yaml.safe_load(fast_params(path).read_text())
    params["data"]["schema"] = None  # the Telco schema does not fit this small table
    (path / "params.yaml").write_text(yaml.safe_dump(params))
    rng = np.random.default_rng(5)
    churn = rng.uniform(size=ROWS) < 0.3
    raw = pd.DataFrame(
        {
            "rownames": range(ROWS),
            "churn": np.where(churn, "Yes", "No"),
            "tenure": rng.integers(1, 72, ROWS) - 15 * churn,
            "monthly_charges": rng.uniform(20, 110, ROWS) + 20 * churn,
            "contract": np.where(
                churn & (rng.uniform(size=ROWS) < 0.7),
                "Month-to-month",
                rng.choice(["Month-to-month", "One year", "Two year"], ROWS),
            ),
        }
    )
    (path / "data/raw").mkdir(parents=True)
    raw.to_parquet(path / "data/raw/data.parquet", index=False)
    for stage in ("clean", "split", "select", "balance", "featurize", "train"):
        result = stage_in_process(stage, path)
        assert result.returncode == 0, result.stderr
    return path


def workdir(prepared: Path, tmp_path: Path, **sections) -> Path:
    """A copy of the prepared directory with some params.yaml sections updated."""
    path = Path(shutil.copytree(prepared, tmp_path / "work"))
    params = yaml.safe_load((path / "params.yaml").read_text())
    for section, values in sections.items():
        params[section].update(values)
    (path / "params.yaml").write_text(yaml.safe_dump(params))
    return path


def train(path: Path, process: bool = False) -> str:
    """select (the search), then train (the fit); their output. In this process unless
    `process`: a new interpreter per stage (the same bytes across processes)."""
    out = ""
    for stage in ("select", "train"):
        result = run_stage(stage, path) if process else stage_in_process(stage, path)
        assert result.returncode == 0, result.stderr
        out += result.stdout
    return out


OUTPUTS = [
    "models/model.skops",
    "metrics/train/metrics.json",
    "metrics/select/metrics.json",
    "metrics/select/best_params.json",
    "metrics/select/selection.md",
    "metrics/select/plots/custom/trials.json",
]


def test_tuning_logs_cv_scores_trials_and_a_ranked_report(prepared, tmp_path):
    path = workdir(prepared, tmp_path, tune={"method": "random", "n_trials": 4}, cv={"folds": 3})
    out = train(path)
    assert out.count("tune: trial ") == 4 and "tune: trial 4/4" in out  # progress, trial by trial
    metrics = json.loads((path / "metrics/select/metrics.json").read_text())
    assert 0.5 < metrics["cv"]["roc_auc_mean"] <= 1 and metrics["cv"]["roc_auc_std"] > 0
    assert metrics["cv"]["folds"] == 3 and metrics["tune"]["trials"] == 4
    trials = json.loads((path / "metrics/select/plots/custom/trials.json").read_text())
    assert [row["trial"] for row in trials] == [1, 2, 3, 4]
    assert max(row["score"] for row in trials) == metrics["cv"]["roc_auc_mean"]

    best = json.loads((path / "metrics/select/best_params.json").read_text())
    model = load_model(path / "models/model.skops").named_steps["model"]
    assert best["tuned"] and set(best["tuned"]) <= set(model.get_params())
    for key, value in best["tuned"].items():  # the refitted model has the winner's parameters
        expected = pytest.approx(value, rel=1e-5) if isinstance(value, float) else value
        assert model.get_params()[key] == expected
    report = (path / "metrics/select/selection.md").read_text()
    ranked = [line for line in report.splitlines() if line.startswith("| 1 |")]
    assert ranked and f"| {best['trial']} |" in ranked[0]


def test_the_same_config_gives_the_same_bytes(prepared, tmp_path):
    """Seeded folds, sampler and estimator: a rerun reproduces model and reports exactly."""
    tune = {"method": "bayesian", "n_trials": 4, "n_startup_trials": 2}
    first = workdir(prepared, tmp_path / "a", tune=tune, cv={"folds": 3})
    second = workdir(prepared, tmp_path / "b", tune=tune, cv={"folds": 3})
    train(first)
    train(second, process=True)  # nothing this process holds from the first run helps
    for name in OUTPUTS:
        assert digest(first / name) == digest(second / name), name


def test_no_tuning_cross_validates_the_configured_model(prepared, tmp_path):
    path = workdir(prepared, tmp_path, cv={"folds": 4})
    out = train(path)
    assert "4-fold stratified cross-validation" in out
    best = json.loads((path / "metrics/select/best_params.json").read_text())
    assert best["tune"] == "none" and best["tuned"] == {}
    model = load_model(path / "models/model.skops").named_steps["model"]
    configured = yaml.safe_load((path / "params.yaml").read_text())["model"]
    assert model.get_params()["C"] == configured["C"]


def test_group_folds_from_a_column(prepared, tmp_path):
    path = workdir(
        prepared, tmp_path, cv={"folds": 3, "strategy": "group", "group_column": "rownames"}
    )
    assert "3-fold group cross-validation" in train(path)


def test_class_weight_balance_option_reaches_the_model(prepared, tmp_path):
    path = workdir(prepared, tmp_path, cv={"folds": 3})
    params = yaml.safe_load((path / "params.yaml").read_text())
    params["balance"] = {"_target_": None, "class_weight": "balanced"}
    (path / "params.yaml").write_text(yaml.safe_dump(params))
    train(path)
    model = load_model(path / "models/model.skops").named_steps["model"]
    assert model.class_weight == "balanced"


@pytest.mark.parametrize(
    ("sections", "parts"),
    [
        ({"tune": {"method": "hyperband"}}, ["params.yaml", "tune.method 'hyperband'", "-S tune="]),
        ({"tune": {"bogus": 1}}, ["params.yaml", "tune.bogus"]),
        ({"cv": {"strategy": "group"}}, ["cv.group_column", "data/split/train.parquet"]),
        ({"cv": {"metric": "rmse"}}, ["params.yaml", "cv.metric 'rmse' does not fit a binary"]),
        (
            {"tune": {"method": "random", "n_trials": 2}, "model": {"_search_": {"C": [1, 2]}}},
            ["params.yaml", "model._search_.C", "[float, 0.001, 100, log]"],
        ),
        (
            {"tune": {"method": "grid"}, "model": {"_search_": {"max_iters": ["int", 2, 8]}}},
            ["params.yaml", "model._search_.max_iters", "no parameter 'max_iters'", "max_iter"],
        ),
    ],
)
def test_bad_settings_fail_in_one_line_and_keep_the_old_model(prepared, tmp_path, sections, parts):
    path = workdir(prepared, tmp_path)
    before = digest(path / "data/select/choice.json")
    params = yaml.safe_load((path / "params.yaml").read_text())
    for section, values in sections.items():
        params[section].update(values)
    (path / "params.yaml").write_text(yaml.safe_dump(params))
    assert_one_line_error(run_stage("select", path), "error: [select]", *parts)
    assert digest(path / "data/select/choice.json") == before


def auto_workdir(prepared: Path, tmp_path: Path, n_trials: int) -> Path:
    """The prepared directory with the committed default's model=auto and balance=auto."""
    path = workdir(prepared, tmp_path, tune={"n_trials": n_trials}, cv={"folds": 3})
    params = yaml.safe_load((path / "params.yaml").read_text())
    default = yaml.safe_load((PROJECT / "params.yaml").read_text())
    params["model"], params["balance"] = default["model"], default["balance"]
    (path / "params.yaml").write_text(yaml.safe_dump(params))
    return path


def test_auto_searches_families_and_balancings_warm_starts_first(prepared, tmp_path):
    path = auto_workdir(prepared, tmp_path, n_trials=8)
    out = train(path)
    assert "4 warm starts" not in out and "6 warm starts" in out
    metrics = json.loads((path / "metrics/select/metrics.json").read_text())
    families = ["logistic_regression", "lightgbm", "hist_gradient_boosting", "extra_trees"]
    assert sorted(metrics["family_best"]) == sorted(families)  # every family was scored
    assert metrics["tune"]["trials"] == 8
    choice = json.loads((path / "data/select/choice.json").read_text())
    balancing = json.loads((path / "data/select/balance.json").read_text())
    assert choice["family"] == metrics["family"]
    best_single = max(metrics["family_best"].values())
    # the choice is the best trial, or an ensemble of the families' best that beats it in CV
    assert choice["cv_mean"] == best_single or (
        choice["family"] == "ensemble" and choice["cv_mean"] > best_single
    )
    assert balancing["balancing"] in ("none", "class_weight", "smote")
    report = (path / "metrics/select/selection.md").read_text()
    # the warm starts: each family's configured values, unbalanced, in the configured order
    cells = [line.split("|") for line in report.splitlines() if line.count("|") > 6]
    rows = {int(c[2]): "|".join(c) for c in cells if c[2].strip().isdigit()}
    for number, family in enumerate(families, start=1):
        assert f"| {family} | none |" in rows[number]
    # train fitted the choice: one model, or each member of the ensemble with its weight
    model = load_model(path / "models/model.skops").named_steps["model"]
    if choice["family"] != "ensemble":
        assert type(model).__name__ == choice["model"]["_target_"].rpartition(".")[2]
        return
    members = choice["members"]
    assert type(model).__name__ == "VotingClassifier" and len(members) >= 2
    assert [name for name, _ in model.estimators] == [m["family"] for m in members]
    assert list(model.weights) == [m["weight"] for m in members]
    assert abs(sum(model.weights) - 1) < 1e-6
    for fitted, member in zip(model.estimators_, members, strict=True):
        assert type(fitted).__name__ == member["model"]["_target_"].rpartition(".")[2]


def test_auto_gives_the_same_bytes_twice(prepared, tmp_path):
    first = auto_workdir(prepared, tmp_path / "a", n_trials=7)
    second = auto_workdir(prepared, tmp_path / "b", n_trials=7)
    train(first)
    train(second, process=True)
    for name in [*OUTPUTS, "data/select/choice.json", "data/select/balance.json"]:
        assert digest(first / name) == digest(second / name), name


@pytest.fixture(scope="module")
def prepared_regression(tmp_path_factory) -> Path:
    """A 240-row table with a numeric target whose signal is an interaction (trees win),
    run through the stages before train."""
    path = tmp_path_factory.mktemp("regression")
    params = yaml.safe_load(fast_params(path).read_text())
    params["data"]["schema"] = None
    params["data"]["target"] = "price"
    (path / "params.yaml").write_text(yaml.safe_dump(params))
    rng = np.random.default_rng(7)
    size, age = rng.uniform(30, 200, ROWS), rng.uniform(0, 50, ROWS)
    kind = rng.choice(["flat", "house", "villa"], ROWS)
    price = size * np.where(kind == "villa", 3.0, 1.0) * (1 - age / 100) + rng.normal(0, 5, ROWS)
    raw = pd.DataFrame(
        {"rownames": range(ROWS), "price": price, "size": size, "age": age, "kind": kind}
    )
    (path / "data/raw").mkdir(parents=True)
    raw.to_parquet(path / "data/raw/data.parquet", index=False)
    for stage in ("clean", "split", "select", "balance", "featurize"):
        result = stage_in_process(stage, path)
        assert result.returncode == 0, result.stderr
    return path


def test_auto_on_a_regression_task_searches_the_regression_families(prepared_regression, tmp_path):
    path = auto_workdir(prepared_regression, tmp_path, n_trials=4)
    train(path)
    metrics = json.loads((path / "metrics/select/metrics.json").read_text())
    assert list(metrics["family_best"]) == [
        "ridge",
        "lightgbm",
        "hist_gradient_boosting_regressor",
        "catboost_regressor",
    ]
    assert metrics["balancing"] == "none"
    # the interaction is for trees to find: CatBoost beats ridge in CV (RMSE)
    best = metrics["family_best"]
    assert best["catboost_regressor"] < best["ridge"], best


def test_catboost_gives_the_same_model_bytes_twice(prepared_regression, tmp_path):
    """CatBoost stamps a fitted model with its training time and a random id; the zoo's
    CatBoostRegressor drops both, so two runs (two processes) save the same file."""
    runs = []
    for name in ("a", "b"):
        path = auto_workdir(prepared_regression, tmp_path / name, n_trials=2)
        params = yaml.safe_load((path / "params.yaml").read_text())
        params["model"]["families"]["regression"] = ["catboost_regressor"]
        (path / "params.yaml").write_text(yaml.safe_dump(params))
        train(path, process=name == "b")
        runs.append(path)
    model = load_model(runs[0] / "models/model.skops").named_steps["model"]
    assert type(model).__name__ == "CatBoostRegressor"
    assert "model_guid" not in dict(model.get_metadata())
    for name in [*OUTPUTS, "data/select/choice.json"]:
        assert digest(runs[0] / name) == digest(runs[1] / name), name
