"""CatBoost's regressor, made to give the same model bytes on every run.

CatBoost (gradient-boosted oblivious trees) is in model=auto's regression search because it
is the strongest default of the tree families on most regression tables we measured
(docs/models.md, "Why CatBoost for regression"). Its fitted model carries two values that
change on every fit, the training's finish time and a random model id (metadata
`train_finish_time` and `model_guid`): two runs of the same config would save different
model files and DVC would see a new model. `fit` drops both; nothing reads them. A module of
its own because importing CatBoost takes about a second, which only a run that uses it (or
the check stage, which builds every candidate) should pay.
"""

from __future__ import annotations

from catboost import CatBoostRegressor as _CatBoostRegressor

# stamped on each fitted model, different on every fit
VOLATILE_METADATA = ("train_finish_time", "model_guid")


class CatBoostRegressor(_CatBoostRegressor):
    """`catboost.CatBoostRegressor` whose fitted model is the same bytes for the same rows."""

    def fit(self, X, y=None, **kwargs):
        super().fit(X, y, **kwargs)
        metadata = self.get_metadata()
        for key in set(VOLATILE_METADATA) & set(dict(metadata)):
            del metadata[key]
        return self
