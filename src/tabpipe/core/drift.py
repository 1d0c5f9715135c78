"""Drift and performance of a new batch against the training reference. Pure functions.

For every feature, the model's scores and (when the batch is labelled) the target:
- the population stability index (PSI), an effect size: numeric columns are binned on the
  reference's quantiles, categorical columns compared level by level, levels never seen in the
  reference included (their reference share is floored at `EPS`, so PSI stays finite);
- a two-sample test for significance, from scipy.stats: Kolmogorov-Smirnov (`ks_2samp`) for
  numeric columns, chi-square on the reference-vs-batch table of counts (`chi2_contingency`)
  for categorical ones.
A column drifts when both say so: PSI at least `psi_alert` and the test significant after a
Bonferroni correction over all the columns tested. PSI alone flags noise in small batches;
a p-value alone flags negligible changes in large ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype

from tabpipe.errors import PipelineError

MISSING = "(missing)"
EPS = 1e-4  # share floor in PSI: an empty bin on one side gives a large but finite PSI
STATUS_ORDER = {"drift": 0, "warn": 1, "ok": 2, "too_few": 3}
LOWER_IS_BETTER = {"log_loss", "brier"}


class BatchTooSmall(PipelineError):
    """Too few rows for the tests to mean anything: no verdict, and no alert."""


@dataclass
class Prepared:
    """Rows cleaned like the training data: model inputs, and the 0/1 target when labelled."""

    rows: pd.DataFrame
    target: pd.Series | None


# --- cleaning new rows -------------------------------------------------------------------------


def prepare_rows(
    raw: pd.DataFrame,
    columns: dict[str, Any],
    clean_cfg,
    *,
    where: str,
    drop: list[str] | tuple[str, ...] = (),
    levels: dict[str, list[str]] | None = None,
) -> Prepared:
    """Clean a batch of raw rows the way `clean` cleaned the training table, and check it.

    `columns` is data/clean/columns.json (the roles clean decided). The batch must have every
    feature column, may have the id columns, the target and the columns `data.drop` removes,
    and nothing else. Category labels that differ from a reference level (`levels`) only in
    case take the reference's spelling, as clean's label normalisation did.
    """
    from tabpipe.core.cleaning import normalize_column_names, normalize_labels, numbers_from_text

    if raw.shape[0] == 0:
        raise PipelineError(f"{where}: the batch is empty (0 rows)", fix="check the file")
    frame = normalize_column_names(raw) if clean_cfg.normalize_column_names else raw.copy()
    target = columns["target"]
    numeric, categorical = list(columns["numeric"]), list(columns["categorical"])
    features = numeric + categorical
    allowed = set(features) | set(columns["id_columns"]) | {target} | set(drop)
    missing = [c for c in features if c not in frame.columns]
    extra = [c for c in frame.columns if c not in allowed]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing)}")
        if extra:
            parts.append(f"not in training: {', '.join(map(str, extra))}")
        raise PipelineError(
            f"{where}: the batch's columns differ from the training data's ({'; '.join(parts)})",
            fix="send rows with the training input's columns (data/clean/columns.json)",
        )
    frame = frame.drop(columns=[c for c in drop if c in frame.columns])

    for column in numeric:
        if is_numeric_dtype(frame[column]):
            continue
        numbers = numbers_from_text(frame[column]) if clean_cfg.numbers_from_text else None
        if numbers is None:
            text = frame[column].dropna().astype(str)
            bad = text[pd.to_numeric(text.str.strip(), errors="coerce").isna()].head(1).tolist()
            raise PipelineError(
                f"{where}: column '{column}' holds text ({bad[0]!r}) where training had numbers"
                if bad
                else f"{where}: column '{column}' is not numeric",
                fix=f"send numbers in '{column}'",
            )
        frame[column] = numbers
    for column in categorical:
        values = frame[column]
        if clean_cfg.normalize_labels:
            values = normalize_labels(values)
        values = values.astype("string").astype("str")
        if levels and column in levels:
            spelling = {str(level).casefold(): level for level in levels[column]}
            folded = values.str.casefold()
            values = values.where(~folded.isin(list(spelling)), folded.map(spelling))
        frame[column] = values
    for column, value in dict(clean_cfg.fill_missing).items():
        if column in frame.columns:
            frame[column] = frame[column].fillna(value)

    encoded = None
    if target in frame.columns:
        encoded = encode_target(frame[target], columns, where)
        frame = frame.drop(columns=[target])
    inputs = [c for c in columns["id_columns"] if c in frame.columns] + features
    return Prepared(rows=frame[inputs].reset_index(drop=True), target=encoded)


def encode_target(series: pd.Series, columns: dict[str, Any], where: str) -> pd.Series | None:
    """The target as 0/1, from its labels (raw rows) or already encoded (cleaned rows).

    Rows without a label are dropped from the performance check by the caller; a column with
    no label at all counts as an unlabelled batch (None). A label training never saw stops.
    """
    positive, negative = str(columns["positive_label"]), str(columns["negative_label"])
    present = series.dropna()
    if present.empty:
        return None
    text = present.astype("string").str.strip()
    folded = {positive.casefold(): 1, negative.casefold(): 0}
    mapped = text.str.casefold().map(folded)
    if mapped.isna().any():
        if set(text.unique()) <= {"0", "1"}:  # already encoded by clean (e.g. a split file)
            mapped = text.astype("int64")
        else:
            new = sorted(set(text[mapped.isna()].unique()))
            raise PipelineError(
                f"{where}: target '{columns['target']}' has label(s) training never saw: "
                f"{', '.join(map(repr, new))} (training: {positive!r}, {negative!r})",
                fix="map them to the training labels, or retrain on data that has them",
            )
    out = pd.Series(np.nan, index=series.index, dtype="float64")
    out[present.index] = mapped.astype("float64")
    return out.reset_index(drop=True)


# --- statistics ---------------------------------------------------------------------------------


def quantile_edges(reference: np.ndarray, bins: int) -> np.ndarray:
    """Inner bin edges at the reference's quantiles; repeated edges merged (discrete columns)."""
    if reference.size == 0:
        return np.array([])
    return np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def bin_labels(edges: np.ndarray) -> list[str]:
    if edges.size == 0:
        return ["all"]
    labels = [f"<= {_fmt(edges[0])}"]
    labels += [f"({_fmt(a)}, {_fmt(b)}]" for a, b in zip(edges[:-1], edges[1:], strict=True)]
    return labels + [f"> {_fmt(edges[-1])}"]


