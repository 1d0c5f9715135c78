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
    """Mean drop in ROC-AUC when each input column is shuffled, largest first.

    The same quantity as scikit-learn's `permutation_importance` on the whole pipeline, but
    the rows are encoded once: every step before the model works row by row, so shuffling an
    input column shuffles exactly the encoded columns it feeds (found by shuffling it once).
    That makes it one encoding per column instead of one per column and repeat (about 5x faster).
    """
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    features, model = pipeline[:-1], pipeline[-1]
    y_true = np.asarray(y_true)
    encoded_frame = features.transform(rows)
    names = getattr(encoded_frame, "columns", None)
    encoded = np.asarray(encoded_frame, dtype="float64")

    def score(matrix: np.ndarray) -> float:
        frame = matrix if names is None else pd.DataFrame(matrix, columns=names)
        return roc_auc_score(y_true, model.predict_proba(frame)[:, 1])

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
