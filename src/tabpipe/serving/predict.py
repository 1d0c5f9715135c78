"""Score new rows with the trained inference pipeline: one file in chunks, or records in memory.

Rows arrive as the training input did (raw columns, the target optional) and get the same
tidying as in `clean` (tabpipe.core.cleaning): column names normalised, numbers written as text
parsed, category labels unified to the training spelling. A row that cannot be scored (text
in a number column, a category the model never saw, a missing value where training allowed
none) is set aside with its reason instead of stopping the run. The HTTP service (serve.py)
uses the same `Scorer`, so a row gets the same probability whichever way it comes in.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from tabpipe import io
from tabpipe.core.cleaning import normalize_column_names, without_number_junk
from tabpipe.core.metrics import class_weights_of, weighted_labels
from tabpipe.errors import PipelineError

CHUNK_ROWS = 50_000
_SPACES = re.compile(r"\s+")
# Progress bars only for inputs that take a while.
PROGRESS_MIN_ROWS = 200_000


@dataclass
class InputSchema:
    """What a row must hold to be scored, taken from the training run."""

    features: list[str]  # the training input's columns, in order
    numeric: list[str]
    categorical: list[str]
    categories: dict[str, list[str]]  # known labels per categorical column (none: unchecked)
    id_columns: list[str]
    target: str
    positive_label: str | None = None
    negative_label: str | None = None
    normalize_column_names: bool = True
    numbers_from_text: bool = True
    normalize_labels: bool = True
    fill_missing: dict[str, Any] = field(default_factory=dict)
    drop_missing_rows: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "features": self.features,
            "numeric": self.numeric,
            "categorical": {c: self.categories.get(c) for c in self.categorical},
            "id_columns": self.id_columns,
            "target": self.target,
        }


def known_categories(pipeline) -> dict[str, list[str]]:
    """Labels each categorical input column had in training, read from the fitted encoder."""
    found: dict[str, list[str]] = {}

    def visit(est) -> None:
        if hasattr(est, "categories_") and hasattr(est, "feature_names_in_"):
            for name, labels in zip(est.feature_names_in_, est.categories_, strict=False):
                found[str(name)] = [str(v) for v in labels if isinstance(v, str)]
        for _, step in getattr(est, "steps", []):
            visit(step)
        for _, transformer, _ in getattr(est, "transformers_", []):
            if not isinstance(transformer, str):
                visit(transformer)

    visit(pipeline)
    return found


def build_schema(pipeline, columns: dict, clean_cfg) -> InputSchema:
    features = list(getattr(pipeline, "feature_names_in_", []))
    if not features:
        features = list(columns["numeric"]) + list(columns["categorical"])
    categories = known_categories(pipeline)
    return InputSchema(
        features=features,
        numeric=[c for c in features if c in set(columns["numeric"])],
        categorical=[c for c in features if c not in set(columns["numeric"])],
        categories={c: v for c, v in categories.items() if c in features},
        id_columns=list(columns.get("id_columns", [])),
        target=columns["target"],
        positive_label=columns.get("positive_label"),
        negative_label=columns.get("negative_label"),
        normalize_column_names=bool(clean_cfg.normalize_column_names),
        numbers_from_text=bool(clean_cfg.numbers_from_text),
        normalize_labels=bool(clean_cfg.normalize_labels),
        fill_missing=dict(clean_cfg.fill_missing),
        drop_missing_rows=bool(clean_cfg.drop_missing_rows),
    )


# ----------------------------------------------------------------------------- tidying rows


@functools.lru_cache(maxsize=64)
def _renamed(names: tuple[str, ...], normalize: bool) -> tuple[str, ...]:
    if not normalize:
        return tuple(str(n) for n in names)
    return tuple(normalize_column_names(pd.DataFrame(columns=list(names))).columns)


def column_names(names: list[str], schema: InputSchema) -> list[str]:
    """Input column names as cleaning renames them."""
    return list(_renamed(tuple(str(n) for n in names), schema.normalize_column_names))


def check_columns(names: list[str], schema: InputSchema, source: str) -> None:
    """Refuse an input that lacks a column the model needs (nothing is scored or written)."""
    present = set(column_names(names, schema))
    missing = [c for c in schema.features if c not in present]
    if missing:
        raise PipelineError(
            f"{source}: missing column(s) {', '.join(missing)}; the model needs "
            f"{', '.join(schema.features)}",
            fix="give every training input column (the target may be left out)",
        )


def _per_distinct(values: pd.Series, tidy, dtype) -> tuple[np.ndarray, np.ndarray]:
    """Apply `tidy` (distinct values -> (tidied, bad)) once per distinct value, then spread.

    A file of a million rows holds a few thousand distinct labels or number strings, so the
    string work runs once per distinct value instead of once per row.
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    tidied, bad = tidy(list(uniques))
    present = codes >= 0
    out = np.full(len(values), np.nan, dtype=dtype)
    flags = np.zeros(len(values), dtype=bool)
    if len(tidied):
        out[present] = np.asarray(tidied, dtype=dtype)[codes[present]]
        flags[present] = np.asarray(bad, dtype=bool)[codes[present]]
    return out, flags


