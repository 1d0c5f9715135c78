"""Check a table against a schema with pandera: every violation listed, hard ones stop the run.

A schema is a small YAML file (see `infer_schema` for its shape). clean infers one from every
table it sees and writes it to metrics/schema.yaml; copy it into schemas/, edit it, commit it
and point `data.schema` at it, and from then on every table is checked against it.

Each rule has a severity: `error` stops the pipeline with the list of every violation
(column, rule, count, examples); `warn` only records it in metrics/validation.json.
The checks themselves are pandera checks, run lazily so that all failures are collected.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd
from pandas.api.types import is_numeric_dtype

from tabpipe.errors import PipelineError

SCHEMA_VERSION = 1

# rule -> (default severity, what it checks)
RULES: dict[str, tuple[str, str]] = {
    "required": ("error", "a column the schema lists is in the table"),
    "type": ("error", "a numeric column holds only numbers"),
    "target_labels": ("error", "the target holds only the labels the schema lists"),
    "labels": ("warn", "a category column holds only the labels the schema lists"),
    "range": ("warn", "numbers lie within [min, max]"),
    "missing": ("warn", "the share of missing values is at most max_missing"),
    "duplicates": ("warn", "the share of duplicate rows is at most max_duplicates"),
    "unexpected": ("warn", "every column of the table is in the schema"),
}
SEVERITIES = ("error", "warn")
COLUMN_KEYS = ("type", "labels", "min", "max", "max_missing")
TYPES = ("numeric", "categorical", "empty")
TOP_KEYS = ("version", "target", "task", "severity", "max_duplicates", "columns")
EXAMPLES = 3


@dataclass
class Violation:
    column: str | None  # None: the table as a whole
    rule: str
    severity: str
    count: int
    examples: list[Any]
    detail: str = ""

    def describe(self) -> str:
        where = "table" if self.column is None else f"column '{self.column}'"
        rule = f"rule {self.rule}" + (f" ({self.detail})" if self.detail else "")
        text = f"{where}, {rule}"
        if self.rule in ("required", "unexpected"):
            return text + (
                ": not in the table" if self.rule == "required" else ": not in the schema"
            )
        if self.rule in ("missing", "duplicates"):
            what = "missing values" if self.rule == "missing" else "duplicate rows"
            return (
                text
                + f": {self.count} {what}"
                + (f" ({self.examples[0]})" if self.examples else "")
            )
        shown = ", ".join(_show(v) for v in self.examples)
        rows = "row" if self.count == 1 else "rows"
        return text + f": {self.count} {rows}" + (f", e.g. {shown}" if shown else "")


def _show(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value) if isinstance(value, str) else str(value)


# ----------------------------------------------------------------------------- inference


def _ceil(share: float) -> float:
    """A share rounded up to 4 decimals, so the table it came from passes its own check."""
    return math.ceil(share * 10_000) / 10_000


def _number(value: Any) -> int | float:
    value = float(value)
    return int(value) if value.is_integer() else value


def label_strings(series: pd.Series) -> pd.Series:
    """Values as text labels; whole numbers without a decimal point ('4', not '4.0')."""
    if is_numeric_dtype(series) and series.dtype != bool:
        values = series.astype("float64")
        present = values.dropna()
        if len(present) and (present == present.round()).all():
            return values.astype("Int64").astype("string")
    return series.astype("string")


def infer_column(series: pd.Series, max_labels: int) -> dict[str, Any]:
    """The schema entry that `series` satisfies exactly."""
    present = series.dropna()
    entry: dict[str, Any] = {}
    if present.empty:
        entry["type"] = "empty"
    elif is_numeric_dtype(series):
        entry.update(type="numeric", min=_number(present.min()), max=_number(present.max()))
    else:
        entry["type"] = "categorical"
        levels = sorted(label_strings(present).unique().tolist())
        if len(levels) <= max_labels:  # a long list (ids, free text) would only make noise
            entry["labels"] = levels
    entry["max_missing"] = _ceil(float(series.isna().mean()))
    return entry


def infer_schema(
    frame: pd.DataFrame, target: str, task: str, max_labels: int = 50
) -> dict[str, Any]:
    """A schema that `frame` satisfies: types, labels, ranges, missing shares, duplicates."""
    columns = {}
    for column in frame.columns:
        entry = infer_column(frame[column], max_labels)
        if column == target and task in ("binary", "multiclass"):
            entry = {
                "type": "categorical",
                "labels": sorted(label_strings(frame[column].dropna()).unique().tolist()),
                "max_missing": entry["max_missing"],
            }
        columns[str(column)] = entry
    return {
        "version": SCHEMA_VERSION,
        "target": target,
        "task": task,
        "severity": {rule: severity for rule, (severity, _) in RULES.items()},
        "max_duplicates": _ceil(float(frame.duplicated().mean())) if len(frame) else 0.0,
        "columns": columns,
    }


def schema_to_yaml(schema: dict[str, Any], origin: str) -> str:
    """The schema as a commented YAML file a user can review, edit and commit."""
    import yaml

    rules = "\n".join(
        f"#   {rule:<14} {severity:<5}  {text}" for rule, (severity, text) in RULES.items()
    )
    header = (
        f"# Table schema checked by the clean stage (tabpipe, pandera). Inferred from {origin}.\n"
        "# To check future data against it: copy it into schemas/, edit, commit, and set\n"
        "#   -S data.schema=schemas/<name>.yaml\n"
        "# Column names are as clean writes them (normalised). Per column: type (numeric |\n"
        "# categorical | empty), labels (allowed values), min / max, max_missing (a share).\n"
        "# severity: error stops the pipeline, warn is recorded in metrics/validation.json.\n"
        f"# Rules and their defaults:\n{rules}\n"
    )
    body = {k: v for k, v in schema.items() if k != "columns"}
    text = yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=100)
    # one line per column: {type: numeric, min: 0, max: 72, max_missing: 0.0}
    columns = yaml.safe_dump(
        {"columns": schema["columns"]},
        sort_keys=False,
        allow_unicode=True,
        width=100,
        default_flow_style=None,
    )
    return header + text + columns


# ----------------------------------------------------------------------------- loading


def check_schema(schema: Any, where: str) -> dict[str, Any]:
    """A schema read from a file, with every key and value checked; fills default severities."""

    def bad(key: str, problem: str, fix: str) -> PipelineError:
        return PipelineError(f"{where}: {key} {problem}", fix=fix)

    if not isinstance(schema, dict) or not isinstance(schema.get("columns"), dict):
        raise bad("columns", "is missing", "start from the inferred metrics/schema.yaml")
    for key in schema:
        if key not in TOP_KEYS:
            raise bad(key, "is not a schema key", f"use only: {', '.join(TOP_KEYS)}")
    severity = {rule: default for rule, (default, _) in RULES.items()}
    for rule, level in (schema.get("severity") or {}).items():
        if rule not in RULES:
            raise bad(f"severity.{rule}", "is not a rule", f"rules are: {', '.join(RULES)}")
        if level not in SEVERITIES:
            raise bad(f"severity.{rule}", f"is {level!r}", "use error or warn")
        severity[rule] = level
    for column, entry in schema["columns"].items():
        if not isinstance(entry, dict):
            raise bad(f"columns.{column}", "is not a mapping", "e.g. {type: numeric, min: 0}")
        for key in entry:
            if key not in COLUMN_KEYS:
                raise bad(
                    f"columns.{column}.{key}",
                    "is not a column key",
                    f"use only: {', '.join(COLUMN_KEYS)}",
                )
        if entry.get("type", "categorical") not in TYPES:
            raise bad(
                f"columns.{column}.type",
                f"is {entry.get('type')!r}",
                f"use one of: {', '.join(TYPES)}",
            )
        for key in ("min", "max", "max_missing"):
            value = entry.get(key)
            if value is not None and not isinstance(value, int | float):
                raise bad(f"columns.{column}.{key}", f"is {value!r}, not a number", "use a number")
    return {**schema, "severity": severity}


def load_schema(path) -> dict[str, Any]:
    from pathlib import Path

    import yaml

    file = Path(path)
    if not file.is_file():
        raise PipelineError(
            f"data.schema '{path}' does not exist",
            fix="copy the inferred metrics/schema.yaml there, or set -S data.schema=null",
        )
    try:
        schema = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise PipelineError(f"data.schema '{path}' is not valid YAML: {err}") from None
    return check_schema(schema, f"data.schema '{path}'")


# ----------------------------------------------------------------------------- checking


def _numbers(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce") if not is_numeric_dtype(series) else series


def _pandera_schema(schema: dict[str, Any], level: str, frame: pd.DataFrame):
    """The pandera DataFrameSchema holding the rules of one severity level."""
    import pandera.pandas as pa

    severity = schema["severity"]
    target = schema.get("target")

    def on(rule: str) -> bool:
        return severity[rule] == level

    columns = {}
    for name, entry in schema["columns"].items():
        checks = []
        kind = entry.get("type", "categorical")
        if kind == "numeric" and on("type"):
            checks.append(pa.Check(lambda s: _numbers(s).notna(), name="type"))
        if (
            kind == "numeric"
            and on("range")
            and (entry.get("min") is not None or entry.get("max") is not None)
        ):
            low, high = entry.get("min", -math.inf), entry.get("max", math.inf)
            low = -math.inf if low is None else low
            high = math.inf if high is None else high
            checks.append(
                pa.Check(
                    lambda s, lo=low, hi=high: _numbers(s).isna() | _numbers(s).between(lo, hi),
                    name="range",
                )
            )
        labels = entry.get("labels")
        rule = "target_labels" if name == target else "labels"
        if labels is not None and on(rule):
            allowed = {str(v) for v in labels}
            checks.append(
                pa.Check(lambda s, ok=allowed: label_strings(s).isin(ok).astype(bool), name=rule)
            )
        share = entry.get("max_missing")
        if share is not None and on("missing"):
            checks.append(
                pa.Check(
                    lambda s, most=share: bool(s.isna().mean() <= most + 1e-12),
                    name="missing",
                    ignore_na=False,
                )
            )
        columns[name] = pa.Column(
            None, checks=checks, nullable=True, required=on("required"), coerce=False
        )
    table_checks = []
    limit = schema.get("max_duplicates")
    if limit is not None and on("duplicates"):
        table_checks.append(
            pa.Check(
                lambda d, most=limit: bool(d.duplicated().mean() <= most + 1e-12), name="duplicates"
            )
        )
    return pa.DataFrameSchema(columns, checks=table_checks, strict=on("unexpected"))


def _detail(rule: str, entry: dict[str, Any], schema: dict[str, Any]) -> str:
    if rule == "range":
        return f"{_show(entry.get('min', '-inf'))} to {_show(entry.get('max', 'inf'))}"
    if rule in ("labels", "target_labels"):
        labels = [str(v) for v in entry.get("labels", [])]
        return ", ".join(labels[:8]) + (", ..." if len(labels) > 8 else "")
    if rule == "missing":
        return f"at most {entry.get('max_missing', 0):.2%}"
    if rule == "duplicates":
        return f"at most {schema.get('max_duplicates', 0):.2%}"
    if rule == "type":
        return "numeric"
    return ""


def _violations(failures: pd.DataFrame, schema, level, frame) -> list[Violation]:
    out: list[Violation] = []
    failures = failures.copy()
    failures["column"] = failures["column"].astype(object).where(failures["column"].notna(), None)
    for (column, check), group in failures.groupby(["column", "check"], dropna=False, sort=False):
        check = str(check)
        column = (
            None
            if column is None or (isinstance(column, float) and math.isnan(column))
            else str(column)
        )
        if check in ("column_in_dataframe", "column_in_schema"):
            rule = "required" if check == "column_in_dataframe" else "unexpected"
            for name in group["failure_case"].astype(str):
                out.append(Violation(name, rule, level, 1, []))
            continue
        if check not in RULES:  # pandera's own checks (none are configured): report as is
            out.append(Violation(column, check, level, len(group), []))
            continue
        entry = schema["columns"].get(column, {}) if column else {}
        rule = check
        if rule == "missing":
            count = int(frame[column].isna().sum())
            examples = [f"{count / max(len(frame), 1):.2%} of {len(frame)} rows"]
        elif rule == "duplicates":
            count = int(frame.duplicated().sum())
            examples = [f"{count / max(len(frame), 1):.2%} of {len(frame)} rows"]
        else:
            count = int(len(group))
            values = group["failure_case"].tolist()
            examples = list(dict.fromkeys(v.item() if hasattr(v, "item") else v for v in values))
            examples = examples[:EXAMPLES]
        out.append(Violation(column, rule, level, count, examples, _detail(rule, entry, schema)))
    return out


def validate(frame: pd.DataFrame, schema: dict[str, Any]) -> list[Violation]:
    """Every violation of `schema` in `frame`, errors first."""
    import pandera.pandas as pa

    found: list[Violation] = []
    for level in SEVERITIES:
        pandera_schema = _pandera_schema(schema, level, frame)
        try:
            pandera_schema.validate(frame, lazy=True)
        except pa.errors.SchemaErrors as err:
            found.extend(_violations(err.failure_cases, schema, level, frame))
    return found


def report(violations: list[Violation], origin: str, frame: pd.DataFrame) -> dict[str, Any]:
    """The validation report written to metrics/validation.json."""

    def entry(v: Violation) -> dict[str, Any]:
        data = asdict(v)
        data["examples"] = [_show(x) if not isinstance(x, str) else x for x in v.examples]
        data["message"] = v.describe()
        return data

    errors = [entry(v) for v in violations if v.severity == "error"]
    warnings = [entry(v) for v in violations if v.severity == "warn"]
    return {
        "schema": origin,
        "rows": int(len(frame)),
        "columns": int(frame.shape[1]),
        "passed": not errors,
        "errors": errors,
        "warnings": warnings,
    }


class SchemaViolations(PipelineError):
    """Hard violations; carries the full report so the stage can write it before stopping."""

    def __init__(self, message: str, *, fix: str, report: dict[str, Any]) -> None:
        super().__init__(message, fix=fix)
        self.report = report


def raise_on_errors(violations: list[Violation], origin: str, frame: pd.DataFrame) -> None:
    """Stop with every error listed, one per line (and the report attached)."""
    errors = [v for v in violations if v.severity == "error"]
    if not errors:
        return
    count = f"{len(errors)} schema violation" + ("s" if len(errors) > 1 else "")
    # one violation stays on the error's one line; several get a line each
    if len(errors) == 1:
        listed = f": {errors[0].describe()} (warnings too in metrics/validation.json)"
    else:
        lines = "\n".join(f"  - {v.describe()}" for v in errors)
        listed = f":\n{lines}\n  (all of them, warnings too, in metrics/validation.json)"
    raise SchemaViolations(
        f"{count} against {origin}{listed}",
        fix=f"correct the data, or edit {origin} (a rule's severity: warn makes it a warning)",
        report=report(violations, origin, frame),
    )
