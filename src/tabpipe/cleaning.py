"""Deterministic tidying of a raw table. Pure functions of DataFrames; nothing is fitted here.

Learning from the rows (imputing with medians, encoding) happens in featurize, on training rows
only. Cleaning only repairs how values are written, so it can run on all rows without leakage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from tabpipe.errors import PipelineError

_NUMBER_JUNK = re.compile(r"[\s,$€£%]")


def normalize_name(name: str) -> str:
    """'Monthly Charges ' -> 'monthly_charges'; 'TotalCharges' -> 'total_charges'."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(name).strip())
    text = re.sub(r"[^0-9a-zA-Z]+", "_", text).strip("_").lower()
    return text or "column"


def normalize_column_names(frame: pd.DataFrame) -> pd.DataFrame:
    names = [normalize_name(c) for c in frame.columns]
    reserved = set(names)  # a suffixed name must not take another column's own name
    used: set[str] = set()
    unique = []
    for name in names:  # keep two columns apart when they normalise to one name
        candidate, count = name, 1
        while candidate in used or (candidate != name and candidate in reserved):
            count += 1
            candidate = f"{name}_{count}"
        used.add(candidate)
        unique.append(candidate)
    return frame.set_axis(unique, axis=1)


def numbers_from_text(series: pd.Series) -> pd.Series | None:
    """The column as numbers if every non-empty value parses once spaces, ',', '$' are removed."""
    if is_numeric_dtype(series) or is_bool_dtype(series):
        return None
    text = series.astype("string").str.strip()
    text = text.mask(text == "")
    present = text.notna()
    if not present.any():
        return None
    parsed = pd.to_numeric(text[present].str.replace(_NUMBER_JUNK, "", regex=True), errors="coerce")
    if parsed.isna().any():
        return None
    out = pd.Series(float("nan"), index=series.index, dtype="float64")
    out[present] = parsed.astype("float64")
    return out


def normalize_labels(series: pd.Series) -> pd.Series:
    """Strip and collapse spaces; labels that differ only in case become the commonest spelling."""
    text = series.astype("string").str.strip().str.replace(r"\s+", " ", regex=True)
    text = text.mask(text == "")
    counts = text.value_counts(sort=False)
    canonical: dict[str, str] = {}
    # the most frequent spelling wins; ties go to the first in sorted order (deterministic)
    for label, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        canonical.setdefault(label.casefold(), label)
    return text.map(lambda v: canonical[v.casefold()] if isinstance(v, str) else v).astype("str")


@dataclass
class CleanResult:
    frame: pd.DataFrame
    report: dict[str, Any] = field(default_factory=dict)
    columns: dict[str, Any] = field(default_factory=dict)


def clean_table(raw: pd.DataFrame, data_cfg, clean_cfg) -> CleanResult:
    """Tidy `raw` and decide each column's role (target, id, numeric, categorical)."""
    frame = raw.copy()
    rename = normalize_name if clean_cfg.normalize_column_names else str
    if clean_cfg.normalize_column_names:
        frame = normalize_column_names(frame)
    target = rename(data_cfg.target)
    if target not in frame.columns:
        raise PipelineError(
            f"target column '{data_cfg.target}' (data.target) is not in the table; "
            f"columns are: {', '.join(map(str, raw.columns))}",
            fix="set data.target to one of them, e.g. `-S data.target=<column>`",
        )
    id_columns = [rename(c) for c in data_cfg.id_columns]
    dropped = [rename(c) for c in data_cfg.drop]
    for key, names in (("data.id_columns", id_columns), ("data.drop", dropped)):
        missing = [c for c in names if c not in frame.columns]
        if missing:
            raise PipelineError(f"{key} names columns not in the table: {', '.join(missing)}")
    frame = frame.drop(columns=dropped)
    report: dict[str, Any] = {"rows_in": int(len(raw)), "columns_in": int(raw.shape[1])}

    converted = []
    for column in frame.columns:
        if column in id_columns:
            continue
        if clean_cfg.numbers_from_text and column != target:  # labels "1"/"0" stay "1"/"0"
            numbers = numbers_from_text(frame[column])
            if numbers is not None:
                frame[column] = numbers
                converted.append(column)
                continue
        if clean_cfg.normalize_labels and not is_numeric_dtype(frame[column]):
            frame[column] = normalize_labels(frame[column])
    report["numbers_from_text"] = converted

    before = len(frame)
    frame = frame[frame[target].notna()]
    report["dropped_missing_target"] = int(before - len(frame))
    if clean_cfg.drop_duplicates:
        before = len(frame)
        frame = frame.drop_duplicates()
        report["dropped_duplicates"] = int(before - len(frame))

    for column, value in dict(clean_cfg.fill_missing).items():
        if column not in frame.columns:
            raise PipelineError(f"clean.fill_missing names a column not in the table: {column}")
        frame[column] = frame[column].fillna(value)
    if clean_cfg.drop_missing_rows:
        before = len(frame)
        frame = frame.dropna()
        report["dropped_missing_rows"] = int(before - len(frame))
    frame = frame.reset_index(drop=True)

    labels = frame[target].astype("string")
    classes = sorted(labels.unique().tolist())
    if len(classes) < 2:
        raise PipelineError(
            f"target '{target}' has only one class ({classes[0] if classes else 'none'}) "
            f"in {len(frame)} rows; a classifier needs at least two",
            fix="check data.target and the rows the source returns",
        )
    if len(classes) > 2:
        raise PipelineError(
            f"target '{target}' has {len(classes)} classes; this pipeline predicts two",
            fix="pick a binary target column with data.target",
        )
    positive = data_cfg.positive_label
    if positive is None:  # default: the minority class
        positive = labels.value_counts().sort_index().idxmin()
    positive = str(positive)
    if positive not in classes:
        raise PipelineError(
            f"data.positive_label '{positive}' is not a label of '{target}' ({', '.join(classes)})",
            fix="set data.positive_label to one of them",
        )
    frame[target] = (labels == positive).astype("int64")
    negative = next(c for c in classes if c != positive)

    features = [c for c in frame.columns if c != target and c not in id_columns]
    forced = {rename(c) for c in data_cfg.categorical}
    numeric = [c for c in features if is_numeric_dtype(frame[c]) and c not in forced]
    categorical = [c for c in features if c not in numeric]
    for column in categorical:
        frame[column] = frame[column].astype("string").astype("str")  # missing stays NaN

    report["rows_out"] = int(len(frame))
    report["columns_out"] = int(frame.shape[1])
    report["missing_values"] = {c: int(n) for c, n in frame.isna().sum().items() if n}
    columns = {
        "target": target,
        "positive_label": positive,
        "negative_label": negative,
        "id_columns": id_columns,
        "numeric": numeric,
        "categorical": categorical,
    }
    return CleanResult(frame=frame, report=report, columns=columns)
