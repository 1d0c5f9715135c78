"""cv: folds on the training rows, resampling inside each fold only, the pipeline's own steps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from imblearn.over_sampling import SMOTE
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_validate

from tabpipe.core.cv import (
    Fold,
    Resampler,
    fold_pipeline,
    main_metric,
    prepare_folds,
    score_folds,
    splits,
)
from tabpipe.core.features import build_transformer
from tabpipe.errors import PipelineError


@pytest.fixture
def table() -> tuple[pd.DataFrame, pd.Series]:
    """300 rows, 20 % positive, with numbers, a 0/1 flag, a text column, groups and a date."""
    rng = np.random.default_rng(3)
    n = 300
    y = pd.Series((rng.uniform(size=n) < 0.2).astype(int), name="churn")
    rows = pd.DataFrame(
        {
            "tenure": rng.integers(1, 72, n) - 20 * y,
            "charges": rng.uniform(20, 100, n) + 15 * y,
            "senior": rng.integers(0, 2, n),
            "contract": np.where(y == 1, "m2m", rng.choice(["1y", "2y", "m2m"], n)),
            "customer": [f"c{i // 3}" for i in range(n)],  # three rows per customer
            "day": rng.permutation(n),
        }
    )
    rows["contract"] = rows["contract"].astype("str")
    return rows, y


NUMERIC, CATEGORICAL = ["tenure", "charges", "senior"], ["contract"]


def cv_cfg(section, **values):
    return section("cv", **values)


def transformer(section):
    return build_transformer(section("featurize"), NUMERIC, CATEGORICAL, 0)


def test_scores_equal_an_imblearn_pipeline_under_cross_validate(table, section):
    """prepare_folds + score_folds compute exactly what the resampler -> features -> model
    pipeline computes fold by fold: the cache changes the cost, not the scores."""
    rows, y = table
    X = rows[NUMERIC + CATEGORICAL]
    folds = splits(cv_cfg(section, folds=4), rows, y, "binary")
    sampler = SMOTE(sampling_strategy=0.6, k_neighbors=3, random_state=0)
    model = LogisticRegression(C=0.5)
    prepared = prepare_folds(X, y, folds, sampler, transformer(section), CATEGORICAL)
    ours = score_folds(model, prepared, main_metric("auto", "binary"))
    pipeline = fold_pipeline(sampler, transformer(section), model, CATEGORICAL)
    theirs = cross_validate(pipeline, X, y, cv=folds, scoring="roc_auc", error_score="raise")
    np.testing.assert_allclose(ours, theirs["test_score"], rtol=0, atol=1e-12)


def test_resampling_touches_the_training_rows_of_each_fold_only(table, section):
    rows, y = table
    X = rows[NUMERIC + CATEGORICAL]
    folds = splits(cv_cfg(section, folds=3), rows, y, "binary")
    sampler = SMOTE(sampling_strategy=1.0, k_neighbors=3, random_state=0)
    prepared = prepare_folds(X, y, folds, sampler, transformer(section), CATEGORICAL)
    for (train_idx, valid_idx), fold in zip(folds, prepared, strict=True):
        assert len(fold.X_valid) == len(valid_idx)  # validation rows: as they were, no new ones
        assert fold.y_valid.tolist() == y.iloc[valid_idx].tolist()
        counts = np.bincount(fold.y_train)
        assert counts[0] == counts[1] == (y.iloc[train_idx] == 0).sum()  # balanced 1:1
        assert len(fold.X_train) > len(train_idx)


def test_the_resampler_step_is_the_balance_stage_resampler(table):
    """Same rows as tabpipe.core.balancing.resample: SMOTE switched to SMOTENC for the text column,
    the original rows first and unchanged, and the configured sampler itself left untouched."""
    rows, y = table
    X = rows[NUMERIC + CATEGORICAL]
    sampler = SMOTE(sampling_strategy=0.5, k_neighbors=3, random_state=0)
    X_res, y_res = Resampler(sampler, ("contract",)).fit_resample(X, y)
    pd.testing.assert_frame_equal(X_res.iloc[: len(X)], X.reset_index(drop=True))
    assert set(X_res["contract"]) <= set(X["contract"])
    assert int((y_res == 1).sum()) == int(0.5 * (y == 0).sum())
    assert not hasattr(sampler, "sample_indices_") and not hasattr(sampler, "nn_k_")


def test_stratified_folds_keep_the_class_ratio(table, section):
    rows, y = table
    for _, valid in splits(cv_cfg(section, folds=5), rows, y, "binary"):
        assert abs(y.iloc[valid].mean() - y.mean()) < 0.02


def test_folds_are_seeded(table, section):
    rows, y = table
    a = splits(cv_cfg(section, folds=5, seed=1), rows, y, "binary")
    b = splits(cv_cfg(section, folds=5, seed=1), rows, y, "binary")
    c = splits(cv_cfg(section, folds=5, seed=2), rows, y, "binary")
    assert all((x[1] == z[1]).all() for x, z in zip(a, b, strict=True))
    assert any((x[1] != z[1]).any() for x, z in zip(a, c, strict=True))


def test_group_folds_keep_each_group_in_one_fold(table, section):
    rows, y = table
    cfg = cv_cfg(section, folds=4, strategy="group", group_column="customer")
    for train, valid in splits(cfg, rows, y, "binary"):
        assert not set(rows["customer"].iloc[train]) & set(rows["customer"].iloc[valid])


def test_time_folds_validate_on_later_rows_only(table, section):
    rows, y = table
    cfg = cv_cfg(section, folds=4, strategy="time", time_column="day")
    folds = splits(cfg, rows, y, "binary")
    assert len(folds) == 4
    for train, valid in folds:
        assert rows["day"].iloc[train].max() < rows["day"].iloc[valid].min()


def test_regression_folds_are_plain_kfold(table, section):
    rows, _ = table
    target = rows["charges"]
    folds = splits(cv_cfg(section, folds=3), rows, target, "regression")
    assert sorted(np.concatenate([v for _, v in folds]).tolist()) == list(range(len(rows)))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"strategy": "shuffle"}, "unknown cv.strategy 'shuffle'"),
        ({"folds": 1}, "cv.folds=1"),
        ({"strategy": "group"}, "cv.group_column 'None' is not a column"),
        ({"strategy": "time", "time_column": "date"}, "cv.time_column 'date' is not a column"),
    ],
)
def test_bad_cv_settings_name_the_key(table, section, values, message):
    rows, y = table
    with pytest.raises(PipelineError, match=message.replace("(", r"\(").replace(".", r"\.")):
        splits(cv_cfg(section, **values), rows, y, "binary")


def test_main_metric_follows_the_task():
    assert main_metric("auto", "binary").name == "roc_auc"
    assert main_metric("auto", "multiclass").scorer == "roc_auc_ovr_weighted"
    rmse = main_metric("auto", "regression")
    assert (rmse.name, rmse.greater_is_better) == ("rmse", False)
    assert rmse.better(1.0, 2.0) and not main_metric("auto", "binary").better(1.0, 2.0)
    with pytest.raises(PipelineError, match="cv.metric 'rmse' does not fit a binary task"):
        main_metric("rmse", "binary")
    with pytest.raises(PipelineError, match="unknown cv.metric 'auc'"):
        main_metric("auc", "binary")


def test_score_folds_reports_lower_is_better_metrics_as_they_are():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=60)})
    y = 3 * X["a"].to_numpy()
    fold = Fold(X.iloc[:40], y[:40], X.iloc[40:], y[40:])
    from sklearn.linear_model import LinearRegression

    (rmse,) = score_folds(LinearRegression(), [fold], main_metric("rmse", "regression"))
    assert 0 <= rmse < 1e-9  # a positive RMSE, not scikit-learn's negated score