def _numbers(values: pd.Series, from_text: bool) -> tuple[np.ndarray, np.ndarray]:
    """The column as float64, and a mask of values that are present but not finite numbers."""
    if is_bool_dtype(values) or is_numeric_dtype(values):
        numbers = values.to_numpy(dtype="float64", na_value=np.nan)
        return numbers, np.isinf(numbers)

    def parse(uniques: list) -> tuple[np.ndarray, np.ndarray]:
        text = pd.Series(uniques, dtype="string").str.strip()
        text = text.mask(text == "")
        if from_text:  # the rule `clean` used: drop spaces, thousands separators, currency signs
            text = without_number_junk(text)
        numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        return numbers, (text.notna().to_numpy() & np.isnan(numbers)) | np.isinf(numbers)

    return _per_distinct(values, parse, "float64")


def _labels(
    values: pd.Series, known: list[str] | None, normalize: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The column as training spelled its labels, and a mask of labels it never saw."""
    spelling = {(k.casefold() if normalize else k): k for k in known or []}

    def tidy(uniques: list) -> tuple[list, list]:
        labels, bad = [], []
        for value in uniques:  # the distinct labels: a short list
            text = str(value)  # what `clean` did: .astype("string")
            if normalize:  # strip, collapse spaces, then match ignoring case
                text = _SPACES.sub(" ", text.strip())
            if not text and normalize:
                labels.append(np.nan)
                bad.append(False)
            elif not known:
                labels.append(text)
                bad.append(False)
            else:
                label = spelling.get(text.casefold() if normalize else text)
                labels.append(np.nan if label is None else label)
                bad.append(label is None)
        return labels, bad

    return _per_distinct(values, tidy, object)


def _listing(values: list[str] | None, limit: int = 8) -> str:
    values = list(values or [])
    more = f", ... ({len(values)} in all)" if len(values) > limit else ""
    return ", ".join(values[:limit]) + more


@dataclass
class Prepared:
    rows: pd.DataFrame  # id columns (those present) and features, ready for the pipeline
    rejected: pd.Series  # input position -> reason, for rows that cannot be scored
    kinds: Counter = field(default_factory=Counter)


def prepare(raw: pd.DataFrame, schema: InputSchema) -> Prepared:
    """Tidy raw rows as `clean` did and split off the ones that cannot be scored."""
    frame = raw.set_axis(column_names(list(raw.columns), schema), axis=1)
    check_columns(list(frame.columns), schema, "input")
    reasons = np.full(len(frame), None, dtype=object)
    flagged = np.zeros(len(frame), dtype=bool)
    kinds: Counter = Counter()

    def flag(bad: np.ndarray, kind: str, column: str, describe) -> None:
        new = bad & ~flagged
        if new.any():
            shown = frame[column].to_numpy(dtype=object)[new]
            reasons[new] = [describe("" if pd.isna(v) else str(v)) for v in shown]
            flagged[new] = True
            kinds[kind] += int(new.sum())

    out: dict[str, Any] = {c: frame[c] for c in schema.id_columns if c in frame.columns}
    for column in schema.features:
        if column in schema.numeric:
            values, bad = _numbers(frame[column], schema.numbers_from_text)
            flag(bad, "not a number", column, lambda v, c=column: f"{c}: {v!r} is not a number")
            series = pd.Series(values, index=frame.index, dtype="float64")
        else:
            known = schema.categories.get(column)
            values, bad = _labels(frame[column], known, schema.normalize_labels)
            flag(
                bad,
                "unseen category",
                column,
                lambda v, c=column, k=known: f"{c}: unseen category {v!r} (known: {_listing(k)})",
            )
            series = pd.Series(values, index=frame.index, dtype="str")
        if column in schema.fill_missing:
            series = series.fillna(schema.fill_missing[column])
        if schema.drop_missing_rows:
            flag(
                series.isna().to_numpy(),
                "missing value",
                column,
                lambda v, c=column: f"{c}: missing value (clean.drop_missing_rows)",
            )
        out[column] = series
    rows = pd.DataFrame(out, index=frame.index)
    rejected = pd.Series(reasons[flagged], index=frame.index[flagged], dtype="object")
    return Prepared(rows=rows[~flagged] if flagged.any() else rows, rejected=rejected, kinds=kinds)


# ----------------------------------------------------------------------------- scoring


@dataclass
class Scorer:
    """The inference pipeline with what it needs to score raw rows."""

    pipeline: Any
    schema: InputSchema
    threshold: float | None
    # multiclass: class label -> weight of its probability in the label's choice (evaluate's)
    class_weights: dict[str, float] | None = None

    def score(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Id columns, then the positive class probability and the label at the threshold.

        (A multiclass model gives one probability per class and the class of highest
        probability x class weight, as evaluate chose and measured it; a regressor its
        prediction.)
        """
        ids = rows[[c for c in self.schema.id_columns if c in rows.columns]]
        features = rows[self.schema.features]
        model = self.pipeline[-1] if hasattr(self.pipeline, "steps") else self.pipeline
        classes = list(getattr(model, "classes_", []))
        out = ids.copy()
        if len(classes) == 2 and self.threshold is not None:
            positive = classes.index(1) if 1 in classes else 1
            probability = (  # scikit-learn refuses zero rows
                self.pipeline.predict_proba(features)[:, positive]
                if len(features)
                else np.zeros(0, dtype="float64")
            )
            out["probability"] = probability
            out["label"] = np.where(
                probability >= self.threshold,
                str(self.schema.positive_label),
                str(self.schema.negative_label),
            )
        elif classes:
            probabilities = (
                self.pipeline.predict_proba(features)
                if len(features)
                else np.zeros((0, len(classes)), dtype="float64")
            )
            for i, name in enumerate(classes):
                out[f"probability_{name}"] = probabilities[:, i]
            out["label"] = weighted_labels(probabilities, classes, self.class_weights)
        else:
            out["prediction"] = self.pipeline.predict(features) if len(features) else np.zeros(0)
        return out


def load_scorer(root: Path = Path(".")) -> Scorer:
    """The saved pipeline, its column roles, cleaning settings and decision threshold."""
    from tabpipe.config import load_section

    root = Path(root)
    for path in (io.COLUMNS, io.EVALUATE_METRICS):
        if not (root / path).exists():
            raise PipelineError(f"{path} does not exist", fix="run the pipeline first: `make run`")
    pipeline = io.load_model(root / io.MODEL)
    roles = io.read_json(root / io.COLUMNS)
    test = io.read_json(root / io.EVALUATE_METRICS).get("test", {})
    schema = build_schema(pipeline, roles, load_section("clean", path=root / io.PARAMS))
    return Scorer(
        pipeline=pipeline,
        schema=schema,
        threshold=test.get("threshold"),
        class_weights=class_weights_of(test) or None,
    )


# ----------------------------------------------------------------------------- files


def check_input(path: Path) -> None:
    """An empty or unreadable file to score stops before anything is written, in one line."""
    if path.stat().st_size == 0:
        raise PipelineError(
            f"{path}: the file is empty (0 bytes)", fix="give a header row and the rows to score"
        )
    try:
        names = input_columns(path)
    except UnicodeDecodeError as err:
        raise PipelineError(
            f"{path} is not UTF-8 text (byte 0x{err.object[err.start]:02x})",
            fix="save it as UTF-8 CSV, or as Parquet",
        ) from None
    except Exception as err:  # pyarrow raises several kinds for a file that is not Parquet
        raise PipelineError(
            f"{path} is not a readable Parquet file: {_first_line(err)}",
            fix="check the file, or give it as CSV",
        ) from None
    if len(names) == 1 and path.suffix.lower() != ".parquet":
        from tabpipe.core.sources import likely_separator

        likely = likely_separator(names[0], ",")
        if likely:  # e.g. a spreadsheet's ';' export: say so, not "missing columns"
            raise PipelineError(
                f"{path}: the header is one column ({names[0][:60]!r}); the file looks "
                f"separated by {likely!r}",
                fix="give a comma-separated UTF-8 CSV file (or Parquet): export it again",
            )


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0].rstrip(".") if text else type(err).__name__


