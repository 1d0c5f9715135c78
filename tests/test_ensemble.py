"""Out-of-fold predictions, scores computed from them, greedy ensembles and the threshold chosen
on them: the pieces of model=auto's final choice, on small in-memory tables."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.metrics import get_scorer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from tabpipe.core.cv import (
    METRICS,
    CVObjective,
    Fold,
    fit_predict_fold,
    main_metric,
    out_of_fold,
    predictions,
    score_predictions,
    splits,
)
from tabpipe.core.ensemble import greedy_selection, voting_estimator
from tabpipe.core.evaluation import evaluate
from tabpipe.core.metrics import choose_threshold
from tabpipe.core.training import choice_record, estimator_from_choice, oof_frame


def table(n: int = 240, seed: int = 0, classes: int = 2) -> tuple[pd.DataFrame, pd.Series]:
    """Two signals: one linear (a), one a step (b), so a linear model and trees each see half."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.normal(size=n)})
    logit = 1.5 * X["a"] + 2.0 * (X["b"] > 0.3) - 1.0 + rng.normal(scale=0.8, size=n)
    if classes == 2:
        y = (logit > 0).astype(int)
    else:
        y = pd.Series(np.digitize(logit, np.quantile(logit, [1 / 3, 2 / 3]))).map(
            {0: "low", 1: "mid", 2: "high"}
        )
    return X, pd.Series(np.asarray(y), name="target")


def folds_of(X, y, section, task="binary", n_folds=4) -> list[Fold]:
    cuts = splits(section("cv", folds=n_folds, seed=1), X, y, task)
    return [
        Fold(X.iloc[t], y.iloc[t].to_numpy(), X.iloc[v], y.iloc[v].to_numpy(), v) for t, v in cuts
    ]


@pytest.mark.parametrize(
    "name", [m for m, spec in METRICS.items() if "binary" in spec[2] or "multiclass" in spec[2]]
)
def test_a_score_from_predictions_equals_scikit_learns_scorer(name):
    task = "multiclass" if name in ("roc_auc_ovr", "f1_macro") else "binary"
    X, y = table(classes=3 if task == "multiclass" else 2)
    model = LogisticRegression(C=0.5).fit(X.iloc[:160], y.iloc[:160])
    metric = main_metric(name, task)
    classes = np.unique(y)
    ours = score_predictions(
        metric, y.iloc[160:], predictions(model, X.iloc[160:], classes), classes
    )
    sign = 1.0 if metric.greater_is_better else -1.0
    theirs = sign * get_scorer(metric.scorer)(model, X.iloc[160:], y.iloc[160:])
    assert ours == pytest.approx(theirs, abs=1e-12)


@pytest.mark.parametrize("name", ["rmse", "mae", "r2"])
def test_a_regression_score_from_predictions_equals_scikit_learns_scorer(name):
    X, _ = table()
    y = 3 * X["a"] + np.sin(X["b"])
    model = Ridge().fit(X.iloc[:160], y.iloc[:160])
    metric = main_metric(name, "regression")
    ours = score_predictions(metric, y.iloc[160:], predictions(model, X.iloc[160:], None), None)
    sign = 1.0 if metric.greater_is_better else -1.0
    assert ours == pytest.approx(sign * get_scorer(metric.scorer)(model, X.iloc[160:], y[160:]))


def test_a_class_missing_from_a_folds_training_rows_gets_a_zero_column():
    X, y = table(classes=3)
    keep = y != "mid"
    model = LogisticRegression().fit(X[keep], y[keep])
    proba = predictions(model, X, np.array(["high", "low", "mid"]))
    assert proba.shape == (len(X), 3) and (proba[:, 2] == 0).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_out_of_fold_predictions_come_from_the_fold_that_held_each_row_out(section):
    X, y = table()
    folds = folds_of(X, y, section)
    classes = np.array([0, 1])
    per_fold = [fit_predict_fold(LogisticRegression(), f, classes) for f in folds]
    oof, fold_of_row = out_of_fold(folds, per_fold, len(y))
    assert (fold_of_row >= 0).all() and not np.isnan(oof).any()
    for number, fold in enumerate(folds):
        model = LogisticRegression().fit(fold.X_train, fold.y_train)
        np.testing.assert_array_equal(oof[fold.valid_idx], model.predict_proba(fold.X_valid))
        assert (fold_of_row[fold.valid_idx] == number).all()
    frame = oof_frame(folds, per_fold, y, classes)
    assert list(frame.columns) == ["target", "fold", "proba:0", "proba:1"]
    assert frame["target"].tolist() == y.tolist()  # every row, in row order


