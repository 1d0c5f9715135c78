"""Resampling of the training split with imbalanced-learn. Validation and test never come here.

SMOTE-style resamplers pick nearest neighbours by distance, so on raw scales one wide column
(total charges: 0 to 8,700) decides every neighbour. The neighbour search therefore runs on
standardised numbers (statistics from the training rows given, which is all this module sees),
with 0/1 flags and text columns as categories; synthetic rows are mapped back to the original
scales and the original rows are returned exactly as they came. Resamplers that only take
numbers (borderline SMOTE, ADASYN, SMOTE-ENN, ...) see the categories one-hot encoded, and each
synthetic row gets the category whose one-hot column came out largest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_integer_dtype

from tabpipe.errors import PipelineError

_MISSING = "__missing__"


@dataclass
class BalanceResult:
    X: pd.DataFrame
    y: pd.Series
    report: dict[str, Any] = field(default_factory=dict)


def class_counts(y: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in y.value_counts().sort_index().items()}


def neighbour_categoricals(X: pd.DataFrame, categorical: list[str]) -> list[str]:
    """Columns SMOTENC treats as categories: text columns and numeric 0/1 flags."""
    flags = [
        c
        for c in X.columns
        if c not in categorical and X[c].dropna().isin([0, 1]).all() and X[c].nunique() <= 2
    ]
    return [c for c in X.columns if c in categorical or c in flags]


def choose_sampler(sampler, categorical: list[str], n_columns: int):
    """SMOTE cannot handle categories: switch to SMOTENC (mixed) or SMOTEN (all categorical)."""
    from imblearn.over_sampling import SMOTE, SMOTEN, SMOTENC

    if type(sampler) is not SMOTE or not categorical:
        return sampler
    params = sampler.get_params()
    if len(categorical) == n_columns:
        params.pop("n_jobs", None)
        return SMOTEN(**params)
    return SMOTENC(categorical_features=list(categorical), **params)


def per_class_strategy(sampler, y: pd.Series) -> dict | None:
    """A float `sampling_strategy` (minority:majority ratio) as a per-class target count.

    imbalanced-learn accepts a float for two classes only. With more, every class is brought
    to the same ratio against the largest (over-sampling) or the largest classes are cut to
    smallest / ratio (under-sampling); classes already there are left as they are.
    """
    ratio = getattr(sampler, "sampling_strategy", None)
    counts = y.value_counts()
    if not isinstance(ratio, float) or len(counts) <= 2:
        return None
    if getattr(sampler, "_sampling_type", "") == "under-sampling":
        cap = int(np.floor(counts.min() / ratio))
        return {label: int(min(n, cap)) for label, n in counts.items()}
    floor = int(np.ceil(counts.max() * ratio))
    return {label: int(max(n, floor)) for label, n in counts.items() if n < floor}


def already_at_ratio(sampler, y: pd.Series) -> str | None:
    """A note when two classes are already at or beyond `sampler`'s float ratio, else None.

    imbalanced-learn refuses such a ratio ("The specified ratio required to remove samples
    from the minority class while trying to generate new samples"); on an ordinary table with
    a 37 % minority that would end the user's first run, so the rows pass through instead.
    """
    ratio = getattr(sampler, "sampling_strategy", None)
    counts = y.value_counts()
    if not isinstance(ratio, float) or len(counts) != 2:
        return None
    minority, majority = int(counts.min()), int(counts.max())
    current = minority / majority
    # imbalanced-learn's own rounding: a target count of int(...) rows
    if getattr(sampler, "_sampling_type", "") == "under-sampling":
        nothing_to_do = int(minority / ratio) >= majority
    else:
        nothing_to_do = int(majority * ratio) <= minority
    if not nothing_to_do:
        return None
    return (
        f"minority:majority is already {current:.3f}, at or above "
        f"sampling_strategy={ratio:g}: training rows passed through unchanged"
    )


def _dense_decoder():
    """SMOTENC's one-hot encoder, decoding from a dense array (same result, about 4x faster:
    SMOTENC hands it a sparse matrix, and scipy's row-wise argmax is slow)."""
    from sklearn.preprocessing import OneHotEncoder

    class DenseDecodingOneHotEncoder(OneHotEncoder):
        def inverse_transform(self, X):
            return super().inverse_transform(X.toarray() if hasattr(X, "toarray") else X)

    return DenseDecodingOneHotEncoder(handle_unknown="ignore", dtype=np.float64)


def needs_numbers(sampler) -> bool:
    """True for resamplers that measure distances on every column, so cannot take text."""
    from imblearn.over_sampling import SMOTEN, SMOTENC, RandomOverSampler
    from imblearn.under_sampling import RandomUnderSampler

    return not isinstance(sampler, (SMOTEN, SMOTENC, RandomOverSampler, RandomUnderSampler))


def _one_hot(search: pd.DataFrame, cats: list[str]) -> tuple[pd.DataFrame, dict[str, list]]:
    """Replace each text column of `search` by 0/1 columns, one per level."""
    levels = {c: sorted(search[c].unique()) for c in cats}
    blocks = [search.drop(columns=cats)]
    for column, values in levels.items():
        codes = search[column].to_numpy()
        blocks.append(
            pd.DataFrame(
                {f"{column}\x00{i}": (codes == v).astype("float64") for i, v in enumerate(values)},
                index=search.index,
            )
        )
    return pd.concat(blocks, axis=1), levels


def _from_one_hot(encoded: pd.DataFrame, columns, levels: dict[str, list]) -> pd.DataFrame:
    """The inverse of `_one_hot`: the level with the largest value of its block."""
    out = encoded[[c for c in encoded.columns if "\x00" not in str(c)]].copy()
    for column, values in levels.items():
        block = encoded[[f"{column}\x00{i}" for i in range(len(values))]].to_numpy(float)
        out[column] = np.asarray(values, dtype=object)[block.argmax(axis=1)]
    return out[list(columns)]


def _check_neighbours(sampler, y: pd.Series) -> None:
    k = getattr(sampler, "k_neighbors", None)
    if not isinstance(k, int):
        return
    counts = y.value_counts()
    minority, size = counts.idxmin(), int(counts.min())
    if size <= k:
        raise PipelineError(
            f"the minority class {minority} has {size} training rows, but "
            f"balance.k_neighbors={k} needs at least {k + 1}",
            fix=f"use a smaller -S balance.k_neighbors={max(size - 1, 1)} "
            "or another resampler, e.g. -S balance=random_over or -S balance=none",
        )


def resample(X: pd.DataFrame, y: pd.Series, sampler, categorical: list[str]) -> BalanceResult:
    """Resample the training rows `X`, `y` with `sampler` (None: pass through)."""
    report: dict[str, Any] = {"before": class_counts(y)}
    if sampler is None:
        report.update(resampler="none", after=class_counts(y))
        return BalanceResult(X, y, report)

    note = already_at_ratio(sampler, y)
    if note is not None:
        report.update(
            resampler="none", configured=type(sampler).__name__, after=class_counts(y), note=note
        )
        return BalanceResult(X, y, report)
    cats = neighbour_categoricals(X, categorical)
    sampler = choose_sampler(sampler, cats, X.shape[1])
    strategy = per_class_strategy(sampler, y)
    if strategy is not None:
        if not strategy:  # every class is already at the ratio
            report.update(resampler="none", after=class_counts(y), note="classes already balanced")
            return BalanceResult(X, y, report)
        sampler.set_params(sampling_strategy=strategy)
        report["per_class_target"] = {str(k): v for k, v in sorted(strategy.items())}
    _check_neighbours(sampler, y)
    if getattr(sampler, "categorical_features", None) is not None:
        sampler.set_params(categorical_features=cats)
        if sampler.get_params().get("categorical_encoder", "") is None:
            sampler.set_params(categorical_encoder=_dense_decoder())
    report["resampler"] = type(sampler).__name__
    if not needs_features(sampler):
        return _by_indices(X, y, sampler, report)

    numeric = [c for c in X.columns if c not in cats]
    center = X[numeric].median() if numeric else pd.Series(dtype=float)
    scale = X[numeric].std(ddof=0).replace(0, 1.0) if numeric else pd.Series(dtype=float)
    search = X.copy()
    if numeric:
        search[numeric] = ((X[numeric] - center) / scale).fillna(0.0).astype("float64")
    for column in cats:
        search[column] = X[column].astype(object).where(X[column].notna(), _MISSING).astype(str)

    levels = None
    if cats and needs_numbers(sampler):
        search, levels = _one_hot(search, cats)
    try:
        X_res, y_res = sampler.fit_resample(search, y)
    except (RuntimeError, ValueError) as err:  # e.g. ADASYN on classes that do not overlap
        raise PipelineError(
            f"balance ({type(sampler).__name__}) failed: {str(err).splitlines()[0]}",
            fix="use another resampler, e.g. -S balance=smote or -S balance=none",
        ) from None
    X_res = pd.DataFrame(X_res, columns=search.columns)
    if levels is not None:
        X_res = _from_one_hot(X_res, X.columns, levels)
    y_res = pd.Series(np.asarray(y_res), name=y.name)

    indices = getattr(sampler, "sample_indices_", None)
    if indices is not None:  # random over/under-sampling: every row is an original row
        X_out = X.iloc[indices].reset_index(drop=True)
    else:
        synthetic = _restore(X_res, X, numeric, cats, center, scale)
        from imblearn.over_sampling.base import BaseOverSampler

        # over-samplers keep every original row; combined ones (SMOTE-ENN) also remove some
        keeps_originals = isinstance(sampler, BaseOverSampler)
        if keeps_originals:  # imblearn puts the original rows first, then the new ones
            X_out = pd.concat([X, synthetic.iloc[len(X) :]], ignore_index=True)
        else:
            X_out = synthetic
    report["after"] = class_counts(y_res)
    report["rows_added"] = int(len(X_out) - len(X))
    return BalanceResult(X_out.reset_index(drop=True), y_res, report)


def needs_features(sampler) -> bool:
    """False for samplers that pick rows from the labels alone (random over/under-sampling)."""
    from imblearn.over_sampling import RandomOverSampler
    from imblearn.under_sampling import RandomUnderSampler

    return not (
        isinstance(sampler, (RandomOverSampler, RandomUnderSampler))
        and getattr(sampler, "shrinkage", None) is None  # shrinkage draws new values
    )


def _by_indices(X: pd.DataFrame, y: pd.Series, sampler, report: dict) -> BalanceResult:
    """Resample with a sampler that only picks rows: it sees row numbers, not the table.

    Its choice depends on the labels and its seed only, so this gives the rows the full
    preparation would; on six million rows that preparation (standardised copies, text
    columns as Python strings) took more memory than all the later stages.
    """
    positions = np.arange(len(X)).reshape(-1, 1)
    _, y_res = sampler.fit_resample(positions, y)
    X_out = X.iloc[sampler.sample_indices_].reset_index(drop=True)
    y_out = pd.Series(np.asarray(y_res), name=y.name)
    report["after"] = class_counts(y_out)
    report["rows_added"] = int(len(X_out) - len(X))
    return BalanceResult(X_out, y_out, report)


def _restore(X_res, X, numeric, cats, center, scale) -> pd.DataFrame:
    """Map resampled rows back to the original scales and dtypes."""
    out = X_res.copy()
    for column in numeric:
        values = X_res[column].astype("float64") * scale[column] + center[column]
        if is_integer_dtype(X[column]):
            values = values.round()
        out[column] = values.astype(X[column].dtype if is_integer_dtype(X[column]) else "float64")
    for column in cats:
        values = X_res[column].astype(object).where(X_res[column] != _MISSING, np.nan)
        if X[column].dtype.kind in "iuf":
            values = pd.to_numeric(values)
            values = values.astype("float64" if values.isna().any() else X[column].dtype)
        else:
            values = values.astype(X[column].dtype)
        out[column] = values
    return out
