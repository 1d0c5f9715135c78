"""Deterministic tidying of a raw table. Pure functions of DataFrames; nothing is fitted here.

Learning from the rows (imputing with medians, encoding) happens in featurize, on training rows
only. Cleaning only repairs how values are written, so it can run on all rows without leakage.

The order: tidy how values are written (names, numbers stored as text, label spellings);
decide the task from the target; check the table against its schema (validation.py); then
drop what cannot be learned from (rows without a target, duplicate rows, empty and constant
columns, ID-like columns) and record every column's role for the stages after.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_integer_dtype, is_numeric_dtype

from tabpipe.core import validation
from tabpipe.errors import PipelineError

_NUMBER_JUNK = re.compile(r"[\s,$€£%]")


def without_number_junk(text: pd.Series) -> pd.Series:
    """'$1,234.5 ' -> '1234.5': spaces, thousands separators, currency and % signs removed.

    The one rule for numbers written as text, in `clean` and for rows scored later."""
    return text.str.replace(_NUMBER_JUNK, "", regex=True)


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


def _distinct(series: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """Row codes (-1: missing) and the distinct values as stripped text (empty text missing).

    The text functions below work on the distinct values and map back by code: a column of
    ten million rows holds a handful of distinct texts, and string operations per row were
    most of the clean stage's time on large tables.
    """
    codes, uniques = pd.factorize(series)
    text = pd.Series(uniques, dtype=object).astype("string").str.strip()
    return codes, text.mask(text == "")


def numbers_from_text(series: pd.Series) -> pd.Series | None:
    """The column as numbers if every non-empty value parses once spaces, ',', '$' are removed."""
    if is_numeric_dtype(series) or is_bool_dtype(series):
        return None
    codes, text = _distinct(series)
    present = text.notna()
    if not present.any():
        return None
    parsed = pd.to_numeric(without_number_junk(text[present]), errors="coerce")
    if parsed.isna().any():
        return None
    values = np.full(len(text) + 1, np.nan)  # the extra last slot is what code -1 picks
    values[np.flatnonzero(present.to_numpy())] = parsed.astype("float64").to_numpy()
    return pd.Series(values[codes], index=series.index, dtype="float64")


def normalize_labels(series: pd.Series) -> pd.Series:
    """Strip and collapse spaces; labels that differ only in case become the commonest spelling."""
    codes, text = _distinct(series)
    text = text.str.replace(r"\s+", " ", regex=True)
    rows_per_value = np.bincount(codes[codes >= 0], minlength=len(text))
    present = text.notna().to_numpy()
    counts = pd.Series(rows_per_value[present]).groupby(text[present].to_numpy(), sort=False).sum()
    canonical: dict[str, str] = {}
    # the most frequent spelling wins; ties go to the first in sorted order (deterministic)
    for label, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        canonical.setdefault(label.casefold(), label)
    labels = [canonical[v.casefold()] if isinstance(v, str) else None for v in text]
    values = np.asarray([*labels, None], dtype=object)  # the last slot is what code -1 picks
    return pd.Series(values[codes], index=series.index, name=series.name).astype("str")


TASKS = ("binary", "multiclass", "regression")


@dataclass
class CleanResult:
    frame: pd.DataFrame
    report: dict[str, Any] = field(default_factory=dict)
    columns: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    schema: dict[str, Any] = field(default_factory=dict)  # inferred from this table
    validation: dict[str, Any] = field(default_factory=dict)


@dataclass
class Tidy:
    frame: pd.DataFrame
    target: str
    id_columns: list[str]
    rename: Any
    report: dict[str, Any]


def tidy(raw: pd.DataFrame, data_cfg, clean_cfg) -> Tidy:
    """Repair how values are written; nothing is dropped but the `data.drop` columns."""
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
    if target in dropped:
        raise PipelineError(f"data.drop names the target column '{target}'")
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
    return Tidy(frame, target, id_columns, rename, report)


def _as_numbers(series: pd.Series) -> pd.Series | None:
    """The target as numbers, or None when it is text that does not parse."""
    if is_bool_dtype(series):
        return None
    if is_numeric_dtype(series):
        return series.astype("float64")
    return numbers_from_text(series)


def decide_task(series: pd.Series, requested: str, max_classes: int) -> tuple[str, str]:
    """The task for the target `series`, and why (auto: from its type and distinct values)."""
    name = series.name
    present = series.dropna()
    numbers = _as_numbers(present)
    distinct = int(present.nunique())
    if len(series) == 0:
        raise PipelineError(
            "the table has a header but no rows",
            fix="check the file or the query: the source returned column names only",
        )
    if len(present) == 0:
        raise PipelineError(
            f"target '{name}' is empty in all {len(series)} rows",
            fix="check data.target (is it the column you meant?) and the export of that column",
        )
    if distinct < 2:
        shown = str(present.iloc[0]) if len(present) else "none"
        raise PipelineError(
            f"target '{name}' has only one class ({shown}) in {len(present)} rows; "
            "a model needs at least two values to learn from",
            fix="check data.target and the rows the source returns",
        )
    whole = numbers is not None and bool((numbers == numbers.round()).all())
    if requested == "auto":
        if distinct == 2:
            return "binary", f"target '{name}' has two values"
        if numbers is None:
            return "multiclass", f"target '{name}' is text with {distinct} labels"
        if whole and distinct <= max_classes:
            return "multiclass", (
                f"target '{name}' holds {distinct} whole numbers "
                f"(at most clean.max_classes={max_classes})"
            )
        return "regression", f"target '{name}' is numeric with {distinct} distinct values"
    if requested == "binary" and distinct != 2:
        raise PipelineError(
            f"target '{name}' has {distinct} classes; task=binary needs exactly two",
            fix="use -S task=multiclass (or task=auto), or pick another data.target",
        )
    if requested == "multiclass" and distinct < 3:
        raise PipelineError(
            f"target '{name}' has {distinct} classes; task=multiclass needs three or more",
            fix="use -S task=binary (or task=auto)",
        )
    if requested == "regression" and numbers is None:
        example = next(
            (v for v in present.astype(str) if pd.isna(pd.to_numeric(v, errors="coerce"))), ""
        )
        raise PipelineError(
            f"target '{name}' is not numeric (e.g. {example!r}); task=regression needs numbers",
            fix="use -S task=auto (or binary / multiclass), or pick a numeric data.target",
        )
    if requested not in TASKS:
        raise PipelineError(
            f"unknown task '{requested}'", fix="use one of: auto, binary, multiclass, regression"
        )
    return requested, f"task={requested} was set"


def _target_values(series: pd.Series, task: str) -> pd.Series:
    """The target as the later stages see it before encoding: numbers or text labels."""
    if task == "regression":
        return _as_numbers(series)
    return validation.label_strings(series).astype("str").where(series.notna(), None)


def _is_row_number(series: pd.Series) -> bool:
    values = series.to_numpy()
    return bool(
        is_integer_dtype(series)
        and not series.isna().any()
        and (series.sort_values().diff().dropna() == 1).all()
        and len(values) > 1
    )


def detect_id_columns(frame: pd.DataFrame, candidates: list[str], min_rows: int = 20) -> dict:
    """Columns that identify rows rather than describe them: column -> why."""
    found: dict[str, str] = {}
    if len(frame) < min_rows:  # in a handful of rows, anything can be unique
        return found
    for column in candidates:
        series = frame[column]
        if series.isna().any() or series.nunique() != len(frame):
            continue
        if not is_numeric_dtype(series):
            found[column] = "text unique in every row"
        elif _is_row_number(series):
            found[column] = "row numbers (consecutive integers, one per row)"
    return found


def _note(notes: list[str], column: str, rule: str, action: str) -> None:
    notes.append(f"column '{column}': {rule}: {action}")


def finish(tidied: Tidy, task: str, data_cfg, clean_cfg, notes: list[str]) -> CleanResult:
    """Drop what cannot be learned from, encode the target and decide every column's role."""
    frame, target, report = tidied.frame, tidied.target, dict(tidied.report)
    id_columns = list(tidied.id_columns)
    frame[target] = _target_values(frame[target], task)

    before = len(frame)
    frame = frame[frame[target].notna()]
    report["dropped_missing_target"] = int(before - len(frame))
    if report["dropped_missing_target"]:
        _note(
            notes,
            target,
            "missing target",
            f"{report['dropped_missing_target']} rows without a value dropped",
        )
    if clean_cfg.drop_duplicates:
        before = len(frame)
        frame = frame.drop_duplicates()
        report["dropped_duplicates"] = int(before - len(frame))
        if report["dropped_duplicates"]:
            notes.append(f"table: duplicate rows: {report['dropped_duplicates']} dropped")

    features = [c for c in frame.columns if c != target and c not in id_columns]
    dropped_columns: dict[str, str] = {}
    for column in features:
        series = frame[column]
        if clean_cfg.drop_empty_columns and series.isna().all():
            dropped_columns[column] = "empty (no values)"
        elif clean_cfg.drop_constant_columns and series.nunique(dropna=False) == 1:
            dropped_columns[column] = f"constant (every row is {series.iloc[0]!r})"
    for column, why in dropped_columns.items():
        _note(notes, column, why, "dropped")
    frame = frame.drop(columns=list(dropped_columns))
    report["dropped_columns"] = dropped_columns

    forced = {tidied.rename(c) for c in data_cfg.categorical}
    features = [c for c in frame.columns if c != target and c not in id_columns]
    detected = (
        detect_id_columns(frame, [c for c in features if c not in forced])
        if clean_cfg.detect_id_columns
        else {}
    )
    for column, why in detected.items():
        _note(
            notes,
            column,
            f"ID-like, {why}",
            "kept out of the features (clean.detect_id_columns=false keeps it)",
        )
    id_columns += [c for c in features if c in detected]
    report["id_columns_detected"] = detected

    for column, value in dict(clean_cfg.fill_missing).items():
        if column not in frame.columns:
            raise PipelineError(f"clean.fill_missing names a column not in the table: {column}")
        frame[column] = frame[column].fillna(value)
    if clean_cfg.drop_missing_rows:
        before = len(frame)
        frame = frame.dropna()
        report["dropped_missing_rows"] = int(before - len(frame))
    frame = frame.reset_index(drop=True)
    if frame.empty:
        raise PipelineError(
            f"no rows left after cleaning ({report['rows_in']} came in)",
            fix="check the source and clean.drop_missing_rows",
        )

    columns: dict[str, Any] = {"task": task, "target": target}
    columns.update(_encode_target(frame, target, task, data_cfg))

    features = [c for c in frame.columns if c != target and c not in id_columns]
    numeric = [c for c in features if is_numeric_dtype(frame[c]) and c not in forced]
    categorical = [c for c in features if c not in numeric]
    high = {}
    for column in categorical:
        frame[column] = frame[column].astype("string").astype("str")  # missing stays NaN
        levels = int(frame[column].nunique())
        if levels > clean_cfg.high_cardinality:
            high[column] = levels
            _note(
                notes,
                column,
                f"high cardinality ({levels} levels)",
                "featurize groups levels rarer than featurize.min_category_frequency",
            )
    report["high_cardinality"] = high

    report["rows_out"] = int(len(frame))
    report["columns_out"] = int(frame.shape[1])
    report["missing_values"] = {c: int(n) for c, n in frame.isna().sum().items() if n}
    # numeric columns that take more than two values: featurize.bins applies to these only
    continuous = [c for c in numeric if frame[c].nunique() > 2]
    columns.update(
        id_columns=id_columns, numeric=numeric, continuous=continuous, categorical=categorical
    )
    return CleanResult(frame=frame, report=report, columns=columns, notes=notes)


