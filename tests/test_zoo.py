"""zoo: the stacked linear + boosted-trees models behave as scikit-learn estimators."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import r2_score, roc_auc_score

from tabpipe.config import RESERVED_KEYS, instantiate_checked
from tabpipe.core.models import for_task
from tabpipe.core.zoo import LinearBoostClassifier, LinearBoostRegressor
from tabpipe.errors import PipelineError


def data(n: int = 600, classes: int = 2, seed: int = 0):
    """A linear signal plus an interaction that a linear model cannot see."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=list("abcd"))
    raw = X["a"] - 0.5 * X["b"] + 2.0 * (X["c"] * X["d"] > 0)
    if classes == 2:
        y = (raw + rng.logistic(size=n) > 1.0).astype(int)
    else:
        y = np.digitize(raw + rng.normal(scale=0.5, size=n), [0.3, 1.5])
    return X.iloc[: n // 2], y[: n // 2], X.iloc[n // 2 :], y[n // 2 :]


def test_the_trees_add_what_the_linear_model_misses():
    X, y, X_test, y_test = data()
    linear = LogisticRegression(max_iter=1000).fit(X, y)
    stacked = LinearBoostClassifier(n_estimators=200, min_child_samples=10, random_state=0)
    stacked.fit(X, y)
    auc_linear = roc_auc_score(y_test, linear.predict_proba(X_test)[:, 1])
    auc_stacked = roc_auc_score(y_test, stacked.predict_proba(X_test)[:, 1])
    assert auc_stacked > auc_linear + 0.02


def test_without_trees_it_is_the_logistic_regression():
    X, y, X_test, _ = data()
    linear = LogisticRegression(C=0.3, max_iter=1000).fit(X, y)
    alone = LinearBoostClassifier(C=0.3, n_estimators=0).fit(X, y)
    np.testing.assert_allclose(alone.predict_proba(X_test), linear.predict_proba(X_test))


def test_probabilities_and_labels_for_several_classes():
    X, y, X_test, _ = data(classes=3)
    model = LinearBoostClassifier(n_estimators=50, min_child_samples=10, random_state=0).fit(X, y)
    proba = model.predict_proba(X_test)
    assert proba.shape == (len(X_test), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(model.predict(X_test)) <= {0, 1, 2}
    assert (model.predict(X_test) == model.classes_[proba.argmax(axis=1)]).all()


def test_the_regressor_improves_on_ridge():
    X, _, X_test, _ = data()
    target = X["a"] + 2.0 * (X["c"] * X["d"] > 0)
    target_test = X_test["a"] + 2.0 * (X_test["c"] * X_test["d"] > 0)
    ridge = Ridge().fit(X, target)
    stacked = LinearBoostRegressor(n_estimators=200, min_child_samples=10, random_state=0)
    stacked.fit(X, target)
    assert r2_score(target_test, stacked.predict(X_test)) > r2_score(
        target_test, ridge.predict(X_test)
    )


def test_same_seed_same_model_and_clone_keeps_the_settings():
    X, y, X_test, _ = data()
    model = LinearBoostClassifier(C=0.5, num_leaves=4, random_state=3)
    a = model.fit(X, y).predict_proba(X_test)
    b = clone(model).fit(X, y).predict_proba(X_test)
    np.testing.assert_array_equal(a, b)
    assert clone(model).get_params() == model.get_params()


@pytest.mark.parametrize(("key", "value"), [("C", 0), ("num_leaves", 1), ("subsample", 1.5)])
def test_bad_settings_are_named(key, value):
    cfg = {"_target_": "tabpipe.core.zoo.LinearBoostClassifier", key: value}
    with pytest.raises(PipelineError, match=rf"bad value for model\.{key}"):
        instantiate_checked("model", cfg)


@pytest.mark.parametrize(
    "option", sorted(p.stem for p in Path("conf/model").glob("*.yaml") if p.stem != "auto")
)
def test_every_model_option_survives_the_model_file(option, tmp_path):
    """The stages pass models through skops files: each zoo entry saves, loads with the trust
    list (no untrusted type, so evaluate and serving can read it) and predicts the same."""
    from hydra.utils import instantiate

    from tabpipe import io

    cfg = yaml.safe_load((Path("conf/model") / f"{option}.yaml").read_text())
    cfg = {
        k: 42 if v == "${seed}" else v for k, v in cfg.items() if k not in RESERVED_KEYS["model"]
    }
    X, y, _, _ = data(800)
    regressor = option in ("ridge",) or option.endswith("_regressor")
    model, _ = for_task(instantiate(cfg), "regression" if regressor else "binary")
    model.fit(X, y)
    io.save_model(model, tmp_path / "model.skops")
    loaded = io.load_model(tmp_path / "model.skops")
    predict = "predict" if regressor else "predict_proba"
    np.testing.assert_array_equal(getattr(loaded, predict)(X), getattr(model, predict)(X))


def test_catboost_settings_it_was_not_given_can_be_searched_and_checked():
    """CatBoost's get_params() lists only the settings it was given; the search space and the
    key check read its signature, so an unset setting (border_count) can be tuned and a typo
    is still named."""
    from tabpipe.core.catboost_models import CatBoostRegressor
    from tabpipe.core.models import estimator_settings

    names = estimator_settings(CatBoostRegressor(depth=4))
    assert {"depth", "border_count", "l2_leaf_reg", "iterations"} <= names
    assert "C" not in names and "kwargs" not in names
    cfg = {"_target_": "tabpipe.core.catboost_models.CatBoostRegressor", "dept": 4}
    with pytest.raises(PipelineError, match=r"unknown key model\.dept"):
        instantiate_checked("model", cfg)


def test_catboost_fits_the_same_model_bytes_twice(tmp_path):
    from tabpipe import io
    from tabpipe.core.catboost_models import CatBoostRegressor

    X, y, _, _ = data(300)
    files = []
    for name in ("a", "b"):
        model = CatBoostRegressor(
            iterations=20, thread_count=1, random_seed=1, verbose=0, allow_writing_files=False
        )
        io.save_model(model.fit(X, y), tmp_path / name)
        files.append((tmp_path / name).read_bytes())
    assert files[0] == files[1]
    assert not (tmp_path / "catboost_info").exists() and not Path("catboost_info").exists()
