"""Test metrics per task, the choice of the decision rule, permutation importance.

binary: ranking and probability metrics plus label metrics at the threshold chosen on the
out-of-fold predictions of cross-validation. multiclass: macro and weighted F1, per-class
precision and recall, macro one-vs-rest ROC-AUC, log loss; the labels are the class of
highest weighted probability, with per-class weights chosen on the out-of-fold predictions
(the multiclass counterpart of the threshold; all 1, plain argmax, unless they win out of
fold). regression: MAE, RMSE, R², MAPE.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Class weights: each class's weight from this grid (1/4 to 4, log-spaced, 1 on it), by
# coordinate ascent, a few passes over the classes. A coarse grid on purpose: finer weights
# would fit the out-of-fold rows' noise.
WEIGHT_GRID = np.exp(np.linspace(np.log(0.25), np.log(4.0), 41))
WEIGHT_PASSES = 3


def choose_threshold(y_true, scores, metric: str = "f1") -> float:
    """The score cut-off (predict positive when score >= cut-off) that maximises `metric`.

    `metric` is f1 or balanced_accuracy. Called on out-of-fold predictions of the training
    rows, so the test split stays unseen until evaluation. Every distinct score is a
    candidate, computed in one pass.
    """
    from sklearn.metrics import precision_recall_curve, roc_curve

    y_true = np.asarray(y_true)
    scores = np.asarray(scores, dtype="float64")
    if metric == "f1":
        precision, recall, cuts = precision_recall_curve(y_true, scores)
        precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
        denominator = precision + recall
        values = np.divide(
            2 * precision * recall,
            denominator,
            out=np.zeros_like(denominator),
            where=denominator > 0,
        )
    elif metric == "balanced_accuracy":
        fpr, tpr, cuts = roc_curve(y_true, scores, drop_intermediate=False)
        fpr, tpr, cuts = fpr[1:], tpr[1:], cuts[1:]  # the first point is the +inf cut-off
        values = (tpr + 1 - fpr) / 2
    else:
        raise _unknown_metric(metric)
    return float(cuts[int(np.argmax(values))])


def _unknown_metric(metric: str) -> Exception:
    from tabpipe.errors import PipelineError

    return PipelineError(
        f"unknown evaluate.threshold_metric '{metric}'", fix="use one of: f1, balanced_accuracy"
    )


def binary_metrics(y_true, scores, threshold: float) -> dict[str, float]:
    """Ranking and probability metrics, plus label metrics at `threshold`."""
    from sklearn import metrics as m

    y_true = np.asarray(y_true)
    scores = np.clip(np.asarray(scores, dtype="float64"), 1e-15, 1 - 1e-15)
    labels = (scores >= threshold).astype(int)
    values = {
        "roc_auc": m.roc_auc_score(y_true, scores),
        "pr_auc": m.average_precision_score(y_true, scores),
        "log_loss": m.log_loss(y_true, scores, labels=[0, 1]),
        "brier": m.brier_score_loss(y_true, scores),
        "accuracy": m.accuracy_score(y_true, labels),
        "precision": m.precision_score(y_true, labels, zero_division=0),
        "recall": m.recall_score(y_true, labels, zero_division=0),
        "f1": m.f1_score(y_true, labels, zero_division=0),
        "threshold": threshold,
    }
    return {k: round(float(v), 6) for k, v in values.items()}


def label_score(metric: str, y_codes: np.ndarray, predicted: np.ndarray, n: int) -> float:
    """Macro F1 (`f1`) or balanced accuracy of class codes, as scikit-learn computes them
    (macro F1 over the classes that occur in either; balanced accuracy over true classes),
    from one confusion matrix: the weight search calls it thousands of times."""
    confusion = np.bincount(y_codes * n + predicted, minlength=n * n).reshape(n, n)
    hits, actual, said = np.diag(confusion), confusion.sum(axis=1), confusion.sum(axis=0)
    if metric == "balanced_accuracy":
        present = actual > 0
        return float(np.mean(hits[present] / actual[present]))
    if metric != "f1":
        raise _unknown_metric(metric)
    seen = (actual + said) > 0
    return float(np.mean(2 * hits[seen] / (actual[seen] + said[seen])))


def fit_class_weights(y_codes: np.ndarray, proba: np.ndarray, metric: str) -> np.ndarray:
    """Per-class weights w that maximise `metric` of argmax(proba * w) on these rows:
    coordinate ascent over WEIGHT_GRID, deterministic (a change must strictly improve)."""
    n = proba.shape[1]
    weights = np.ones(n)
    best = label_score(metric, y_codes, proba.argmax(axis=1), n)
    for _ in range(WEIGHT_PASSES):
        improved = False
        for k in range(n):
            # the other classes' best weighted probability stays put while class k's weight
            # moves: each grid value is one comparison, not an argmax over every class
            others = proba * weights
            others[:, k] = -np.inf
            rival = others.argmax(axis=1)
            level = others[np.arange(len(rival)), rival]
            for value in WEIGHT_GRID:
                mine = proba[:, k] * value
                # argmax's tie rule: the lower class index wins
                wins = (mine > level) | ((mine == level) & (k < rival))
                score = label_score(metric, y_codes, np.where(wins, k, rival), n)
                if score > best + 1e-12:
                    best, improved = score, True
                    weights = weights.copy()
                    weights[k] = value
        if not improved:
            break
    return weights


@dataclass
class ClassWeights:
    """The multiclass decision rule: label = the class of highest probability x weight."""

    weights: dict[str, float]  # class label -> weight; all 1.0 when not kept (plain argmax)
    fold_gains: list[float]  # metric gain on each fold's rows, the weights fitted on the others
    kept: bool

    @property
    def gain(self) -> float:
        return float(np.mean(self.fold_gains)) if self.fold_gains else 0.0


def choose_class_weights(y_true, proba, classes, folds, metric: str = "f1") -> ClassWeights:
    """Class weights chosen on out-of-fold predictions, kept only where they win out of fold.

    Weights that raise macro F1 on the rows they were fitted on may only fit noise (a small
    table, a strong model), so they are cross-fitted first: for each fold, fitted on the other
    folds' rows and scored on its own. They are kept, fitted on every row, only when the
    mean gain over the folds is above 0, as an ensemble is kept only when it wins in CV.
    """
    classes = [str(c) for c in classes]
    index = {label: i for i, label in enumerate(classes)}
    y_codes = np.array([index[str(v)] for v in np.asarray(y_true)], dtype="int64")
    proba = np.asarray(proba, dtype="float64")
    folds = np.asarray(folds)
    n = len(classes)
    gains = []
    for fold in np.unique(folds):
        held = folds == fold
        if held.all():
            continue
        weights = fit_class_weights(y_codes[~held], proba[~held], metric)
        plain = label_score(metric, y_codes[held], proba[held].argmax(axis=1), n)
        tuned = label_score(metric, y_codes[held], (proba[held] * weights).argmax(axis=1), n)
        gains.append(tuned - plain)
    kept = bool(gains) and float(np.mean(gains)) > 0
    weights = fit_class_weights(y_codes, proba, metric) if kept else np.ones(n)
    return ClassWeights(
        {label: round(float(w), 6) for label, w in zip(classes, weights, strict=True)},
        [round(float(g), 6) for g in gains],
        kept,
    )


def class_weights_of(test_metrics: dict) -> dict[str, float]:
    """The class weights evaluate recorded (`per_class.<label>.decision_weight` of its metrics);
    {} for a binary or regression run."""
    return {
        label: per["decision_weight"]
        for label, per in (test_metrics.get("per_class") or {}).items()
        if "decision_weight" in per
    }


def weighted_labels(proba, classes, weights: dict[str, float] | None = None) -> np.ndarray:
    """The decided label of each row: the class of highest probability x its weight."""
    proba = np.asarray(proba, dtype="float64")
    if weights:
        proba = proba * np.array([weights.get(str(c), 1.0) for c in classes])
    return np.asarray(classes, dtype=object)[proba.argmax(axis=1)]


def multiclass_metrics(y_true, proba, classes, weights: dict[str, float] | None = None) -> dict:
    """Label and probability metrics for three or more classes; `proba` columns follow `classes`;
    the labels are decided with `weights` (class label -> weight; none: argmax)."""
    from sklearn import metrics as m

    y_true = np.asarray(y_true).astype(str)
    classes = [str(c) for c in classes]
    proba = np.asarray(proba, dtype="float64")
    predicted = weighted_labels(proba, classes, weights).astype(str)
    present = sorted(set(y_true))
    values = {
        "accuracy": m.accuracy_score(y_true, predicted),
        "balanced_accuracy": m.balanced_accuracy_score(y_true, predicted),
        "f1_macro": m.f1_score(y_true, predicted, average="macro", zero_division=0),
        "f1_weighted": m.f1_score(y_true, predicted, average="weighted", zero_division=0),
        "log_loss": m.log_loss(y_true, np.clip(proba, 1e-15, 1), labels=classes),
    }
    if len(present) == len(classes):  # one-vs-rest AUC needs every class in the split
        values["roc_auc_ovr_macro"] = m.roc_auc_score(
            y_true, proba, multi_class="ovr", average="macro", labels=classes
        )
    out = {k: round(float(v), 6) for k, v in values.items()}
    precision, recall, f1, support = m.precision_recall_fscore_support(
        y_true, predicted, labels=classes, zero_division=0
    )
    out["per_class"] = {
        label: {
            "precision": round(float(p), 6),
            "recall": round(float(r), 6),
            "f1": round(float(f), 6),
            "support": int(n),
            **({"decision_weight": weights.get(label, 1.0)} if weights else {}),
        }
        for label, p, r, f, n in zip(classes, precision, recall, f1, support, strict=True)
    }
    return out


def regression_metrics(y_true, predicted) -> dict:
    """MAE, RMSE, R² and MAPE (MAPE is left out when a true value is 0: it is undefined)."""
    from sklearn import metrics as m

    y_true = np.asarray(y_true, dtype="float64")
    predicted = np.asarray(predicted, dtype="float64")
    values = {
        "mae": m.mean_absolute_error(y_true, predicted),
        "rmse": m.root_mean_squared_error(y_true, predicted),
        "r2": m.r2_score(y_true, predicted),
    }
    if not (y_true == 0).any():
        values["mape"] = m.mean_absolute_percentage_error(y_true, predicted)
    return {k: round(float(v), 6) for k, v in values.items()}


def scorer_for(task: str, classes=None):
    """What permutation importance measures the drop of: higher is better."""
    from sklearn import metrics as m

    if task == "regression":
        return "R²", lambda model, X, y: m.r2_score(y, model.predict(X))
    if task == "multiclass":
        return "macro one-vs-rest ROC-AUC", lambda model, X, y: m.roc_auc_score(
            y, model.predict_proba(X), multi_class="ovr", average="macro", labels=list(classes)
        )
    return "ROC-AUC", lambda model, X, y: m.roc_auc_score(y, model.predict_proba(X)[:, 1])


def permutation_importance_table(
    pipeline, rows, y_true, repeats: int, seed: int, scorer=None
) -> list[dict]:
    """Mean drop in the score (default: ROC-AUC) when each input column is shuffled, largest first.

    The same quantity as scikit-learn's `permutation_importance` on the whole pipeline, but
    the rows are encoded once: every step before the model works row by row, so shuffling an
    input column shuffles exactly the encoded columns it feeds (found by shuffling it once).
    That makes it one encoding per column instead of one per column and repeat (about 5x faster).
    """
    import pandas as pd

    if scorer is None:
        scorer = scorer_for("binary")[1]
    features, model = pipeline[:-1], pipeline[-1]
    y_true = np.asarray(y_true)
    encoded_frame = features.transform(rows)
    names = getattr(encoded_frame, "columns", None)
    encoded = np.asarray(encoded_frame, dtype="float64")

    def score(matrix: np.ndarray) -> float:
        frame = matrix if names is None else pd.DataFrame(matrix, columns=names)
        return scorer(model, frame, y_true)

    baseline = score(encoded)
    rng = np.random.default_rng(seed)
    table = []
    for column in rows.columns:
        order = rng.permutation(len(rows))
        shuffled_rows = rows.copy()
        shuffled_rows[column] = rows[column].to_numpy()[order]
        shuffled = np.asarray(features.transform(shuffled_rows), dtype="float64")
        block = np.flatnonzero((shuffled != encoded).any(axis=0))  # encoded columns it feeds
        drops = []
        for repeat in range(repeats):
            if repeat:
                order = rng.permutation(len(rows))
            permuted = encoded.copy()
            permuted[:, block] = encoded[order][:, block]
            drops.append(baseline - score(permuted))
        table.append({"feature": str(column), "importance": round(float(np.mean(drops)), 6)})
    return sorted(table, key=lambda row: (-row["importance"], row["feature"]))