def _encode_target(frame: pd.DataFrame, target: str, task: str, data_cfg) -> dict[str, Any]:
    """Binary: the positive label becomes 1. Multiclass: text labels. Regression: numbers."""
    if task == "regression":
        frame[target] = frame[target].astype("float64")
        return {}
    labels = frame[target].astype("str")
    classes = sorted(labels.unique().tolist())
    if task == "multiclass":
        frame[target] = labels
        return {"classes": classes}
    positive = data_cfg.positive_label
    if positive is None:  # default: the minority class
        positive = labels.value_counts().sort_index().idxmin()
    # 'yes' finds 'Yes': labels were unified ignoring case, so the setting may be too
    wanted = " ".join(str(positive).split()).casefold()
    match = [c for c in classes if c.casefold() == wanted]
    if not match:
        raise PipelineError(
            f"data.positive_label '{positive}' is not a label of '{target}' ({', '.join(classes)})",
            fix="set data.positive_label to one of them",
        )
    positive = match[0]
    frame[target] = (labels == positive).astype("int64")
    negative = next(c for c in classes if c != positive)
    return {"positive_label": positive, "negative_label": negative}


def clean_table(
    raw: pd.DataFrame,
    data_cfg,
    clean_cfg,
    task: str = "auto",
    schema: dict[str, Any] | None = None,
    schema_origin: str = "the schema inferred from this table",
) -> CleanResult:
    """Tidy `raw`, decide the task, check the schema, and decide each column's role.

    `schema` (from `validation.load_schema`) is what the table is checked against; without
    one, the table is checked against the schema inferred from itself (which it satisfies,
    so only the report is written). Hard violations raise `validation.SchemaViolations`.
    """
    tidied = tidy(raw, data_cfg, clean_cfg)
    notes: list[str] = []
    for column in tidied.report["numbers_from_text"]:
        _note(notes, column, "numbers stored as text", "converted to numbers")
    chosen, why = decide_task(tidied.frame[tidied.target], task, clean_cfg.max_classes)
    notes.append(f"task: {chosen} ({why})")

    checked = tidied.frame.copy()
    checked[tidied.target] = _target_values(checked[tidied.target], chosen)
    inferred = validation.infer_schema(
        checked, tidied.target, chosen, max_labels=clean_cfg.high_cardinality
    )
    if schema is not None and schema.get("target") not in (None, tidied.target):
        raise PipelineError(
            f"{schema_origin} is for target '{schema.get('target')}', "
            f"but data.target is '{tidied.target}'",
            fix="point data.schema at this table's schema, or -S data.schema=null",
        )
    used = validation.check_schema(inferred, "inferred") if schema is None else schema
    violations = validation.validate(checked, used)
    validation.raise_on_errors(violations, schema_origin, checked)
    for v in violations:
        notes.append(f"warning: {v.describe()}")

    result = finish(tidied, chosen, data_cfg, clean_cfg, notes)
    result.report["task"] = chosen
    result.schema = inferred
    result.validation = validation.report(violations, schema_origin, checked)
    return result