def bin_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts per bin (-inf, e0], (e0, e1], ..., (e_last, inf), then the missing values."""
    present = values[~np.isnan(values)]
    counts = np.bincount(np.searchsorted(edges, present, side="left"), minlength=edges.size + 1)
    return np.append(counts, values.size - present.size)


def psi(reference_counts: np.ndarray, batch_counts: np.ndarray) -> float:
    """Population stability index: sum of (batch - reference share) * ln(batch / reference)."""
    ref = np.maximum(reference_counts / max(reference_counts.sum(), 1), EPS)
    cur = np.maximum(batch_counts / max(batch_counts.sum(), 1), EPS)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def _shares(counts: np.ndarray) -> list[float]:
    total = max(int(counts.sum()), 1)
    return [round(float(c) / total, 6) for c in counts]


def _round(value: float | None, digits: int = 6) -> float | None:
    """Six significant digits (p-values can be tiny); None stays None (strict JSON has no NaN)."""
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.{digits}g}")


def numeric_drift(
    name: str, reference: pd.Series, batch: pd.Series, bins: int, min_rows: int
) -> dict[str, Any]:
    """PSI on the reference's quantile bins and the KS test, for one numeric column."""
    from scipy.stats import ks_2samp

    ref = pd.to_numeric(reference, errors="coerce").to_numpy(dtype="float64")
    cur = pd.to_numeric(batch, errors="coerce").to_numpy(dtype="float64")
    ref_present, cur_present = ref[~np.isnan(ref)], cur[~np.isnan(cur)]
    edges = quantile_edges(ref_present, bins)
    ref_counts, cur_counts = bin_counts(ref, edges), bin_counts(cur, edges)
    labels = bin_labels(edges) + [MISSING]
    keep = [i for i in range(len(labels)) if ref_counts[i] or cur_counts[i]]
    statistic = p_value = None
    if min(ref_present.size, cur_present.size) >= min_rows:
        result = ks_2samp(ref_present, cur_present)
        statistic, p_value = float(result.statistic), float(result.pvalue)
    return {
        "column": name,
        "kind": "numeric",
        "test": "ks",
        "statistic": _round(statistic),
        "p_value": _round(p_value),
        "psi": _round(psi(ref_counts[keep], cur_counts[keep])),
        "rows": {"reference": int(ref_present.size), "batch": int(cur_present.size)},
        "mean": {
            "reference": _round(float(ref_present.mean())) if ref_present.size else None,
            "batch": _round(float(cur_present.mean())) if cur_present.size else None,
        },
        "bins": [labels[i] for i in keep],
        "reference_share": [s for i, s in enumerate(_shares(ref_counts)) if i in keep],
        "batch_share": [s for i, s in enumerate(_shares(cur_counts)) if i in keep],
    }


