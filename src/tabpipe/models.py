"""The inference pipeline: the fitted feature transformer followed by the fitted model.

One object takes cleaned rows and returns predictions; it never contains the resampler,
which belongs to training only.
"""

from __future__ import annotations

import pandas as pd


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
