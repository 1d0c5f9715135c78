"""ONNX export: ONNX Runtime's probabilities equal scikit-learn's within 1e-5 on the test split,
for every model of conf/model/ that skl2onnx supports (docs/production.md lists the others)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tabpipe import io
from tabpipe.config import instantiate_checked
from tabpipe.core.models import inference_pipeline
from tabpipe.errors import PipelineError
from tabpipe.project.conf_sync import composed
from tabpipe.serving.onnx_export import (
    TOLERANCE,
    UNSUPPORTED_MODELS,
    onnx_probabilities,
    session,
    to_onnx,
)
from tabpipe.serving.predict import Scorer, load_scorer, prepare
from tests.conftest import CONF_DIR, PROJECT


def _classifiers() -> list[str]:
    """The zoo's classifiers: ONNX export covers classification (probabilities) only."""
    from sklearn.base import is_classifier

    names = []
    for path in sorted((CONF_DIR / "model").glob("*.yaml")):
        if path.stem == "auto":  # it chooses one of these: each is exported on its own below
            continue
        params = composed([f"model={path.stem}"], conf_dir=CONF_DIR)
        if is_classifier(instantiate_checked("model", dict(params["model"]))):
            names.append(path.stem)
    return names


MODELS = _classifiers()


@pytest.fixture(scope="module")
def base(trained_project) -> Scorer:
    return load_scorer(trained_project)


@pytest.fixture(scope="module")
def test_rows(trained_project, base) -> pd.DataFrame:
    return prepare(pd.read_parquet(trained_project / io.split_path("test")), base.schema).rows


# trees per forest or boosting in these tests: ONNX converts each tree the same way, and 300
# random-forest or extra-trees trees took 10-16 s to fit and convert
TREES = 30


def fitted(option: str, trained_project: Path):
    """The inference pipeline of the default run with the model of conf/model/<option>.yaml
    (with at most TREES trees)."""
    params = composed([f"model={option}"], conf_dir=CONF_DIR)
    model = dict(params["model"])
    if "n_estimators" in model:
        model["n_estimators"] = min(model["n_estimators"], TREES)
    estimator = instantiate_checked("model", model)
    train = pd.read_parquet(trained_project / io.features_path("train"))
    estimator.fit(train.drop(columns=["churn"]), train["churn"])
    return inference_pipeline(io.load_model(trained_project / io.TRANSFORMER), estimator)


@pytest.mark.parametrize("option", MODELS)
def test_onnx_probabilities_match_scikit_learn(option, trained_project, base, test_rows):
    pipeline = fitted(option, trained_project)
    if option in UNSUPPORTED_MODELS:
        with pytest.raises(PipelineError, match="skl2onnx cannot export"):
            to_onnx(pipeline, base.schema)
        return
    model = to_onnx(pipeline, base.schema)
    got = onnx_probabilities(session(model), test_rows, base.schema)
    want = pipeline.predict_proba(test_rows[base.schema.features])
    assert got.shape == want.shape == (len(test_rows), 2)
    assert np.max(np.abs(got - want)) <= TOLERANCE


def test_missing_values_are_handled_like_scikit_learn(trained_project, base, test_rows):
    rows = test_rows.head(20).copy()
    rows.loc[rows.index[:5], "total_charges"] = np.nan
    rows.loc[rows.index[5:10], "contract"] = np.nan
    model = to_onnx(base.pipeline, base.schema)
    got = onnx_probabilities(session(model), rows, base.schema)
    want = base.pipeline.predict_proba(rows[base.schema.features])
    assert np.max(np.abs(got - want)) <= TOLERANCE


def binned(trained_project: Path):
    """The default run's model refitted on features with featurize.bins=10."""
    from sklearn.linear_model import LogisticRegression

    from tabpipe.config import load_section
    from tabpipe.core.features import build_transformer

    params = composed(["featurize.bins=10"], conf_dir=CONF_DIR)
    columns = io.read_json(trained_project / io.COLUMNS)
    transformer = build_transformer(
        load_section("featurize", params=params),
        columns["numeric"],
        columns["categorical"],
        continuous=columns["continuous"],
    )
    train = pd.read_parquet(trained_project / io.BALANCED_TRAIN)
    X, y = train.drop(columns=["churn"]), train["churn"]
    transformer.fit(X, y)
    model = LogisticRegression(max_iter=1000).fit(transformer.transform(X), y)
    return inference_pipeline(transformer, model)


