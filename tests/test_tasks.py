"""Multiclass and regression through split, balance, metrics and the model choice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from imblearn.over_sampling import SMOTE, RandomOverSampler
from imblearn.under_sampling import RandomUnderSampler
from sklearn import metrics as m
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge

from tabpipe.config import RESERVED_KEYS
from tabpipe.core.balancing import per_class_strategy, resample
from tabpipe.core.metrics import multiclass_metrics, regression_metrics
from tabpipe.core.models import for_task
from tabpipe.core.splitting import split_table
from tabpipe.errors import PipelineError

# ----------------------------------------------------------------------------- split


def test_regression_split_covers_the_whole_range_of_the_target():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=500), "price": rng.lognormal(12, 0.5, 500)})
    parts = split_table(frame, "price", 0.2, 42, task="regression")
    assert [len(parts[p]) for p in ("train", "test")] == [400, 100]
    deciles = frame["price"].quantile(np.linspace(0, 1, 11)).to_numpy()
    for part in parts.values():  # every part has rows from every decile of the target
        counts = np.histogram(part["price"], bins=deciles)[0]
        assert (counts > 0).all()


# --------------------------------------------------------------------------- balance


@pytest.fixture
def three_classes():
    rng = np.random.default_rng(3)
    sizes = {"a": 60, "b": 20, "c": 8}
    X = pd.DataFrame({"x1": rng.normal(size=88), "x2": rng.normal(size=88)})
    y = pd.Series(np.repeat(list(sizes), list(sizes.values())), name="y")
    return X, y


def test_over_sampling_brings_every_class_to_the_ratio_of_the_largest(three_classes):
    X, y = three_classes
    result = resample(X, y, SMOTE(sampling_strategy=0.5, k_neighbors=3, random_state=0), [])
    assert result.report["after"] == {"a": 60, "b": 30, "c": 30}
    assert result.report["per_class_target"] == {"b": 30, "c": 30}
    pd.testing.assert_frame_equal(result.X.iloc[:88], X)  # originals first, unchanged


def test_random_over_sampling_per_class(three_classes):
    X, y = three_classes
    result = resample(X, y, RandomOverSampler(sampling_strategy=0.25, random_state=0), [])
    assert result.report["after"] == {"a": 60, "b": 20, "c": 15}  # b is already above 15


def test_under_sampling_cuts_the_large_classes_per_class(three_classes):
    X, y = three_classes
    strategy = per_class_strategy(RandomUnderSampler(sampling_strategy=0.5), y)
    assert strategy == {"a": 16, "b": 16, "c": 8}
    result = resample(X, y, RandomUnderSampler(sampling_strategy=0.5, random_state=0), [])
    assert result.report["after"] == {"a": 16, "b": 16, "c": 8}


def test_two_classes_keep_the_float_ratio():
    y = pd.Series(["a"] * 10 + ["b"] * 3)
    assert per_class_strategy(SMOTE(sampling_strategy=0.5), y) is None


# --------------------------------------------------------------------------- metrics


def test_multiclass_metrics_match_sklearn():
    rng = np.random.default_rng(5)
    classes = ["bird", "cat", "dog"]
    y = rng.choice(classes, 300)
    proba = rng.dirichlet([1, 1, 1], 300)
    proba[np.arange(300), [classes.index(v) for v in y]] += 0.5  # better than chance
    proba /= proba.sum(axis=1, keepdims=True)
    out = multiclass_metrics(y, proba, classes)
    predicted = np.asarray(classes)[proba.argmax(axis=1)]
    assert out["f1_macro"] == pytest.approx(m.f1_score(y, predicted, average="macro"), abs=1e-6)
    assert out["f1_weighted"] == pytest.approx(
        m.f1_score(y, predicted, average="weighted"), abs=1e-6
    )
    assert out["roc_auc_ovr_macro"] == pytest.approx(
        m.roc_auc_score(y, proba, multi_class="ovr", average="macro"), abs=1e-6
    )
    assert out["log_loss"] == pytest.approx(m.log_loss(y, proba), abs=1e-6)
    cat = out["per_class"]["cat"]
    assert cat["precision"] == pytest.approx(
        m.precision_score(y == "cat", predicted == "cat"), abs=1e-6
    )
    assert cat["recall"] == pytest.approx(m.recall_score(y == "cat", predicted == "cat"), abs=1e-6)
    assert cat["support"] == int((y == "cat").sum())


def test_regression_metrics_on_a_hand_checked_example():
    out = regression_metrics([100.0, 200.0, 300.0, 400.0], [110.0, 190.0, 330.0, 400.0])
    assert out["mae"] == pytest.approx(12.5)
    assert out["rmse"] == pytest.approx(np.sqrt((100 + 100 + 900) / 4))
    assert out["mape"] == pytest.approx((0.1 + 0.05 + 0.1 + 0) / 4)
    assert out["r2"] == pytest.approx(1 - 1100 / 50000)


def test_mape_is_left_out_when_a_true_value_is_zero():
    assert "mape" not in regression_metrics([0.0, 1.0, 2.0], [0.1, 1.0, 2.0])


# ----------------------------------------------------------------------------- model


@pytest.mark.parametrize(
    ("classifier", "regressor"),
    [
        (LogisticRegression(C=0.3, max_iter=1000, random_state=42), "Ridge"),
        (
            RandomForestClassifier(n_estimators=50, min_samples_leaf=5, random_state=1),
            "RandomForestRegressor",
        ),
        (
            HistGradientBoostingClassifier(learning_rate=0.05, max_iter=50),
            "HistGradientBoostingRegressor",
        ),
    ],
)
def test_a_classifier_becomes_its_regression_counterpart(classifier, regressor):
    model, note = for_task(classifier, "regression")
    assert type(model).__name__ == regressor
    assert f"using {regressor} for {type(classifier).__name__}" in note
    for key in ("random_state", "n_estimators", "min_samples_leaf", "learning_rate", "max_iter"):
        if key in classifier.get_params() and key in model.get_params():
            assert model.get_params()[key] == classifier.get_params()[key]


def test_the_logistic_c_is_named_as_not_applicable():
    _, note = for_task(LogisticRegression(C=0.3), "regression")
    assert "(not applicable: C)" in note


def test_a_chosen_regressor_is_kept_and_refused_for_classification():
    ridge = Ridge(alpha=3.0)
    assert for_task(ridge, "regression") == (ridge, None)
    with pytest.raises(
        PipelineError, match=r"model Ridge is a regressor, but the task is multiclass"
    ):
        for_task(ridge, "multiclass")
    classifier = LogisticRegression()
    assert for_task(classifier, "multiclass") == (classifier, None)


def test_tabpipe_metrics_prints_per_class_values_flat(tmp_path, monkeypatch, capsys):
    import json

    from tabpipe import cli

    monkeypatch.chdir(tmp_path)
    (tmp_path / "metrics/evaluate").mkdir(parents=True)
    values = {"f1_macro": 0.9, "per_class": {"cat": {"recall": 0.5}}}
    (tmp_path / "metrics/evaluate/metrics.json").write_text(json.dumps({"test": values}))
    assert cli.main(["metrics"]) == 0
    out = capsys.readouterr().out
    assert "f1_macro" in out and "per_class.cat.recall  0.5000" in out


@pytest.mark.parametrize(
    "option", sorted(p.stem for p in Path("conf/model").glob("*.yaml") if p.stem != "auto")
)
def test_every_model_option_fits_a_regression_task(option):
    """Each zoo entry gives a regressor: itself, or its family's counterpart with its settings."""
    from hydra.utils import instantiate

    cfg = yaml.safe_load((Path("conf/model") / f"{option}.yaml").read_text())
    cfg = {
        k: 42 if v == "${seed}" else v for k, v in cfg.items() if k not in RESERVED_KEYS["model"]
    }
    model, _ = for_task(instantiate(cfg), "regression")
    assert getattr(model, "_estimator_type", None) == "regressor" or (
        model.__sklearn_tags__().estimator_type == "regressor"
    )


