"""Scoring the test split once (the decision rule chosen first, on out-of-fold predictions).

`oof` is what the select stage wrote: the chosen model's out-of-fold predictions of the
training rows (`proba:<class>` columns, or `prediction`), from cross-validation. The binary
decision threshold and the multiclass class weights are chosen on them, never on test rows,
and their metrics are reported as
`cv`, beside `test` (the keys depend on the task: binary roc_auc, pr_auc, ...; multiclass
f1_macro, roc_auc_ovr_macro, ...; regression mae, rmse, r2, mape), with the data of every plot,
as plain values; the evaluate stage logs them with dvclive.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tabpipe.core.metrics import (
    binary_metrics,
    choose_class_weights,
    choose_threshold,
    multiclass_metrics,
    permutation_importance_table,
    regression_metrics,
    scorer_for,
    weighted_labels,
)
from tabpipe.core.models import positive_scores
from tabpipe.core.scale import over, sample_rows


@dataclass
class Plot:
    """One plot: `kind` is dvclive's sklearn plot kind, or "custom" for `Live.log_plot`."""

    name: str
    kind: str
    args: tuple = ()  # sklearn plots: (y_true, y_pred); custom plots: (rows,)
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Evaluation:
    results: dict[str, dict]  # {"cv": {...}, "test": {...}}
    plots: list[Plot]
    notes: list[str] = field(default_factory=list)

    def flat_metrics(self) -> dict[str, Any]:
        """Every metric under its dvclive name, e.g. test/roc_auc, test/per_class/Yes/recall."""
        flat = {}
        for split, values in self.results.items():
            for name, value in values.items():
                if isinstance(value, dict):  # per-class metrics
                    for label, per in value.items():
                        for metric, number in per.items():
                            flat[f"{split}/{name}/{label}/{metric}"] = number
                else:
                    flat[f"{split}/{name}"] = value
        return flat


def oof_probabilities(oof: pd.DataFrame, classes) -> np.ndarray:
    """The out-of-fold probabilities, one column per class in `classes`' order."""
    return oof[[f"proba:{label}" for label in classes]].to_numpy(dtype="float64")


def _binary(pipeline, oof, test, target, cfg) -> tuple[dict, list[Plot]]:
    oof_scores = oof_probabilities(oof, pipeline.classes_)[:, 1]
    threshold = choose_threshold(oof[target], oof_scores, cfg.threshold_metric)
    y_test = test[target].to_numpy()
    scores = positive_scores(pipeline, test.drop(columns=[target]))
    results = {
        "cv": binary_metrics(oof[target], oof_scores, threshold),
        "test": binary_metrics(y_test, scores, threshold),
    }
    plots = [
        Plot("roc", "roc", (y_test, scores), {"drop_intermediate": True}),
        Plot("precision_recall", "precision_recall", (y_test, scores), {"drop_intermediate": True}),
        Plot("confusion_matrix", "confusion_matrix", (y_test, (scores >= threshold).astype(int))),
        Plot("calibration", "calibration", (y_test, scores), {"n_bins": 10}),
    ]
    return results, plots


def _multiclass(pipeline, oof, test, target, cfg) -> tuple[dict, list[Plot], list[str]]:
    classes = list(pipeline.classes_)
    oof_proba = oof_probabilities(oof, classes)
    rule = choose_class_weights(oof[target], oof_proba, classes, oof["fold"], cfg.threshold_metric)
    proba = pipeline.predict_proba(test.drop(columns=[target]))
    results = {
        "cv": multiclass_metrics(oof[target], oof_proba, classes, rule.weights),
        "test": multiclass_metrics(test[target], proba, classes, rule.weights),
    }
    predicted = weighted_labels(proba, classes, rule.weights)
    actual = test[target].astype(str).tolist()
    plots = [Plot("confusion_matrix", "confusion_matrix", (actual, [str(p) for p in predicted]))]
    shown = ", ".join(f"{label} {w:.3g}" for label, w in rule.weights.items())
    verdict = f"kept ({shown})" if rule.kept else "not kept, the label is the likeliest class"
    note = (
        f"class weights (for {cfg.threshold_metric}, chosen out of fold) gain {rule.gain:+.4f} "
        f"on held-out folds: {verdict}"
    )
    return results, plots, [note]


def _regression(pipeline, oof, test, target) -> tuple[dict, list[Plot]]:
    predicted = pipeline.predict(test.drop(columns=[target]))
    results = {
        "cv": regression_metrics(oof[target], oof["prediction"].to_numpy(dtype="float64")),
        "test": regression_metrics(test[target], predicted),
    }
    actual = test[target].to_numpy(dtype="float64")
    points = sorted(zip(actual.tolist(), predicted.tolist(), strict=True))
    residuals = sorted(
        ({"predicted": round(p, 6), "residual": round(a - p, 6)} for a, p in points),
        key=lambda row: row["predicted"],
    )
    plots = [
        Plot(
            "predicted_vs_actual",
            "custom",
            ([{"actual": a, "predicted": round(p, 6)} for a, p in points],),
            {
                "x": "actual",
                "y": "predicted",
                "template": "scatter",
                "title": "Test: predicted against actual",
            },
        ),
        Plot(
            "residuals",
            "custom",
            (residuals,),
            {
                "x": "predicted",
                "y": "residual",
                "template": "scatter",
                "title": "Test: residual (actual - predicted) against predicted",
            },
        ),
    ]
    return results, plots


def evaluate(
    pipeline, oof: pd.DataFrame, test: pd.DataFrame, columns: dict, cfg: Any
) -> Evaluation:
    """Metrics of the out-of-fold predictions and of the test split, the task's plots and the
    permutation importance on test."""
    target, task = columns["target"], columns.get("task", "binary")
    notes = []
    if task == "multiclass":
        results, plots, notes = _multiclass(pipeline, oof, test, target, cfg)
    elif task == "regression":
        results, plots = _regression(pipeline, oof, test, target)
    else:
        results, plots = _binary(pipeline, oof, test, target, cfg)
    shuffled = test
    if over(len(test), cfg.importance_max_rows):  # each repeat predicts every row again
        shuffled = sample_rows(
            test, target, cfg.importance_max_rows, cfg.seed, task != "regression"
        )
        notes.append(
            f"{len(test):,} test rows > evaluate.importance_max_rows={cfg.importance_max_rows:,}: "
            "permutation importance on a sample of that many (the metrics use every row)"
        )
    label, scorer = scorer_for(task, getattr(pipeline, "classes_", None))
    importance = permutation_importance_table(
        pipeline,
        shuffled[columns["numeric"] + columns["categorical"]],  # not the id columns
        shuffled[target].to_numpy(),
        cfg.importance_repeats,
        cfg.seed,
        scorer,
    )
    plots.append(
        Plot(
            "importance",
            "custom",
            (importance,),
            {
                "x": "importance",
                "y": "feature",
                "template": "bar_horizontal",
                "title": f"Permutation importance (drop in test {label})",
            },
        )
    )
    return Evaluation(results, plots, notes)
