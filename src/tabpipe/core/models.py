"""The inference pipeline: the fitted feature transformer followed by the fitted model.

One object takes cleaned rows and returns predictions; it never contains the resampler,
which belongs to training only. `for_task` makes the configured estimator fit the task: the
classifier options in conf/model/ stand for their model family, so for a regression task
the family's regressor is used (with every setting that applies to it) unless the user picked
a regressor (`-S model=ridge`).
"""

from __future__ import annotations

import pandas as pd

from tabpipe.config import parameter_names
from tabpipe.errors import PipelineError

# classifier -> the regressor of the same family
REGRESSION_COUNTERPART = {
    "LogisticRegression": "sklearn.linear_model.Ridge",
    "RandomForestClassifier": "sklearn.ensemble.RandomForestRegressor",
    "ExtraTreesClassifier": "sklearn.ensemble.ExtraTreesRegressor",
    "HistGradientBoostingClassifier": "sklearn.ensemble.HistGradientBoostingRegressor",
    "GradientBoostingClassifier": "sklearn.ensemble.GradientBoostingRegressor",
    "DecisionTreeClassifier": "sklearn.tree.DecisionTreeRegressor",
    "KNeighborsClassifier": "sklearn.neighbors.KNeighborsRegressor",
    "LGBMClassifier": "lightgbm.LGBMRegressor",
    "LinearBoostClassifier": "tabpipe.core.zoo.LinearBoostRegressor",
    "SVC": "sklearn.svm.SVR",
}
# settings that mean something else (or nothing) for a regressor
_CLASSIFIER_ONLY = {"class_weight", "criterion", "loss", "scoring", "multi_class"}
REGRESSOR_OPTIONS = (
    "ridge, random_forest_regressor, hist_gradient_boosting_regressor, catboost_regressor"
)


def _is_regressor(estimator) -> bool:
    return getattr(estimator, "_estimator_type", None) == "regressor" or (
        hasattr(estimator, "__sklearn_tags__")
        and getattr(estimator.__sklearn_tags__(), "estimator_type", None) == "regressor"
    )


def estimator_settings(estimator) -> set[str]:
    """The settings an estimator takes: its class's, and any extra it was given (LightGBM
    keeps keyword settings it passes to its core)."""
    return parameter_names(type(estimator)) | set(estimator.get_params(deep=False))


def for_task(estimator, task: str) -> tuple[object, str | None]:
    """The estimator to fit for `task`, and a note when it was swapped for its counterpart."""
    import importlib

    name = type(estimator).__name__
    if task != "regression":
        if _is_regressor(estimator):
            raise PipelineError(
                f"model {name} is a regressor, but the task is {task}",
                fix="pick a classifier, e.g. -S model=logistic_regression, "
                "or set -S task=regression",
            )
        return estimator, None
    if _is_regressor(estimator):
        return estimator, None
    counterpart = REGRESSION_COUNTERPART.get(name)
    if counterpart is None:
        raise PipelineError(
            f"model {name} is a classifier and has no regression counterpart here",
            fix=f"pick a regressor: -S model=<one of {REGRESSOR_OPTIONS}>",
        )
    module, _, class_name = counterpart.rpartition(".")
    cls = getattr(importlib.import_module(module), class_name)
    accepted = estimator_settings(cls())
    defaults = type(estimator)().get_params(deep=False)
    # the settings the config changed from the class defaults; a default (e.g. solver) may
    # not exist or mean something else in the regressor
    params = {
        k: v
        for k, v in estimator.get_params(deep=False).items()
        if k not in defaults or repr(v) != repr(defaults[k])
    }
    kept = {k: v for k, v in params.items() if k in accepted and k not in _CLASSIFIER_ONLY}
    dropped = sorted(k for k, v in params.items() if k not in kept)
    regressor = cls(**kept)
    note = (
        f"task is regression: using {class_name} for {name}"
        + (f" (not applicable: {', '.join(dropped)})" if dropped else "")
        + f"; choose one yourself with -S model=<one of {REGRESSOR_OPTIONS}>"
    )
    return regressor, note


def fit_model(estimator, features: pd.DataFrame, y: pd.Series):
    """Fit `estimator` on the featurized training rows and return it."""
    return estimator.fit(features, y)


def inference_pipeline(transformer, model):
    """Chain an already fitted transformer and model without refitting either."""
    from sklearn.pipeline import Pipeline

    return Pipeline([("features", transformer), ("model", model)])


def positive_scores(pipeline, rows: pd.DataFrame):
    """The probability of the positive class for each row."""
    return pipeline.predict_proba(rows)[:, 1]
