"""Cross-validation on the training split, with resampling inside each fold.

The folds are cut on the unbalanced training split (data/split/train.parquet). Inside each fold
the rows go through what the pipeline's own stages do, in the same order and with the same
config: the resampler of `tabpipe.core.balancing` (balance stage), the feature transformer of
`tabpipe.core.features` (featurize stage), then the estimator (train stage). That is the imbalanced-
learn pipeline `fold_pipeline` builds: the resampler runs on the fold's training rows only and
never touches its validation rows, so no synthetic row leaks into a score.

Tuning scores many estimators on the same folds, and the resampler and the transformer do not
depend on the estimator: `prepare_folds` runs those two steps once per fold and keeps the
matrices, `score_folds` then fits only the estimator. The scores equal those of
`fold_pipeline` under `sklearn.model_selection.cross_validate` (tests/test_cv.py checks it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone

from tabpipe.core.balancing import resample
from tabpipe.errors import PipelineError

STRATEGIES = ("stratified", "kfold", "group", "time")

# metric name -> (scikit-learn scorer name, whether larger is better, tasks it fits)
METRICS: dict[str, tuple[str, bool, tuple[str, ...]]] = {
    "roc_auc": ("roc_auc", True, ("binary",)),
    "pr_auc": ("average_precision", True, ("binary",)),
    "roc_auc_ovr": ("roc_auc_ovr_weighted", True, ("multiclass",)),
    "log_loss": ("neg_log_loss", False, ("binary", "multiclass")),
    "accuracy": ("accuracy", True, ("binary", "multiclass")),
    "balanced_accuracy": ("balanced_accuracy", True, ("binary", "multiclass")),
    "f1": ("f1", True, ("binary",)),
    "f1_macro": ("f1_macro", True, ("binary", "multiclass")),
    "rmse": ("neg_root_mean_squared_error", False, ("regression",)),
    "mae": ("neg_mean_absolute_error", False, ("regression",)),
    "r2": ("r2", True, ("regression",)),
}
DEFAULT_METRIC = {"binary": "roc_auc", "multiclass": "roc_auc_ovr", "regression": "rmse"}


class Resampler(BaseEstimator):
    """`tabpipe.core.balancing.resample` as an imbalanced-learn sampler (a `fit_resample` step).

    Same standardised neighbour search, same SMOTE -> SMOTENC switch, same handling of missing
    values as the balance stage. `sampler` is cloned on every call: one config, many folds.
    """

    def __init__(self, sampler=None, categorical: tuple[str, ...] = ()):
        self.sampler = sampler
        self.categorical = categorical

    def fit_resample(self, X: pd.DataFrame, y: pd.Series, **params):
        sampler = None if self.sampler is None else clone(self.sampler)
        result = resample(
            X,
            pd.Series(y, name=getattr(y, "name", None)),
            sampler,
            [c for c in self.categorical if c in X.columns],
        )
        return result.X, result.y


@dataclass
class Metric:
    name: str
    scorer: str
    greater_is_better: bool

    def better(self, a: float, b: float) -> bool:
        return a > b if self.greater_is_better else a < b


def main_metric(name: str, task: str) -> Metric:
    """The metric cross-validation reports and tuning optimises (`cv.metric`; auto by task)."""
    name = DEFAULT_METRIC[task] if name == "auto" else name
    if name not in METRICS:
        raise PipelineError(
            f"params.yaml: unknown cv.metric '{name}'",
            fix=f"use auto or one of: {', '.join(METRICS)}",
        )
    scorer, greater, tasks = METRICS[name]
    if task not in tasks:
        fits = [m for m, spec in METRICS.items() if task in spec[2]]
        raise PipelineError(
            f"params.yaml: cv.metric '{name}' does not fit a {task} task",
            fix=f"use auto or one of: {', '.join(fits)}",
        )
    return Metric(name, scorer, greater)


def splits(cfg, rows: pd.DataFrame, y: pd.Series, task: str) -> list[tuple[np.ndarray, ...]]:
    """(train positions, validation positions) of each fold of `rows`, as `cv` configures."""
    from sklearn import model_selection as ms

    if cfg.strategy not in STRATEGIES:
        raise PipelineError(
            f"params.yaml: unknown cv.strategy '{cfg.strategy}'",
            fix=f"use one of: {', '.join(STRATEGIES)}",
        )
    if cfg.folds < 2:
        raise PipelineError(
            f"params.yaml: cv.folds={cfg.folds}, but cross-validation needs at least 2",
            fix="use -S cv.folds=5 (or cv.folds=0 to skip cross-validation when tune=none)",
        )
    classes = task != "regression"
    if cfg.strategy in ("group", "time"):
        key = "group_column" if cfg.strategy == "group" else "time_column"
        column = getattr(cfg, key)
        if column is None or column not in rows.columns:
            raise PipelineError(
                f"data/split/train.parquet: cv.{key} '{column}' is not a column of the "
                f"training split (cv.strategy={cfg.strategy})",
                fix=f"set -S cv.{key}=<one of: {', '.join(map(str, rows.columns[:12]))}...>",
            )
    if cfg.strategy == "group":
        groups = rows[cfg.group_column].astype(str).to_numpy()
        splitter = (
            ms.StratifiedGroupKFold(cfg.folds, shuffle=True, random_state=cfg.seed)
            if classes
            else ms.GroupKFold(cfg.folds, shuffle=True, random_state=cfg.seed)
        )
        return list(splitter.split(rows, y, groups))
    if cfg.strategy == "time":
        # validate on later rows only: each fold trains on everything before it
        order = np.argsort(rows[cfg.time_column].to_numpy(), kind="stable")
        return [(order[a], order[b]) for a, b in ms.TimeSeriesSplit(cfg.folds).split(order)]
    if cfg.strategy == "stratified" and classes:
        splitter = ms.StratifiedKFold(cfg.folds, shuffle=True, random_state=cfg.seed)
    else:
        splitter = ms.KFold(cfg.folds, shuffle=True, random_state=cfg.seed)
    return list(splitter.split(rows, y))


def fold_pipeline(sampler, transformer, estimator, categorical: list[str]):
    """resampler -> feature transformer -> estimator, as one imbalanced-learn pipeline.

    imbalanced-learn refuses a nested pipeline, so the transformer's own steps are spliced in.
    """
    from imblearn.pipeline import Pipeline
    from sklearn.pipeline import Pipeline as SkPipeline

    steps: list[tuple[str, Any]] = []
    if sampler is not None:
        steps.append(("balance", Resampler(sampler, tuple(categorical))))
    if isinstance(transformer, SkPipeline):
        steps += [(f"features_{name}", step) for name, step in transformer.steps]
    else:
        steps.append(("features", transformer))
    steps.append(("model", estimator))
    return Pipeline(steps)


@dataclass
class Fold:
    X_train: pd.DataFrame
    y_train: np.ndarray
    X_valid: pd.DataFrame
    y_valid: np.ndarray


def prepare_folds(
    X: pd.DataFrame,
    y: pd.Series,
    folds: list[tuple[np.ndarray, np.ndarray]],
    sampler,
    transformer,
    categorical: list[str],
) -> list[Fold]:
    """Resample and featurize each fold once: the steps of `fold_pipeline` before the model.

    The transformer is fitted on the fold's (resampled) training rows only, then applied to
    its validation rows, exactly as the pipeline does on `fit` and `predict`.
    """
    resampler = None if sampler is None else Resampler(sampler, tuple(categorical))
    out = []
    for train_idx, valid_idx in folds:
        X_fit, y_fit = X.iloc[train_idx], y.iloc[train_idx]
        if resampler is not None:
            X_fit, y_fit = resampler.fit_resample(X_fit, y_fit)
        features = clone(transformer).fit(X_fit, y_fit)
        out.append(
            Fold(
                features.transform(X_fit),
                np.asarray(y_fit),
                features.transform(X.iloc[valid_idx]),
                y.iloc[valid_idx].to_numpy(),
            )
        )
    return out


def score_fold(estimator, fold: Fold, metric: Metric) -> float:
    """Fit a clone of `estimator` on one fold, score it on that fold's validation rows.

    Larger is better for every metric here: a lower-is-better scorer's sign is flipped back,
    so scores read as the metric itself (an RMSE of 3.2, not -3.2).
    """
    from sklearn.metrics import get_scorer

    sign = 1.0 if metric.greater_is_better else -1.0
    model = clone(estimator).fit(fold.X_train, fold.y_train)
    return sign * float(get_scorer(metric.scorer)(model, fold.X_valid, fold.y_valid))


def score_folds(estimator, folds: list[Fold], metric: Metric) -> list[float]:
    """Fit a clone of `estimator` on each fold and score it on that fold's validation rows."""
    return [score_fold(estimator, fold, metric) for fold in folds]


@dataclass
class CVObjective:
    """What a search scores: the estimator `build(params)` returns, on the prepared folds.

    Calling it scores one trial fold after fold in this process. The Ray backend
    (`tabpipe.core.ray_backend`) takes it apart instead: it builds the estimator here and fits
    each (trial, fold) pair as its own task, with `score_fold`, so both give the same numbers.
    `build` must be picklable (a module-level function or a functools.partial of one).
    """

    build: Callable[[dict[str, Any]], Any]
    folds: list[Fold]
    metric: Metric
    # model=auto / balance=auto: the folds of each balancing (its resampling happens inside
    # them), picked by the trial's value of `fold_key`; None: `folds` for every trial
    fold_sets: dict[str, list[Fold]] | None = None
    fold_key: str = "balancing"

    def folds_for(self, params: dict[str, Any]) -> list[Fold]:
        return self.folds if self.fold_sets is None else self.fold_sets[params[self.fold_key]]

    def __call__(self, params: dict[str, Any]) -> list[float]:
        return score_folds(self.build(params), self.folds_for(params), self.metric)