def input_columns(path: Path) -> list[str]:
    if path.suffix.lower() in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        return list(pq.ParquetFile(path).schema_arrow.names)
    import csv

    with open(path, newline="", encoding="utf-8") as handle:
        return next(csv.reader(handle), [])


def count_rows(path: Path) -> int | None:
    """Rows in a Parquet file (from its footer); None for CSV (it would need a full read)."""
    if path.suffix.lower() in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    return None


def iter_chunks(path: Path, chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """The input a chunk at a time, so memory stays flat however long the file is.

    CSV values are all read as text: numbers go through the same parsing as in `clean`, so a
    stray text in a number column rejects one row instead of changing the column's type.
    """
    import pyarrow as pa

    if path.suffix.lower() in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
            yield batch.to_pandas()
        return
    import pyarrow.csv as pacsv

    names = input_columns(path)
    problem = (pa.ArrowInvalid, UnicodeDecodeError)  # e.g. a row with extra fields
    try:
        # the reader parses its first block when it opens
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=max(1 << 20, chunk_rows * 256)),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in names}, strings_can_be_null=True
            ),
        )
        for batch in reader:  # a later block can hold the bad row
            yield batch.to_pandas()
    except problem as err:
        raise PipelineError(
            f"{path} is not a readable CSV file: {_first_line(err)}",
            fix="check that row, or export the file again (comma separated, UTF-8)",
        ) from None