def test_rows_no_time_fold_validated_are_left_out_of_the_oof_frame(section):
    X, y = table()
    X = X.assign(day=np.arange(len(X)))
    cuts = splits(section("cv", folds=3, strategy="time", time_column="day"), X, y, "binary")
    folds = [
        Fold(X.iloc[t], y.iloc[t].to_numpy(), X.iloc[v], y.iloc[v].to_numpy(), v) for t, v in cuts
    ]
    classes = np.array([0, 1])
    per_fold = [fit_predict_fold(LogisticRegression(), f, classes) for f in folds]
    frame = oof_frame(folds, per_fold, y, classes)
    assert len(frame) == sum(len(v) for _, v in cuts) < len(y)
    assert frame["fold"].tolist() == sorted(frame["fold"].tolist())


def test_the_objective_keeps_each_trials_fold_predictions_and_refits_the_others(section):
    X, y = table()
    folds = folds_of(X, y, section)
    calls = []

    def build(params):
        calls.append(params)
        return LogisticRegression(C=params["C"])

    objective = CVObjective(build, folds, main_metric("auto", "binary"), classes=np.array([0, 1]))
    scores = objective({"C": 0.1})
    kept = objective.fold_predictions({"C": 0.1})
    assert len(calls) == 1  # kept from the scoring, not fitted again
    assert scores == [
        score_predictions(objective.metric, f.y_valid, p, objective.classes)
        for f, p in zip(folds, kept, strict=True)
    ]
    objective.fold_predictions({"C": 1.0})  # a trial scored elsewhere (Ray, a resumed log)
    assert calls[-1] == {"C": 1.0}


def pool_of(section, X, y, models: dict) -> tuple[dict, list[np.ndarray], list[Fold]]:
    folds = folds_of(X, y, section)
    classes = np.unique(y)
    pool = {
        name: [fit_predict_fold(model, f, classes) for f in folds] for name, model in models.items()
    }
    return pool, [f.y_valid for f in folds], folds


def test_greedy_selection_blends_models_that_see_different_signals(section):
    X, y = table(n=600)
    # one sees only the linear column, the other only the step: each alone is half the story
    only_a = Pipeline([("a", FunctionTransformer(lambda d: d[["a"]])), ("m", LogisticRegression())])
    only_b = Pipeline(
        [("b", FunctionTransformer(lambda d: d[["b"]])), ("m", HistGradientBoostingClassifier())]
    )
    pool, y_folds, _ = pool_of(section, X, y, {"linear": only_a, "trees": only_b})
    metric = main_metric("auto", "binary")
    classes = np.array([0, 1])
    best_single = max(
        np.mean(
            [
                score_predictions(metric, t, p, classes)
                for t, p in zip(y_folds, pool[n], strict=False)
            ]
        )
        for n in pool
    )
    choice = greedy_selection(pool, y_folds, metric, classes, rounds=10)
    assert set(choice.weights) == {"linear", "trees"}
    assert sum(choice.weights.values()) == pytest.approx(1.0)
    assert choice.mean > best_single + 0.02
    # its fold scores are those of the weighted average, as a single trial's are computed
    averaged = [sum(choice.weights[n] * pool[n][i] for n in pool) for i in range(len(y_folds))]
    expected = [
        score_predictions(metric, t, p, classes) for t, p in zip(y_folds, averaged, strict=False)
    ]
    np.testing.assert_allclose(choice.scores, expected, atol=1e-12)
    assert greedy_selection(pool, y_folds, metric, classes, rounds=10) == choice  # deterministic


def test_greedy_selection_keeps_the_best_single_model_when_nothing_helps(section):
    X, y = table()
    noise = Pipeline([("c", FunctionTransformer(lambda d: d[["c"]])), ("m", LogisticRegression())])
    pool, y_folds, _ = pool_of(section, X, y, {"good": LogisticRegression(), "noise": noise})
    choice = greedy_selection(pool, y_folds, main_metric("auto", "binary"), np.array([0, 1]), 25)
    assert choice.weights == {"good": 1.0} and choice.rounds == 1


