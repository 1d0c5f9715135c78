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
from dataclasses import dataclass, field
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
            fix="use -S cv.folds=5",
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
    # positions of the validation rows among the rows cross-validated: where this fold's
    # predictions go in the out-of-fold predictions
    valid_idx: np.ndarray | None = None


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
                np.asarray(valid_idx),
            )
        )
    return out


def fold_classes(folds: list[Fold]) -> np.ndarray:
    """The class labels seen in `folds`, sorted: the columns of their predictions."""
    return np.unique(np.concatenate([np.concatenate([f.y_train, f.y_valid]) for f in folds]))


def predictions(model, X: pd.DataFrame, classes: np.ndarray | None) -> np.ndarray:
    """What a fitted model says of rows: the probability of each of `classes` (columns in
    that order; a class the model never saw gets 0), or for a regressor (`classes` None) the
    predicted values. Ensembles average these, and every CV score is computed from them."""
    if classes is None:
        return np.asarray(model.predict(X), dtype="float64")
    proba = np.asarray(model.predict_proba(X), dtype="float64")
    seen = list(model.classes_)
    if seen == list(classes):
        return proba
    out = np.zeros((len(proba), len(classes)))
    for j, label in enumerate(seen):
        out[:, int(np.searchsorted(classes, label))] = proba[:, j]
    return out


def score_predictions(metric: Metric, y_true, predicted: np.ndarray, classes) -> float:
    """`metric` of `predicted` (from `predictions`) against `y_true`, as the metric reads
    (an RMSE of 3.2, not scikit-learn's -3.2). Label metrics use the most probable class."""
    from sklearn import metrics as m

    name = metric.name
    if classes is None:
        regression = {
            "rmse": m.root_mean_squared_error,
            "mae": m.mean_absolute_error,
            "r2": m.r2_score,
        }
        return float(regression[name](y_true, predicted))
    if name == "roc_auc":
        return float(m.roc_auc_score(y_true, predicted[:, 1]))
    if name == "pr_auc":
        return float(m.average_precision_score(y_true, predicted[:, 1], pos_label=classes[1]))
    if name == "roc_auc_ovr":
        return float(
            m.roc_auc_score(
                y_true, predicted, multi_class="ovr", average="weighted", labels=classes
            )
        )
    if name == "log_loss":
        return float(m.log_loss(y_true, predicted, labels=classes))
    labels = np.asarray(classes)[np.argmax(predicted, axis=1)]
    if name == "accuracy":
        return float(m.accuracy_score(y_true, labels))
    if name == "balanced_accuracy":
        return float(m.balanced_accuracy_score(y_true, labels))
    if name == "f1":
        return float(m.f1_score(y_true, labels, pos_label=classes[1]))
    return float(m.f1_score(y_true, labels, average="macro"))  # f1_macro


def fit_predict_fold(estimator, fold: Fold, classes: np.ndarray | None) -> np.ndarray:
    """Fit a clone of `estimator` on one fold's training rows; its predictions of the fold's
    validation rows."""
    model = clone(estimator).fit(fold.X_train, fold.y_train)
    return predictions(model, fold.X_valid, classes)


def classes_for(estimator, folds: list[Fold], classes=None) -> np.ndarray | None:
    """`classes` when given; else the folds' labels for a classifier, None for a regressor."""
    from sklearn.base import is_classifier

    if classes is not None or not is_classifier(estimator):
        return classes
    return fold_classes(folds)


def score_fold(estimator, fold: Fold, metric: Metric, classes=None) -> float:
    """Fit a clone of `estimator` on one fold, score it on that fold's validation rows.

    Scores read as the metric itself (an RMSE of 3.2, not -3.2); `classes` defaults to the
    labels of the fold (classifiers) or None (regressors).
    """
    classes = classes_for(estimator, [fold], classes)
    predicted = fit_predict_fold(estimator, fold, classes)
    return score_predictions(metric, fold.y_valid, predicted, classes)


def score_folds(estimator, folds: list[Fold], metric: Metric) -> list[float]:
    """Fit a clone of `estimator` on each fold and score it on that fold's validation rows."""
    classes = classes_for(estimator, folds)
    return [score_fold(estimator, fold, metric, classes) for fold in folds]


def trial_key(params: dict[str, Any]) -> str:
    """A trial's parameters as a key (the same values, the same key)."""
    import json

    return json.dumps(params, sort_keys=True, default=str)


def out_of_fold(folds: list[Fold], fold_predictions: list[np.ndarray], n_rows: int):
    """Every validated row's prediction from the fold that held it out, in row order, and
    the fold of each row (-1 for a row no fold validated, e.g. the first block of time
    folds)."""
    first = fold_predictions[0]
    shape = (n_rows,) if first.ndim == 1 else (n_rows, first.shape[1])
    oof = np.full(shape, np.nan)
    fold_of_row = np.full(n_rows, -1)
    for number, (fold, predicted) in enumerate(zip(folds, fold_predictions, strict=True)):
        oof[fold.valid_idx] = predicted
        fold_of_row[fold.valid_idx] = number
    return oof, fold_of_row


@dataclass
class CVObjective:
    """What a search scores: the estimator `build(params)` returns, on the prepared folds.

    Calling it scores one trial fold after fold in this process and keeps the trial's fold
    predictions (`fold_predictions`: what the out-of-fold threshold and the ensembles are
    made of). The Ray backend (`tabpipe.core.ray_backend`) takes it apart instead: it builds
    the estimator here and fits each (trial, fold) pair as its own task, with `score_fold`,
    so both give the same numbers; the few trials whose predictions are needed afterwards
    are then fitted again here. `build` must be picklable (a module-level function or a
    functools.partial of one).
    """

    build: Callable[[dict[str, Any]], Any]
    folds: list[Fold]
    metric: Metric
    # model=auto / balance=auto: the folds of each balancing (its resampling happens inside
    # them), picked by the trial's value of `fold_key`; None: `folds` for every trial
    fold_sets: dict[str, list[Fold]] | None = None
    fold_key: str = "balancing"
    # the class labels (columns of the predictions); None for a regression task
    classes: np.ndarray | None = None
    kept: dict[str, list[np.ndarray]] = field(default_factory=dict, repr=False)

    def folds_for(self, params: dict[str, Any]) -> list[Fold]:
        return self.folds if self.fold_sets is None else self.fold_sets[params[self.fold_key]]

    def classes_of(self, estimator, folds: list[Fold]) -> np.ndarray | None:
        return classes_for(estimator, folds, self.classes)

    def __call__(self, params: dict[str, Any]) -> list[float]:
        estimator, folds = self.build(params), self.folds_for(params)
        classes = self.classes_of(estimator, folds)
        predicted = [fit_predict_fold(estimator, fold, classes) for fold in folds]
        self.kept[trial_key(params)] = predicted
        return [
            score_predictions(self.metric, fold.y_valid, p, classes)
            for fold, p in zip(folds, predicted, strict=True)
        ]

    def fold_predictions(self, params: dict[str, Any]) -> list[np.ndarray]:
        """The trial's predictions of each fold's validation rows (fitted again when the
        trial was scored elsewhere: on Ray, or before a resumed search)."""
        key = trial_key(params)
        if key not in self.kept:
            self(params)
        return self.kept[key]