class _Output:
    """Append scored chunks to a CSV or Parquet file."""

    def __init__(self, path: Path, kind: str) -> None:
        self.path, self.kind = path, kind
        self.writer = None
        self.schema = None
        self.handle = None

    def write(self, frame: pd.DataFrame) -> None:
        if self.kind == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self.writer is None:
                self.schema = table.schema
                self.writer = pq.ParquetWriter(self.path, self.schema)
            self.writer.write_table(table.cast(self.schema))
        else:
            if self.handle is None:
                self.handle = open(self.path, "w", encoding="utf-8", newline="")  # noqa: SIM115
                frame.to_csv(self.handle, index=False)
            else:
                frame.to_csv(self.handle, index=False, header=False)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if self.handle is not None:
            self.handle.close()
            self.handle = None


def _kind(path: Path, role: str) -> str:
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix == ".csv":
        return "csv"
    raise PipelineError(
        f"{path}: unknown {role} format '{suffix or '(none)'}'", fix="use a .csv or .parquet file"
    )


def rejects_path(out: Path) -> Path:
    return out.with_name(out.name.rsplit(".", 1)[0] + ".rejects.csv")


@dataclass
class Summary:
    scored: int
    rejected: int
    output: Path
    rejects: Path
    kinds: Counter


def predict_file(
    source: Path,
    target: Path,
    scorer: Scorer | None = None,
    chunk_rows: int = CHUNK_ROWS,
    progress: bool = True,
) -> Summary:
    """Score `source` into `target` chunk by chunk; rejected rows go to `<target>.rejects.csv`.

    Both files are written beside their final names and renamed at the end, so a failure
    leaves any earlier output untouched.
    """
    from tqdm import tqdm

    source, target = Path(source), Path(target)
    _kind(source, "input")
    out_kind = _kind(target, "output")
    if not source.exists():
        raise PipelineError(
            f"{source} does not exist", fix="give the path of a CSV or Parquet file"
        )
    if source.resolve() == target.resolve():
        raise PipelineError(
            f"{target}: the output would overwrite the input", fix="choose another OUT"
        )
    check_input(source)
    scorer = scorer or load_scorer()
    check_columns(input_columns(source), scorer.schema, str(source))
    total = count_rows(source)
    long_input = (total or 0) > PROGRESS_MIN_ROWS or (
        total is None and source.stat().st_size > 50 * 2**20
    )
    bar = tqdm(
        total=total,
        unit="rows",
        desc="predict",
        disable=None if (progress and long_input) else True,
    )

    rejects_file = rejects_path(target)
    scored = rejected = 0
    kinds: Counter = Counter()
    with ExitStack() as stack:
        tmp_out = stack.enter_context(io.atomic_path(target))
        tmp_rejects = stack.enter_context(io.atomic_path(rejects_file))
        output = _Output(tmp_out, out_kind)
        stack.callback(output.close)
        rejects = _Output(tmp_rejects, "csv")
        stack.callback(rejects.close)
        stack.callback(bar.close)
        offset = 0
        wrote_rejects_header = False
        for raw in iter_chunks(source, chunk_rows):
            raw.index = pd.RangeIndex(offset, offset + len(raw))
            prepared = prepare(raw, scorer.schema)
            result = scorer.score(prepared.rows)
            if not any(c in result.columns for c in scorer.schema.id_columns):
                result.insert(0, "row", prepared.rows.index.to_numpy())
            output.write(result)
            if len(prepared.rejected) or not wrote_rejects_header:
                bad = raw.loc[prepared.rejected.index].astype("string")
                bad.insert(0, "reason", prepared.rejected.to_numpy())
                bad.insert(0, "row", prepared.rejected.index.to_numpy())
                rejects.write(bad)
                wrote_rejects_header = True
            scored += len(result)
            rejected += len(prepared.rejected)
            kinds.update(prepared.kinds)
            offset += len(raw)
            bar.update(len(raw))
        if offset == 0:  # an empty input still gets files with the right header
            empty = pd.DataFrame(columns=input_columns(source))
            result = scorer.score(prepare(empty, scorer.schema).rows)
            output.write(result)
            rejects.write(pd.DataFrame(columns=["row", "reason", *empty.columns]))
        output.close()
        rejects.close()
    return Summary(scored, rejected, target, rejects_file, kinds)


def describe(summary: Summary) -> str:
    line = f"predict: {summary.scored} rows scored -> {summary.output}; {summary.rejected} rejected"
    if summary.rejected:
        kinds = ", ".join(f"{kind}: {n}" for kind, n in summary.kinds.most_common())
        line += f" -> {summary.rejects} ({kinds})"
    return line
