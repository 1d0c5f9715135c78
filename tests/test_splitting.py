"""splitting: stratified, seeded train / test split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tabpipe.core.splitting import split_table
from tabpipe.errors import PipelineError

SHARES = {"train": 0.8, "test": 0.2}


@pytest.fixture
def table() -> pd.DataFrame:
    """200 rows, 53 positive, in a shuffled order; `row` identifies each row."""
    rng = np.random.default_rng(3)
    y = np.array([1] * 53 + [0] * 147)
    rng.shuffle(y)
    return pd.DataFrame({"row": np.arange(200), "x": rng.normal(size=200), "churn": y})


def split(frame, seed=42, test_size=0.2):
    return split_table(frame, "churn", test_size, seed)


def test_parts_have_the_configured_shares_of_every_class(table):
    parts = split(table)
    for label in (0, 1):
        n_class = int((table["churn"] == label).sum())
        for name, share in SHARES.items():
            n = int((parts[name]["churn"] == label).sum())
            assert abs(n - share * n_class) <= 1, (name, label, n)


def test_positive_rate_is_the_same_in_every_part(table):
    parts = split(table)
    rate = table["churn"].mean()
    for name, part in parts.items():
        # within one positive row of the overall rate
        assert abs(part["churn"].sum() - rate * len(part)) <= 1, name


def test_rows_are_disjoint_cover_the_table_and_keep_their_order(table):
    parts = split(table)
    ids = [part["row"].tolist() for part in parts.values()]
    every = [i for part in ids for i in part]
    assert sorted(every) == list(range(len(table)))  # each row exactly once
    for part_ids in ids:
        assert part_ids == sorted(part_ids)
    for name, part in parts.items():
        assert part.index.tolist() == list(range(len(part))), name
        pd.testing.assert_frame_equal(
            part, table.set_index("row").loc[part["row"]].reset_index()[table.columns]
        )


def test_same_seed_same_split_other_seed_other_split(table):
    first, again, other = split(table, seed=1), split(table, seed=1), split(table, seed=2)
    for name in SHARES:
        pd.testing.assert_frame_equal(first[name], again[name])
    assert set(first["test"]["row"]) != set(other["test"]["row"])
    assert len(first["test"]) == len(other["test"])


def test_the_smallest_allowed_class_reaches_every_part(table):
    frame = pd.concat([table[table["churn"] == 0], table[table["churn"] == 1].head(3)])
    parts = split(frame)
    assert [int(parts[name]["churn"].sum()) for name in SHARES] == [2, 1]


@pytest.mark.parametrize("test_size", [0.0, 1.0, -0.1, 1.5])
def test_bad_sizes_are_refused(table, test_size):
    with pytest.raises(PipelineError, match=rf"split\.test_size={test_size} must be in \(0, 1\)"):
        split(table, test_size=test_size)


def test_a_class_with_fewer_than_three_rows_is_refused(table):
    frame = pd.concat([table[table["churn"] == 0], table[table["churn"] == 1].head(2)])
    with pytest.raises(PipelineError, match=r"target 'churn' class '1' has 2 rows"):
        split(frame)
