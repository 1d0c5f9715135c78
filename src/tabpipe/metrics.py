"""Binary classification metrics and the choice of the decision threshold."""

from __future__ import annotations

import numpy as np


def choose_threshold(y_true, scores, metric: str = "f1") -> float:
    """The score cut-off (predict positive when score >= cut-off) that maximises `metric`.

    `metric` is f1 or balanced_accuracy. Called on the validation split, so the test split
    stays unseen until evaluation. Every distinct score is a candidate, computed in one pass.
    """
    from sklearn.metrics import precision_recall_curve, roc_curve

    y_true = np.asarray(y_true)
    scores = np.asarray(scores, dtype="float64")
    if metric == "f1":
        precision, recall, cuts = precision_recall_curve(y_true, scores)
        precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
        denominator = precision + recall
        values = np.divide(
            2 * precision * recall, denominator, out=np.zeros_like(denominator), where=denominator > 0
        )
    elif metric == "balanced_accuracy":
        fpr, tpr, cuts = roc_curve(y_true, scores, drop_intermediate=False)
        fpr, tpr, cuts = fpr[1:], tpr[1:], cuts[1:]  # the first point is the +inf cut-off
        values = (tpr + 1 - fpr) / 2
    else:
        from tabpipe.errors import PipelineError

        raise PipelineError(
            f"unknown evaluate.threshold_metric '{metric}'", fix="use one of: f1, balanced_accuracy"
        )
    return float(cuts[int(np.argmax(values))])


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


def permutation_importance_table(pipeline, rows, y_true, repeats: int, seed: int) -> list[dict]:
    """Drop in test ROC-AUC when each input column is shuffled, largest first."""
    from sklearn.inspection import permutation_importance

    result = permutation_importance(
        pipeline, rows, y_true, scoring="roc_auc", n_repeats=repeats, random_state=seed, n_jobs=1
    )
    table = [
        {"feature": str(name), "importance": round(float(mean), 6)}
        for name, mean in zip(rows.columns, result.importances_mean, strict=True)
    ]
    return sorted(table, key=lambda row: (-row["importance"], row["feature"]))