def test_multiclass_evaluation_labels_with_the_class_weights_it_keeps():
    """evaluate on a multiclass model whose probabilities understate a class: the weights
    chosen on the out-of-fold rows are kept, recorded, and decide the test labels and the
    confusion matrix (the probabilities stay the model's)."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    from tabpipe.config import EvaluateConfig
    from tabpipe.core.evaluation import evaluate
    from tabpipe.core.metrics import weighted_labels

    rng = np.random.default_rng(0)
    classes = ["a", "b", "c"]

    def rows(n):
        y = rng.choice(classes, n, p=[0.45, 0.4, 0.15])
        centre = np.array([[0.0, 0.0], [1.5, 0.0], [0.75, 1.2]])[[classes.index(v) for v in y]]
        return pd.DataFrame(centre + rng.normal(0, 0.9, (n, 2)), columns=["x1", "x2"]), y

    X, y = rows(1500)
    # out-of-fold probabilities of a model that understates "c" (fitted where it was rarer)
    biased = LogisticRegression(class_weight={"a": 1, "b": 1, "c": 0.2}).fit(X, y)
    oof = pd.DataFrame({"y": y, "fold": np.arange(len(y)) % 5})
    for label, column in zip(classes, biased.predict_proba(X).T, strict=True):
        oof[f"proba:{label}"] = column
    pipeline = Pipeline([("features", FunctionTransformer()), ("model", biased)])
    X_test, y_test = rows(600)
    test = X_test.assign(y=y_test)
    columns = {"target": "y", "task": "multiclass", "numeric": ["x1", "x2"], "categorical": []}

    out = evaluate(pipeline, oof, test, columns, EvaluateConfig(importance_repeats=1))

    per_class = out.results["test"]["per_class"]
    weights = {label: per_class[label]["decision_weight"] for label in classes}
    assert weights["c"] > max(weights["a"], weights["b"])
    assert "kept (a " in out.notes[0] and "gain +" in out.notes[0]
    labels = weighted_labels(pipeline.predict_proba(X_test), classes, weights)
    assert out.results["test"]["f1_macro"] == pytest.approx(
        m.f1_score(y_test, labels, average="macro"), abs=1e-6
    )
    plain = m.f1_score(y_test, pipeline.predict(X_test), average="macro")
    assert out.results["test"]["f1_macro"] > plain + 0.02  # on rows the choice never saw
    confusion = next(p for p in out.plots if p.name == "confusion_matrix")
    assert confusion.args[1] == [str(label) for label in labels]
