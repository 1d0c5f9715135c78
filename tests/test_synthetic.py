"""The synthetic source: deterministic bytes, requested shape and positive rate, learnable."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from tabpipe.core import synthetic
from tabpipe.core.synthetic import BLOCK_ROWS, Spec
from tabpipe.errors import PipelineError


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_same_seed_gives_the_same_bytes_and_another_seed_other_bytes(tmp_path):
    spec = Spec(n_rows=BLOCK_ROWS + 1000, seed=7)  # two blocks, the second one short
    first, again, other = tmp_path / "a.parquet", tmp_path / "b.parquet", tmp_path / "c.parquet"
    assert synthetic.write(spec, first) == spec.n_rows
    synthetic.write(spec, again)
    synthetic.write(Spec(n_rows=spec.n_rows, seed=8), other)
    assert digest(first) == digest(again)
    assert digest(first) != digest(other)


def test_a_longer_table_starts_with_the_rows_of_a_shorter_one():
    # each block has its own seed: rows do not depend on how many come after them
    short = synthetic.frame(Spec(n_rows=500, seed=3))
    long = synthetic.frame(Spec(n_rows=BLOCK_ROWS + 10, seed=3))
    pd.testing.assert_frame_equal(short, long.iloc[:500])


def test_columns_dtypes_and_row_groups(tmp_path):
    import pyarrow.parquet as pq

    spec = Spec(n_rows=2 * BLOCK_ROWS + 5, n_numeric=3, n_categorical=2)
    path = tmp_path / "t.parquet"
    synthetic.write(spec, path)
    meta = pq.ParquetFile(path).metadata
    assert meta.num_row_groups == 3
    table = pd.read_parquet(path)
    assert list(table.columns) == ["num_0", "num_1", "num_2", "cat_0", "cat_1", "target"]
    assert all(table[f"num_{i}"].dtype == np.float32 for i in range(3))
    assert pd.api.types.is_string_dtype(table["cat_0"])
    assert set(table["target"].unique()) == {0, 1}
    assert table["cat_1"].nunique() == 5  # the second column has 5 levels


@pytest.mark.parametrize("rate", [0.05, 0.3])
def test_the_positive_rate_is_close_to_the_requested_one(rate):
    table = synthetic.frame(Spec(n_rows=60_000, positive_rate=rate, signal=1.0, seed=1))
    assert table["target"].mean() == pytest.approx(rate, abs=0.01)


def test_the_intercept_hits_the_rate_on_the_score_it_is_given():
    score = np.random.default_rng(0).normal(0, 2, 10_000)
    b = synthetic.calibrate_intercept(score, 0.1)
    assert np.mean(1 / (1 + np.exp(-(b + score)))) == pytest.approx(0.1, abs=1e-5)


def test_a_model_learns_the_table_and_signal_zero_is_noise():
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    def auc(signal: float) -> float:
        table = synthetic.frame(Spec(n_rows=40_000, positive_rate=0.2, signal=signal, seed=5))
        X = pd.get_dummies(table.drop(columns="target"), dtype=float)
        y = table["target"]
        model = LogisticRegression(max_iter=1000).fit(X[:20_000], y[:20_000])
        return roc_auc_score(y[20_000:], model.predict_proba(X[20_000:])[:, 1])

    assert auc(1.0) > 0.8
    assert auc(0.0) == pytest.approx(0.5, abs=0.03)


def test_bad_sizes_are_named():
    with pytest.raises(PipelineError, match=r"data.positive_rate must be between 0 and 1"):
        synthetic.check(Spec(n_rows=100, positive_rate=1.5))
    with pytest.raises(PipelineError, match=r"data.n_rows must be at least 10"):
        synthetic.check(Spec(n_rows=0))