def test_greedy_selection_minimises_a_lower_is_better_metric(section):
    X, _ = table(n=400)
    y = pd.Series(2 * X["a"] + 3 * (X["b"] > 0), name="target")
    folds = folds_of(X, y, section, task="regression")
    linear_a = Pipeline([("a", FunctionTransformer(lambda d: d[["a"]])), ("m", LinearRegression())])
    linear_b = Pipeline([("b", FunctionTransformer(lambda d: d[["b"]])), ("m", LinearRegression())])
    pool = {
        "a": [fit_predict_fold(linear_a, f, None) for f in folds],
        "b": [fit_predict_fold(linear_b, f, None) for f in folds],
    }
    metric = main_metric("rmse", "regression")
    choice = greedy_selection(pool, [f.y_valid for f in folds], metric, None, rounds=20)
    singles = [
        np.mean(
            [
                score_predictions(metric, f.y_valid, p, None)
                for f, p in zip(folds, pool[n], strict=False)
            ]
        )
        for n in pool
    ]
    assert len(choice.weights) == 2 and choice.mean < min(singles)


def test_the_voting_estimator_averages_its_members_with_the_weights():
    X, y = table()
    members = {"lr": LogisticRegression(), "hgb": HistGradientBoostingClassifier(max_iter=20)}
    ensemble = voting_estimator(members, {"lr": 0.75, "hgb": 0.25}, "binary").fit(X, y)
    lr = LogisticRegression().fit(X, y).predict_proba(X)
    hgb = HistGradientBoostingClassifier(max_iter=20).fit(X, y).predict_proba(X)
    np.testing.assert_allclose(ensemble.predict_proba(X), 0.75 * lr + 0.25 * hgb, atol=1e-12)
    regressor = voting_estimator({"r": Ridge(), "l": LinearRegression()}, {"r": 1.0}, "regression")
    assert [name for name, _ in regressor.estimators] == ["r"]


def test_an_ensemble_choice_round_trips_to_its_estimator_with_each_members_class_weights():
    members = [
        {
            "family": "logistic_regression",
            "balancing": "class_weight",
            "weight": 0.4,
            "trial": 3,
            "cv_mean": 0.8,
            "class_weight": "balanced",
            "model": {"_target_": "sklearn.linear_model.LogisticRegression", "C": 0.5},
        },
        {
            "family": "hist_gradient_boosting",
            "balancing": "none",
            "weight": 0.6,
            "trial": 2,
            "cv_mean": 0.81,
            "class_weight": None,
            "model": {"_target_": "sklearn.ensemble.HistGradientBoostingClassifier"},
        },
    ]
    selection = SimpleNamespace(
        family="ensemble",
        balancing="class_weight+none",
        members=members,
        model_cfg={},
        metric=main_metric("auto", "binary"),
        cv_mean=0.82,
        cv_std=0.01,
    )
    record = choice_record(selection)
    assert "model" not in record and record["members"][0]["class_weight"] == "balanced"
    estimator = estimator_from_choice(record, {"balance": {"_target_": None}}, "binary")
    assert type(estimator).__name__ == "VotingClassifier" and list(estimator.weights) == [0.4, 0.6]
    lr, hgb = (e for _, e in estimator.estimators)
    assert (lr.C, lr.class_weight, hgb.class_weight) == (0.5, "balanced", None)


def test_evaluate_chooses_the_threshold_on_the_oof_predictions_never_on_test(section):
    X, y = table(n=400)
    model = Pipeline([("features", FunctionTransformer()), ("model", LogisticRegression())])
    model.fit(X.iloc[:300], y.iloc[:300])
    rng = np.random.default_rng(5)
    oof = pd.DataFrame({"target": y.iloc[:300].to_numpy(), "fold": 0})
    oof["proba:1"] = np.clip(0.3 * oof["target"] + rng.uniform(0, 0.7, 300), 0, 1)
    oof["proba:0"] = 1 - oof["proba:1"]
    test = X.iloc[300:].assign(target=y.iloc[300:].to_numpy())
    columns = {"target": "target", "task": "binary", "numeric": ["a", "b", "c"], "categorical": []}
    cfg = SimpleNamespace(
        threshold_metric="f1", importance_repeats=1, importance_max_rows=None, seed=0
    )
    result = evaluate(model, oof, test, columns, cfg)
    threshold = choose_threshold(oof["target"], oof["proba:1"], "f1")
    assert result.results["test"]["threshold"] == round(threshold, 6)
    assert result.results["cv"]["threshold"] == round(threshold, 6)
    test_scores = model.predict_proba(X.iloc[300:])[:, 1]
    assert threshold != choose_threshold(y.iloc[300:], test_scores, "f1")