def categorical_drift(
    name: str, reference: pd.Series, batch: pd.Series, min_rows: int
) -> dict[str, Any]:
    """PSI level by level (levels new in the batch included) and the chi-square test."""
    from scipy.stats import chi2_contingency

    ref_counts = reference.astype("object").fillna(MISSING).astype(str).value_counts()
    cur_counts = batch.astype("object").fillna(MISSING).astype(str).value_counts()
    levels = sorted(ref_counts.index, key=lambda v: (-ref_counts[v], v))
    unseen = sorted(set(cur_counts.index) - set(ref_counts.index), key=lambda v: -cur_counts[v])
    levels += unseen
    ref = ref_counts.reindex(levels, fill_value=0).to_numpy()
    cur = cur_counts.reindex(levels, fill_value=0).to_numpy()
    statistic = p_value = None
    if min(ref.sum(), cur.sum()) >= min_rows:
        if len(levels) > 1:
            result = chi2_contingency(np.vstack([ref, cur]))
            statistic, p_value = float(result.statistic), float(result.pvalue)
        else:
            statistic, p_value = 0.0, 1.0
    return {
        "column": name,
        "kind": "categorical",
        "test": "chi2",
        "statistic": _round(statistic),
        "p_value": _round(p_value),
        "psi": _round(psi(ref, cur)),
        "rows": {"reference": int(ref.sum()), "batch": int(cur.sum())},
        "unseen_levels": {str(level): int(cur_counts[level]) for level in unseen},
        "bins": [str(level) for level in levels],
        "reference_share": _shares(ref),
        "batch_share": _shares(cur),
    }


def judge(result: dict[str, Any], cfg, alpha: float) -> str:
    """ok, warn or drift for one column; too_few when the test could not be run."""
    if result["p_value"] is None:
        return "too_few"
    significant = result["p_value"] < alpha
    if significant and result["psi"] >= cfg.psi_alert:
        return "drift"
    if (significant and result["psi"] >= cfg.psi_warn) or result.get("unseen_levels"):
        return "warn"
    return "ok"


def performance(
    y_true: pd.Series,
    scores: np.ndarray,
    threshold: float,
    reference_metrics: dict[str, float] | None,
    cfg,
) -> dict[str, Any]:
    """The evaluate stage's metrics on the labelled rows, beside the reference test metrics."""
    from tabpipe.core.metrics import binary_metrics

    labelled = y_true.notna().to_numpy()
    y = y_true.to_numpy()[labelled].astype("int64")
    out: dict[str, Any] = {
        "metric": cfg.metric,
        "max_drop": cfg.max_drop,
        "rows": int(labelled.sum()),
    }
    if np.unique(y).size < 2:
        return out | {"status": "too_few", "note": "the labelled rows hold one class only"}
    batch = binary_metrics(y, scores[labelled], threshold)
    if cfg.metric not in batch:
        raise PipelineError(
            f"params.yaml: monitor.performance.metric '{cfg.metric}' is not computed",
            fix=f"use one of: {', '.join(k for k in batch if k != 'threshold')}",
        )
    out |= {"batch": batch, "reference_test": reference_metrics}
    if not reference_metrics or cfg.metric not in reference_metrics:
        return out | {"status": "ok", "note": "no reference test metrics to compare with"}
    drop = batch[cfg.metric] - reference_metrics[cfg.metric]
    if cfg.metric not in LOWER_IS_BETTER:
        drop = -drop
    out["drop"] = round(float(drop), 6)
    out["status"] = "alert" if drop > cfg.max_drop else "ok"
    return out


# --- the whole check ----------------------------------------------------------------------------


def reference_levels(reference: pd.DataFrame, categorical: list[str]) -> dict[str, list[str]]:
    return {c: sorted(reference[c].dropna().astype(str).unique()) for c in categorical}


