"""The feature transformer: derived columns, imputation, scaling, one-hot encoding, selection.

`build_transformer` returns an unfitted scikit-learn object; featurize fits it on training rows
only, and train puts the fitted object in front of the model as one inference pipeline.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from tabpipe.errors import PipelineError


class DerivedFeatures(TransformerMixin, BaseEstimator):
    """Add columns computed row by row from pandas expressions, e.g. `total / (tenure + 1)`.

    Stateless (learns nothing), so it is safe on any split.
    """

    def __init__(self, expressions: dict[str, str] | None = None):
        self.expressions = expressions

    def fit(self, X: pd.DataFrame, y=None):
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        # only the columns seen in fit: rows may carry id columns or the target as well
        missing = [c for c in self.feature_names_in_ if c not in X.columns]
        if missing:
            raise PipelineError(f"input rows lack the column(s): {', '.join(missing)}")
        out = X[list(self.feature_names_in_)].copy()
        for name, expression in (self.expressions or {}).items():
            try:
                out[name] = out.eval(expression, engine="python").astype("float64")
            except Exception as err:  # pandas raises many types for a bad expression
                raise PipelineError(
                    f"featurize.derived.{name}: cannot compute '{expression}': {err}"
                ) from None
        return out

    def get_feature_names_out(self, input_features=None):
        names = list(self.feature_names_in_) + list(self.expressions or {})
        return np.asarray(names, dtype=object)


def build_transformer(
    cfg,
    numeric: list[str],
    categorical: list[str],
    seed: int = 0,
    task: str = "binary",
    continuous: list[str] | None = None,
):
    """An unfitted transformer from raw cleaned columns to a numeric feature matrix.

    Categories rarer than `min_category_frequency` training rows (high-cardinality columns
    have many) are grouped into one "infrequent" column; unseen ones land there too.
    With `bins`, each `continuous` (and derived) column also gets one-hot quantile bins beside
    its scaled value, so a linear model can fit a curve, e.g. churn falling fast over the
    first months of tenure and slowly after (README, "The model zoo").
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import KBinsDiscretizer, OneHotEncoder, StandardScaler

    derived = dict(cfg.derived or {})
    numeric_steps = [("impute", SimpleImputer(strategy=cfg.numeric_impute))]
    if cfg.scale:
        numeric_steps.append(("scale", StandardScaler()))
    categorical_steps = [
        ("impute", SimpleImputer(strategy=cfg.categorical_impute, missing_values=np.nan)),
        (
            "encode",
            OneHotEncoder(
                handle_unknown="infrequent_if_exist",
                min_frequency=cfg.min_category_frequency or None,
                sparse_output=False,
                dtype=np.float64,
            ),
        ),
    ]
    parts = [
        ("numeric", Pipeline(numeric_steps), list(numeric) + list(derived)),
        ("categorical", Pipeline(categorical_steps), list(categorical)),
    ]
    if cfg.bins and cfg.bins < 2:  # null or 0: no bins
        raise PipelineError(
            f"featurize.bins is {cfg.bins}: quantile bins need at least 2",
            fix="use -S featurize.bins=10, or null to switch them off",
        )
    binned = [c for c in numeric if c in set(continuous or ())] + list(derived)
    if cfg.bins and binned:
        quantiles = KBinsDiscretizer(
            n_bins=int(cfg.bins),
            encode="onehot-dense",
            strategy="quantile",
            dtype=np.float64,
            random_state=seed,  # quantiles of a sample above 200,000 rows
        )
        impute = SimpleImputer(strategy=cfg.numeric_impute)
        parts.append(("bins", Pipeline([("impute", impute), ("bin", quantiles)]), binned))
    columns = ColumnTransformer(
        parts,
        remainder="drop",
        verbose_feature_names_out=False,
    )
    steps = [("derive", DerivedFeatures(derived)), ("columns", columns)]
    if cfg.select_k_best:
        from functools import partial

        from sklearn.feature_selection import (
            SelectKBest,
            mutual_info_classif,
            mutual_info_regression,
        )

        mutual_info = mutual_info_regression if task == "regression" else mutual_info_classif
        score = partial(mutual_info, random_state=seed)
        steps.append(("select", SelectKBest(score, k=int(cfg.select_k_best))))
    return Pipeline(steps).set_output(transform="pandas")
