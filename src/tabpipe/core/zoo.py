"""Estimators of the model zoo that scikit-learn and LightGBM do not offer as one class.

`LinearBoostClassifier` is a stacked pair of a linear model and a gradient-boosting machine:
a logistic regression first, then LightGBM trees boosted from the logistic regression's
scores (its `init_score`), so the trees only learn what the linear model leaves unexplained
(interactions, thresholds). On tables whose signal is mostly additive, such as customer
churn, it keeps the linear model's stability and adds the trees' corrections; it scores
as fast as either model alone. `LinearBoostRegressor` is the same with ridge regression.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils._param_validation import Interval, StrOptions

# checked by tabpipe.config.instantiate_checked, so a bad value fails with its key named
_BOOSTER_CONSTRAINTS = {
    "n_estimators": [Interval(Integral, 0, None, closed="left")],
    "learning_rate": [Interval(Real, 0, None, closed="neither")],
    "num_leaves": [Interval(Integral, 2, None, closed="left")],
    "min_child_samples": [Interval(Integral, 1, None, closed="left")],
    "subsample": [Interval(Real, 0, 1, closed="right")],
    "colsample_bytree": [Interval(Real, 0, 1, closed="right")],
    "reg_lambda": [Interval(Real, 0, None, closed="left")],
    "random_state": ["random_state"],
}


def _booster_params(model) -> dict:
    return {
        "n_estimators": model.n_estimators,
        "learning_rate": model.learning_rate,
        "num_leaves": model.num_leaves,
        "min_child_samples": model.min_child_samples,
        "subsample": model.subsample,
        "subsample_freq": 1 if model.subsample < 1.0 else 0,
        "colsample_bytree": model.colsample_bytree,
        "reg_lambda": model.reg_lambda,
        "random_state": model.random_state,
        "n_jobs": 1,  # one thread: the same trees on every machine
        "verbose": -1,
    }


class LinearBoostClassifier(ClassifierMixin, BaseEstimator):
    """Logistic regression, then LightGBM trees boosted from its scores (binary or multiclass).

    `C` and `class_weight` belong to the logistic regression (`class_weight` to both models);
    the other settings to the trees. `n_estimators=0` leaves the logistic regression alone.
    """

    _parameter_constraints = {
        "C": [Interval(Real, 0, None, closed="neither")],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        **_BOOSTER_CONSTRAINTS,
    }

    def __init__(
        self,
        C: float = 1.0,
        class_weight=None,
        max_iter: int = 1000,
        n_estimators: int = 200,
        learning_rate: float = 0.02,
        num_leaves: int = 8,
        min_child_samples: int = 50,
        subsample: float = 0.8,
        colsample_bytree: float = 0.7,
        reg_lambda: float = 1.0,
        random_state: int | None = None,
    ):
        self.C = C
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.random_state = random_state

    def fit(self, X, y):
        from lightgbm import LGBMClassifier
        from sklearn.linear_model import LogisticRegression

        self.linear_ = LogisticRegression(
            C=self.C,
            class_weight=self.class_weight,
            max_iter=self.max_iter,
            random_state=self.random_state,
        ).fit(X, y)
        self.classes_ = self.linear_.classes_
        self.n_features_in_ = self.linear_.n_features_in_
        if hasattr(self.linear_, "feature_names_in_"):
            self.feature_names_in_ = self.linear_.feature_names_in_
        self.booster_ = None
        if self.n_estimators > 0:
            self.booster_ = LGBMClassifier(class_weight=self.class_weight, **_booster_params(self))
            self.booster_.fit(X, y, init_score=self.linear_.decision_function(X))
        return self

    def decision_function(self, X) -> np.ndarray:
        raw = self.linear_.decision_function(X)
        if self.booster_ is not None:
            raw = raw + self.booster_.predict(X, raw_score=True)
        return raw

    def predict_proba(self, X) -> np.ndarray:
        raw = self.decision_function(X)
        if raw.ndim == 1:
            positive = 1.0 / (1.0 + np.exp(-raw))
            return np.column_stack([1.0 - positive, positive])
        raw = raw - raw.max(axis=1, keepdims=True)
        weights = np.exp(raw)
        return weights / weights.sum(axis=1, keepdims=True)

    def predict(self, X) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


class LinearBoostRegressor(RegressorMixin, BaseEstimator):
    """Ridge regression, then LightGBM trees boosted from its predictions."""

    _parameter_constraints = {
        "alpha": [Interval(Real, 0, None, closed="left")],
        **_BOOSTER_CONSTRAINTS,
    }

    def __init__(
        self,
        alpha: float = 1.0,
        n_estimators: int = 200,
        learning_rate: float = 0.02,
        num_leaves: int = 8,
        min_child_samples: int = 20,
        subsample: float = 0.8,
        colsample_bytree: float = 0.7,
        reg_lambda: float = 1.0,
        random_state: int | None = None,
    ):
        self.alpha = alpha
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.random_state = random_state

    def fit(self, X, y):
        from lightgbm import LGBMRegressor
        from sklearn.linear_model import Ridge

        self.linear_ = Ridge(alpha=self.alpha).fit(X, y)
        self.n_features_in_ = self.linear_.n_features_in_
        self.booster_ = None
        if self.n_estimators > 0:
            self.booster_ = LGBMRegressor(**_booster_params(self))
            self.booster_.fit(X, y, init_score=self.linear_.predict(X))
        return self

    def predict(self, X) -> np.ndarray:
        out = self.linear_.predict(X)
        if self.booster_ is not None:
            out = out + self.booster_.predict(X, raw_score=True)
        return out