def _alert_line(result: dict[str, Any], what: str) -> str:
    line = (
        f"{what} '{result['column']}': PSI {result['psi']:.3f}, "
        f"{result['test']} p={result['p_value']:.2g}"
    )
    if result.get("unseen_levels"):
        line += f", new level(s) {', '.join(result['unseen_levels'])}"
    return line


def check_batch(
    reference: Prepared,
    batch: Prepared,
    columns: dict[str, Any],
    reference_scores: np.ndarray,
    batch_scores: np.ndarray,
    threshold: float,
    reference_metrics: dict[str, float] | None,
    cfg,
) -> dict[str, Any]:
    """The monitor's report as plain data: every column's drift, sorted, and the verdict."""
    n = len(batch.rows)
    if n < cfg.min_rows:
        raise BatchTooSmall(
            f"the batch has {n} rows, fewer than monitor.min_rows={cfg.min_rows}: "
            "too few for the drift tests to mean anything, so no verdict",
            fix="wait for a larger batch, or join several",
        )
    results = []
    for column in columns["numeric"]:
        results.append(
            numeric_drift(
                column, reference.rows[column], batch.rows[column], cfg.bins, cfg.min_rows
            )
        )
    for column in columns["categorical"]:
        results.append(
            categorical_drift(column, reference.rows[column], batch.rows[column], cfg.min_rows)
        )
    prediction = numeric_drift(
        "score", pd.Series(reference_scores), pd.Series(batch_scores), cfg.bins, cfg.min_rows
    )
    target = None
    if batch.target is not None and reference.target is not None:
        labels = {0.0: str(columns["negative_label"]), 1.0: str(columns["positive_label"])}
        target = categorical_drift(
            columns["target"],
            reference.target.dropna().map(labels),
            batch.target.dropna().map(labels),
            cfg.min_rows,
        )
        target["positive_rate"] = {
            "reference": round(float(reference.target.mean()), 6),
            "batch": round(float(batch.target.mean()), 6),
        }
    tested = [r for r in [*results, prediction, target] if r and r["p_value"] is not None]
    alpha = cfg.p_value / max(len(tested), 1)  # Bonferroni: one batch, many tests
    for result in [*results, prediction, target]:
        if result:
            result["status"] = judge(result, cfg, alpha)
    results.sort(key=lambda r: (STATUS_ORDER[r["status"]], -r["psi"], r["column"]))

    perf = None
    if batch.target is not None and batch.target.notna().any():
        perf = performance(
            batch.target, batch_scores, threshold, reference_metrics, cfg.performance
        )

    alerts = [_alert_line(r, "feature") for r in results if r["status"] == "drift"]
    if prediction["status"] == "drift":
        alerts.append(_alert_line(prediction, "prediction"))
    if target and target["status"] == "drift":
        rate = target["positive_rate"]
        alerts.append(
            _alert_line(target, "target")
            + f", positive rate {rate['reference']:.3f} -> {rate['batch']:.3f}"
        )
    if perf and perf.get("status") == "alert":
        alerts.append(
            f"performance: {perf['metric']} {perf['batch'][perf['metric']]:.4f} on the batch vs "
            f"{perf['reference_test'][perf['metric']]:.4f} on the test split "
            f"(worse by {perf['drop']:.4f} > {cfg.performance.max_drop})"
        )
    warnings = [_alert_line(r, "feature") for r in results if r["status"] == "warn"]
    for what, result in (("prediction", prediction), ("target", target)):
        if result and result["status"] == "warn":
            warnings.append(_alert_line(result, what))
    return {
        "status": "alert" if alerts else "ok",
        "alerts": alerts,
        "warnings": warnings,
        "rows": {"reference": int(len(reference.rows)), "batch": n},
        "labelled": batch.target is not None,
        "settings": {
            "min_rows": cfg.min_rows,
            "bins": cfg.bins,
            "psi_warn": cfg.psi_warn,
            "psi_alert": cfg.psi_alert,
            "p_value": cfg.p_value,
            "p_value_corrected": _round(alpha),
            "tests": len(tested),
            "performance": {"metric": cfg.performance.metric, "max_drop": cfg.performance.max_drop},
        },
        "features": results,
        "prediction": prediction,
        "target": target,
        "performance": perf,
    }
