"""Fit one anchor of the quality benchmark on a table's training rows; score its test rows.

Run by the anchors' own venv (benchmarks/.anchors/, built by benchmarks/quality.py from
benchmarks/anchors-requirements.txt), never by the project's: AutoGluon 1.6.3 needs pandas < 2.4.
It imports nothing from the project, so the two environments never mix.

    benchmarks/.anchors/bin/python benchmarks/anchors.py --anchor flaml --split DIR --out F.json

DIR holds the pipeline's own split files (train.parquet and test.parquet, written after
clean) and its columns.json (task, target, numeric and categorical feature columns). The output
JSON holds the test scores, the number of trials/models the anchor fitted, its fit time and the
test predictions.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import metrics

SEED = 42


def load(split: Path) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    columns = json.loads((split / "columns.json").read_text())
    # the split is train/test since issue 16 (item 2); an older run's val.parquet is fitted on too
    parts = [split / "train.parquet", split / "val.parquet"]
    fit = pd.concat([pd.read_parquet(p) for p in parts if p.exists()], ignore_index=True)
    test = pd.read_parquet(split / "test.parquet")
    keep = [*columns["numeric"], *columns["categorical"], columns["target"]]
    fit, test = fit[keep].copy(), test[keep].copy()
    for column in columns["categorical"]:  # text columns as plain objects for every library
        fit[column] = fit[column].astype(object)
        test[column] = test[column].astype(object)
    return columns, fit, test


def scores(task: str, y_true, predicted, proba, classes) -> dict:
    """The benchmark's metrics, computed the way the pipeline's evaluate stage does."""
    if task == "regression":
        return {"rmse": float(metrics.root_mean_squared_error(y_true, predicted))}
    if task == "binary":
        positive = list(classes).index(1)
        return {"roc_auc": float(metrics.roc_auc_score(y_true, proba[:, positive]))}
    y_true = np.asarray(y_true).astype(str)
    classes = [str(c) for c in classes]
    label = np.asarray(classes)[np.asarray(proba).argmax(axis=1)]
    out = {"f1_macro": float(metrics.f1_score(y_true, label, average="macro", zero_division=0))}
    if len(set(y_true)) == len(classes):
        out["roc_auc_ovr_macro"] = float(
            metrics.roc_auc_score(y_true, proba, multi_class="ovr", average="macro", labels=classes)
        )
    return out


def linear(task: str, columns: dict, X: pd.DataFrame, y, X_test: pd.DataFrame):
    """The five-line baseline: impute, scale, one-hot, LogisticRegression or Ridge, defaults."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    prep = ColumnTransformer(
        [
            (
                "num",
                make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
                columns["numeric"],
            ),
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")
                ),
                columns["categorical"],
            ),
        ]
    )
    model = make_pipeline(prep, Ridge() if task == "regression" else LogisticRegression())
    with warnings.catch_warnings():  # default max_iter may not converge: that is the baseline
        warnings.simplefilter("ignore")
        model.fit(X, y)
    details = {"best": type(model[-1]).__name__}
    if task == "regression":
        return model.predict(X_test), None, None, 1, details
    return None, model.predict_proba(X_test), list(model.classes_), 1, details


def flaml(task: str, X, y, X_test, budget: float, cores: int):
    from flaml import AutoML

    metric = {"binary": "roc_auc", "multiclass": "macro_f1", "regression": "rmse"}[task]
    automl = AutoML()
    automl.fit(
        X,
        y,
        task="regression" if task == "regression" else "classification",
        metric=metric,
        time_budget=budget,
        n_jobs=cores,
        seed=SEED,
        verbose=0,
        log_file_name="",
    )
    # every trial run (config_history holds only the ones that improved on the best)
    trials = sum(automl._iter_per_learner.values())
    details = {"best": automl.best_estimator, "best_config": automl.best_config}
    if task == "regression":
        return automl.predict(X_test), None, None, trials, details
    return None, automl.predict_proba(X_test), list(automl.classes_), trials, details


def autogluon(task: str, target: str, fit: pd.DataFrame, X_test, budget: float, cores: int):
    from autogluon.tabular import TabularPredictor

    metric = {
        "binary": "roc_auc",
        "multiclass": "f1_macro",
        "regression": "root_mean_squared_error",
    }
    with tempfile.TemporaryDirectory() as path:
        predictor = TabularPredictor(
            label=target, problem_type=task, eval_metric=metric[task], path=path, verbosity=0
        ).fit(fit, time_limit=budget, num_cpus=cores)  # default presets (medium_quality)
        models = len(predictor.model_names())
        details = {"best": predictor.model_best, "models": predictor.model_names()}
        if task == "regression":
            return predictor.predict(X_test).to_numpy(), None, None, models, details
        proba = predictor.predict_proba(X_test)
        return None, proba.to_numpy(), list(proba.columns), models, details


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--anchor", required=True, choices=["linear", "flaml", "autogluon"])
    parser.add_argument("--split", required=True, type=Path, help="folder of the split files")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--budget", type=float, default=60.0, help="seconds (FLAML, AutoGluon)")
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()

    columns, fit, test = load(args.split)
    task, target = columns["task"], columns["target"]
    X, y = fit.drop(columns=target), fit[target]
    X_test, y_test = test.drop(columns=target), test[target]
    start = time.perf_counter()
    if args.anchor == "linear":
        predicted, proba, classes, trials, details = linear(task, columns, X, y, X_test)
    elif args.anchor == "flaml":
        predicted, proba, classes, trials, details = flaml(
            task, X, y, X_test, args.budget, args.cores
        )
    else:
        predicted, proba, classes, trials, details = autogluon(
            task, target, fit, X_test, args.budget, args.cores
        )
    seconds = time.perf_counter() - start
    result = {
        "anchor": args.anchor,
        "task": task,
        "scores": scores(task, y_test, predicted, proba, classes),
        "trials": trials,
        **details,
        "fit_seconds": round(seconds, 1),
        "cores": args.cores,
        "budget_s": args.budget if args.anchor != "linear" else None,
        "classes": None if classes is None else [str(c) for c in classes],
        "predictions": (np.asarray(predicted) if proba is None else np.asarray(proba)).tolist(),
    }
    args.out.write_text(json.dumps(result) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "predictions"}))


if __name__ == "__main__":
    main()
