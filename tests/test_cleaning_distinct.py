"""The text repairs work on distinct values: the same result as the row-by-row versions."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from tabpipe.core.cleaning import normalize_labels, numbers_from_text

_JUNK = re.compile(r"[\s,$€£%]")


def numbers_row_by_row(series: pd.Series) -> pd.Series | None:
    """The earlier implementation, kept here as the reference."""
    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return None
    text = series.astype("string").str.strip()
    text = text.mask(text == "")
    present = text.notna()
    if not present.any():
        return None
    parsed = pd.to_numeric(text[present].str.replace(_JUNK, "", regex=True), errors="coerce")
    if parsed.isna().any():
        return None
    out = pd.Series(float("nan"), index=series.index, dtype="float64")
    out[present] = parsed.astype("float64")
    return out


def labels_row_by_row(series: pd.Series) -> pd.Series:
    text = series.astype("string").str.strip().str.replace(r"\s+", " ", regex=True)
    text = text.mask(text == "")
    counts = text.value_counts(sort=False)
    canonical: dict[str, str] = {}
    for label, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        canonical.setdefault(label.casefold(), label)
    return text.map(lambda v: canonical[v.casefold()] if isinstance(v, str) else v).astype("str")


def random_column(rng: np.random.Generator, pool: list, n: int = 300) -> pd.Series:
    values = [pool[i] for i in rng.integers(0, len(pool), n)]
    return pd.Series(values, index=rng.permutation(n) + 10, name="col", dtype=object)


LABEL_POOL = ["Yes", "yes", " YES ", "No", "no", "Two  year", "two year", "", "  ", None, np.nan]
NUMBER_POOL = ["1,200", " $3.5 ", "7", "", None, np.nan, "12 %", "-4", "1e3"]


@pytest.mark.parametrize("seed", range(8))
def test_labels_match_the_row_by_row_version(seed):
    column = random_column(np.random.default_rng(seed), LABEL_POOL)
    pd.testing.assert_series_equal(normalize_labels(column), labels_row_by_row(column))
    as_str = column.astype("str")  # the dtype pandas reads text from Parquet as
    pd.testing.assert_series_equal(normalize_labels(as_str), labels_row_by_row(as_str))


@pytest.mark.parametrize("seed", range(8))
def test_numbers_match_the_row_by_row_version(seed):
    rng = np.random.default_rng(seed)
    column = random_column(rng, NUMBER_POOL)
    pd.testing.assert_series_equal(numbers_from_text(column), numbers_row_by_row(column))
    mixed = random_column(rng, [*NUMBER_POOL, 5, 2.5])  # numbers and text in one column
    pd.testing.assert_series_equal(numbers_from_text(mixed), numbers_row_by_row(mixed))


def test_text_that_is_not_a_number_or_no_text_at_all_is_left_alone():
    assert numbers_from_text(pd.Series(["1", "two", None])) is None
    assert numbers_from_text(pd.Series(["", None, "  "], dtype=object)) is None
    assert numbers_from_text(pd.Series([1.0, 2.0])) is None
