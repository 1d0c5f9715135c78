"""features: the transformer learns from the training rows only and scores any later rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tabpipe.config import load_section
from tabpipe.core.features import build_transformer
from tabpipe.errors import PipelineError

NUMERIC = ["tenure", "charges"]
CATEGORICAL = ["contract"]


def featurize_cfg(**values):
    return load_section("featurize", params={"featurize": values})


@pytest.fixture
def train() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "tenure": [1, 2, 3, 10, 4, 6],
            "charges": [10.0, 20.0, 30.0, 40.0, 25.0, 35.0],
            "contract": ["m2m", "1y", "m2m", "2y", "1y", "m2m"],
        }
    )


@pytest.fixture
def test_rows() -> pd.DataFrame:
    """Later rows with far larger values, a missing charge and a contract never seen in train."""
    return pd.DataFrame(
        {"tenure": [100, 200], "charges": [np.nan, 5000.0], "contract": ["m2m", "3y"]}
    )


def fitted(train, y=None, **values):
    cfg = featurize_cfg(**{"min_category_frequency": 1, **values})
    return build_transformer(cfg, NUMERIC, CATEGORICAL, seed=0).fit(train, y)


def test_scaler_and_imputer_learn_from_the_training_rows_only(train, test_rows):
    transformer = fitted(train)
    numeric = transformer.named_steps["columns"].named_transformers_["numeric"]
    scaler, imputer = numeric.named_steps["scale"], numeric.named_steps["impute"]
    np.testing.assert_allclose(scaler.mean_, train[NUMERIC].mean().to_numpy())
    both = pd.concat([train, test_rows])[NUMERIC].mean().to_numpy()
    assert not np.allclose(scaler.mean_, both)
    np.testing.assert_allclose(imputer.statistics_, train[NUMERIC].median().to_numpy())

    out = transformer.transform(test_rows)
    # the missing test charge is filled with the training median, then scaled with train stats
    expected = (train["charges"].median() - train["charges"].mean()) / train["charges"].std(ddof=0)
    assert out["charges"].iloc[0] == pytest.approx(expected)
    # transforming the test rows does not refit anything
    np.testing.assert_allclose(scaler.mean_, train[NUMERIC].mean().to_numpy())


def test_unseen_categories_do_not_fail(train, test_rows):
    out = fitted(train).transform(test_rows)
    onehot = [c for c in out.columns if c.startswith("contract_")]
    assert sorted(onehot) == ["contract_1y", "contract_2y", "contract_m2m"]
    assert out.loc[0, onehot].tolist() == [0.0, 0.0, 1.0]  # m2m
    assert out.loc[1, onehot].sum() == 0.0  # '3y' was never seen


def test_rare_and_unseen_categories_fall_into_the_infrequent_column(train, test_rows):
    out = fitted(train, min_category_frequency=3).transform(test_rows)
    # only m2m has >= 3 training rows; 1y, 2y and the unseen 3y are 'infrequent'
    assert list(out.columns[2:]) == ["contract_m2m", "contract_infrequent_sklearn"]
    assert out.iloc[1, 2:].tolist() == [0.0, 1.0]


def test_derived_features_are_computed(train):
    derived = {"per_month": "charges / (tenure + 1)", "long": "tenure > 3"}
    transformer = fitted(train, scale=False, derived=derived)
    out = transformer.transform(train)
    np.testing.assert_allclose(out["per_month"], train["charges"] / (train["tenure"] + 1))
    assert out["long"].tolist() == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    assert "per_month" in transformer.get_feature_names_out()


def test_a_bad_derived_expression_is_named(train):
    with pytest.raises(PipelineError, match=r"featurize\.derived\.bad: cannot compute 'nope \* 2'"):
        fitted(train, derived={"bad": "nope * 2"})


def test_id_and_target_columns_in_the_rows_are_ignored(train, test_rows):
    transformer = fitted(train)
    plain = transformer.transform(test_rows)
    extra = test_rows.assign(customer_id=["a", "b"], churn=[1, 0])
    out = transformer.transform(extra[["customer_id", *test_rows.columns, "churn"]])
    pd.testing.assert_frame_equal(out, plain)
    assert not {"customer_id", "churn"} & set(out.columns)


def test_a_missing_input_column_is_named(train, test_rows):
    transformer = fitted(train)
    with pytest.raises(PipelineError, match=r"input rows lack the column\(s\): charges"):
        transformer.transform(test_rows.drop(columns=["charges"]))


def test_select_k_best_keeps_k_columns():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 60)
    rows = pd.DataFrame(
        {
            "tenure": y * 10 + rng.normal(size=60),  # informative
            "charges": rng.normal(size=60),
            "contract": rng.choice(["a", "b", "c"], 60),
        }
    )
    transformer = fitted(rows, y, select_k_best=2)
    out = transformer.transform(rows)
    assert out.shape == (60, 2)
    assert "tenure" in out.columns


def test_without_scaling_numbers_pass_through(train):
    out = fitted(train, scale=False).transform(train)
    np.testing.assert_allclose(out[NUMERIC], train[NUMERIC].astype(float))


def test_bins_cut_continuous_columns_at_training_quantiles_only(train, test_rows):
    cfg = featurize_cfg(min_category_frequency=1, bins=3)
    flags = train.assign(flag=[0, 1, 0, 1, 1, 0])
    transformer = build_transformer(
        cfg, [*NUMERIC, "flag"], CATEGORICAL, seed=0, continuous=NUMERIC
    ).fit(flags)
    names = list(transformer.get_feature_names_out())
    # each continuous column: its scaled value plus one 0/1 column per bin; the flag: no bins
    tenure = ["tenure", "tenure_0.0", "tenure_1.0", "tenure_2.0"]
    assert [n for n in names if n.startswith("tenure")] == tenure
    assert not [n for n in names if n.startswith("flag_")]
    bins = transformer.named_steps["columns"].named_transformers_["bins"].named_steps["bin"]
    np.testing.assert_allclose(
        bins.bin_edges_[0],
        np.quantile(train["tenure"], [0, 1 / 3, 2 / 3, 1], method="averaged_inverted_cdf"),
    )

    out = transformer.transform(test_rows.assign(flag=[0, 1]))
    one_hot = out[tenure[1:]].to_numpy()
    assert (one_hot.sum(axis=1) == 1).all()
    assert one_hot[:, 2].all()  # tenure 100 and 200: beyond the training range, the top bin


@pytest.mark.parametrize("bins", [None, 0])
def test_bins_off_adds_no_columns(train, bins):
    cfg = featurize_cfg(min_category_frequency=1, bins=bins)
    transformer = build_transformer(cfg, NUMERIC, CATEGORICAL, continuous=NUMERIC).fit(train)
    assert list(transformer.get_feature_names_out()) == [
        "tenure",
        "charges",
        "contract_1y",
        "contract_2y",
        "contract_m2m",
    ]


def test_a_single_bin_is_refused_with_the_key_named():
    with pytest.raises(PipelineError, match=r"featurize.bins is -1.*at least 2"):
        build_transformer(featurize_cfg(bins=-1), NUMERIC, CATEGORICAL, continuous=NUMERIC)
