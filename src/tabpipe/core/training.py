"""Model selection for the train stage: cross-validate (and tune) the configured model, refit.

Cross-validation cuts folds on the unbalanced training rows and resamples and featurizes inside
each fold with the balance and featurize settings (so train reads those params too). With
tune=grid|random|bayesian every trial is scored that way; the winner's parameters are what the
stage refits on the whole training split as the balance and featurize stages prepared it.
Everything here takes config sections and DataFrames; the stage reads and writes the files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pandas as pd

from tabpipe.config import instantiate_checked
from tabpipe.core.cv import CVObjective, Metric, main_metric, prepare_folds, splits
from tabpipe.core.features import build_transformer
from tabpipe.core.models import for_task
from tabpipe.core.scale import cv_sample_size, large_data_model, large_data_sampler, sample_rows
from tabpipe.core.tuning import (
    SEARCH_KEY,
    TrialResult,
    applicable_space,
    best_trial,
    check_backend,
    parse_space,
    plain,
    search,
    selection_report,
    trial_budget,
    trial_curve,
)
from tabpipe.errors import PipelineError


def build_estimator(model_cfg: dict, params: dict, class_weight: str | None, task: str = "binary"):
    """The configured estimator for the task, with `params` (a trial's) and class weights."""
    estimator, _ = for_task(instantiate_checked("model", {**model_cfg, **params}), task)
    return with_class_weight(estimator, class_weight, task)


def with_class_weight(estimator, class_weight: str | None, task: str):
    """balance=class_weight's setting on the estimator (classification only)."""
    if class_weight is None or task == "regression":
        return estimator
    if "class_weight" not in estimator.get_params():
        raise PipelineError(
            f"balance=class_weight, but {type(estimator).__name__} takes no class_weight",
            fix="pick a resampler instead, e.g. -S balance=smote, or another model",
        )
    return estimator.set_params(class_weight=class_weight)


@dataclass
class Selection:
    """The outcome of the search: every trial, the winner, and the estimator to refit."""

    metric: Metric
    tune_cfg: Any
    results: list[TrialResult]
    winner: TrialResult
    estimator: Any
    notes: list[str] = field(default_factory=list)


def select_model(
    rows: pd.DataFrame,
    columns: dict,
    n_train: int,
    cfg: dict,
    echo: Callable[[str], None] = print,
) -> Selection:
    """Cross-validate every trial of the configured search on `rows` (the unbalanced training
    split) and return the winner, unfitted. `cfg` holds the model, balance, cv, tune, featurize
    and scale sections; `n_train` is the whole split's row count (the large-data switches are
    decided on it, as in the balance stage)."""
    model_cfg, balance_cfg = cfg["model"], cfg["balance"]
    cv_cfg, tune_cfg, featurize_cfg, scale_cfg = (
        cfg["cv"],
        cfg["tune"],
        cfg["featurize"],
        cfg["scale"],
    )
    model_cfg, large_note = large_data_model(model_cfg, n_train, scale_cfg)
    if large_note:
        echo(f"train: {large_note}")
    target, task = columns["target"], columns.get("task", "binary")
    metric = main_metric(cv_cfg.metric, task)
    check_backend(tune_cfg)  # an unreachable Ray cluster fails now, not after the folds
    tune_cfg, budget_note = trial_budget(tune_cfg, model_cfg)
    if budget_note:
        echo(f"train: {budget_note}")
    class_weight = balance_cfg.get("class_weight")
    space = parse_space(model_cfg.get(SEARCH_KEY)) if tune_cfg.method != "none" else []
    estimator, note = for_task(instantiate_checked("model", model_cfg), task)
    configured = with_class_weight(estimator, class_weight, task)  # fails before any fold
    if note:  # a classifier's config on a regression task: its regressor stands in
        echo(f"train: {note}")
    accepted = set(configured.get_params(deep=False))
    space, skipped = applicable_space(space, accepted, type(configured).__name__, bool(note))
    if skipped:
        echo(f"train: not searched for the regressor: {', '.join(skipped)}")

    sample = cv_sample_size(len(rows), scale_cfg.cv_max_rows)
    if sample is not None:
        rows = sample_rows(rows, target, sample, cv_cfg.seed, stratify=task != "regression")
        echo(
            f"train: {n_train:,} training rows > scale.cv_max_rows={scale_cfg.cv_max_rows:,}: "
            f"cross-validating on a {'stratified ' if task != 'regression' else ''}sample of "
            f"{sample:,} rows (the final model is fitted on all of them)"
        )
    X, y = rows[columns["numeric"] + columns["categorical"]], rows[target]
    sampler = None if task == "regression" else instantiate_checked("balance", balance_cfg)
    # the same switch as the balance stage, decided on the same count (the whole split)
    sampler, _ = large_data_sampler(sampler, n_train, scale_cfg.max_smote_rows)
    transformer = build_transformer(
        featurize_cfg,
        columns["numeric"],
        columns["categorical"],
        featurize_cfg.seed,
        task,
        columns.get("continuous"),
    )
    folds = prepare_folds(
        X, y, splits(cv_cfg, rows, y, task), sampler, transformer, columns["categorical"]
    )
    echo(
        f"train: {len(folds)}-fold {cv_cfg.strategy} cross-validation of "
        f"{type(configured).__name__} on {len(rows)} rows ({metric.name}), tune={tune_cfg.method}"
    )
    build = partial(build_estimator, model_cfg, class_weight=class_weight, task=task)
    results = search(
        space, CVObjective(build, folds, metric), tune_cfg, metric.greater_is_better, metric.name
    )
    winner = best_trial(results, metric.greater_is_better)
    echo(
        f"train: cross-validated {metric.name} {winner.mean:.4f} ± {winner.std:.4f}; refitting"
        + (f" with {winner.params}" if winner.params else "")
        + " on the whole training split"
    )
    return Selection(metric, tune_cfg, results, winner, build(winner.params))


def training_metrics(model, X_train, y_train, task: str, selection: Selection) -> dict[str, Any]:
    """The train stage's dvclive metrics: training score, CV mean and std, trial counts."""
    metric, winner = selection.metric, selection.winner
    values: dict[str, Any] = {}
    if task == "binary":
        from sklearn.metrics import roc_auc_score

        auc = roc_auc_score(y_train, model.predict_proba(X_train)[:, 1])
        values["train/roc_auc"] = round(float(auc), 6)
    values["train/rows"] = int(len(X_train))
    values[f"cv/{metric.name}_mean"] = round(winner.mean, 6)
    values[f"cv/{metric.name}_std"] = round(winner.std, 6)
    values["cv/folds"] = len(winner.scores)
    values["tune/trials"] = len(selection.results)
    values["tune/best_trial"] = winner.number + 1
    return values


def trial_points(selection: Selection) -> list[dict]:
    """The trial plot's points: each trial's score and the best so far."""
    return trial_curve(selection.results, selection.metric.greater_is_better)


def best_params(selection: Selection) -> dict[str, Any]:
    """The tuned values only (as metrics they become columns of `dvc exp show`)."""
    tuned = {k: plain(v) for k, v in selection.winner.params.items()}
    return {"tune": selection.tune_cfg.method, "trial": selection.winner.number + 1, "tuned": tuned}


def selection_markdown(model, selection: Selection) -> str:
    """Every trial ranked, with the chosen model's full parameters (metrics/train/selection.md)."""
    metric, winner, results = selection.metric, selection.winner, selection.results
    chosen = {k: plain(v) for k, v in model.get_params(deep=False).items()}
    better = "higher" if metric.greater_is_better else "lower"
    header = {
        "model": type(model).__name__,
        "tune": selection.tune_cfg.method,
        "metric": f"{metric.name} ({better} is better), {len(winner.scores)} folds",
        "trials": len(results),
        "winner": f"trial {winner.number + 1}: {winner.mean:.4f} ± {winner.std:.4f}",
    }
    return selection_report(results, metric.greater_is_better, metric.name, header, chosen)