def test_values_on_and_next_to_bin_edges_land_in_the_same_bins(trained_project, base, test_rows):
    """featurize.bins: ONNX compares with the edges in float64, as scikit-learn does."""
    from sklearn.preprocessing import KBinsDiscretizer

    pipeline = binned(trained_project)
    columns = pipeline[0].named_steps["columns"]
    names = dict((name, cols) for name, _, cols in columns.transformers_)["bins"]
    assert "total_charges" in names and "senior_citizen" not in names  # 0/1 columns: no bins
    steps = columns.named_transformers_["bins"].named_steps.values()
    [bins] = [step for step in steps if isinstance(step, KBinsDiscretizer)]
    edges = bins.bin_edges_[list(names).index("total_charges")][1:-1]
    values = np.concatenate(
        [edges, np.nextafter(edges, -np.inf), np.nextafter(edges, np.inf), [-1e9, 1e9]]
    )
    rows = test_rows.iloc[np.arange(len(values)) % len(test_rows)].copy()
    rows["total_charges"] = values
    model = to_onnx(pipeline, base.schema)
    got = onnx_probabilities(session(model), rows, base.schema)
    want = pipeline.predict_proba(rows[base.schema.features])
    assert np.max(np.abs(got - want)) <= TOLERANCE


def test_derived_expressions_are_refused_with_the_key_named(trained_project, base):
    pipeline = io.load_model(trained_project / io.MODEL)
    pipeline[0].named_steps["derive"].expressions = {"ratio": "total_charges / (tenure + 1)"}
    with pytest.raises(PipelineError, match=r"featurize\.derived \(ratio\)"):
        to_onnx(pipeline, base.schema)


def test_the_docs_list_the_models_that_do_not_export():
    readme = (PROJECT / "docs/production.md").read_text()
    for option in UNSUPPORTED_MODELS:
        assert f"`{option}`" in readme
    assert "ONNX" in readme


@pytest.mark.parametrize(
    "members",
    [
        ("logistic_regression", "hist_gradient_boosting"),
        ("logistic_regression", "extra_trees"),  # float32 trees beside a linear member
    ],
)
def test_an_ensemble_of_exportable_members_exports_with_parity(
    members, trained_project, base, test_rows
):
    """model=auto's soft-voting ensemble: ONNX where every member converts."""
    from tabpipe.core.ensemble import voting_estimator

    fitted_members = [(m, fitted(m, trained_project)[-1]) for m in members]
    ensemble = voting_estimator(dict(fitted_members), {members[0]: 0.7, members[1]: 0.3}, "binary")
    train = pd.read_parquet(trained_project / io.features_path("train"))
    ensemble.fit(train.drop(columns=["churn"]), train["churn"])
    pipeline = inference_pipeline(io.load_model(trained_project / io.TRANSFORMER), ensemble)
    model = to_onnx(pipeline, base.schema)
    got = onnx_probabilities(session(model), test_rows, base.schema)
    want = pipeline.predict_proba(test_rows[base.schema.features])
    assert np.max(np.abs(got - want)) <= TOLERANCE


def test_an_ensemble_with_a_member_that_does_not_convert_is_refused_naming_it(
    trained_project, base
):
    from sklearn.ensemble import VotingClassifier

    members = [(m, fitted(m, trained_project)[-1]) for m in ("logistic_regression", "lightgbm")]
    ensemble = VotingClassifier(members, voting="soft")
    train = pd.read_parquet(trained_project / io.features_path("train"))
    ensemble.fit(train.drop(columns=["churn"]), train["churn"])
    pipeline = inference_pipeline(io.load_model(trained_project / io.TRANSFORMER), ensemble)
    with pytest.raises(
        PipelineError, match="ensemble VotingClassifier of LogisticRegression, LGBMClassifier"
    ):
        to_onnx(pipeline, base.schema)
