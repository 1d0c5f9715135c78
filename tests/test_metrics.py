"""metrics: the decision threshold and the reported metrics."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn import metrics as m

from tabpipe.core.metrics import (
    WEIGHT_GRID,
    WEIGHT_PASSES,
    binary_metrics,
    choose_class_weights,
    choose_threshold,
    fit_class_weights,
    label_score,
    multiclass_metrics,
    weighted_labels,
)
from tabpipe.errors import PipelineError

SCORERS = {"f1": m.f1_score, "balanced_accuracy": m.balanced_accuracy_score}


def brute_force_best(y, scores, scorer):
    """The best value over every cut-off 'score >= cut' at a distinct score."""
    return max(scorer(y, (scores >= cut).astype(int)) for cut in np.unique(scores))


@pytest.mark.parametrize("metric", ["f1", "balanced_accuracy"])
@pytest.mark.parametrize("seed", range(8))
def test_choose_threshold_finds_the_best_cut_off(metric, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 40)
    y[:2] = [0, 1]
    scores = np.clip(0.25 * y + rng.random(40) * 0.75, 0, 1)
    if seed % 2:
        scores = np.round(scores, 1)  # many ties
    scorer = SCORERS[metric]
    cut = choose_threshold(y, scores, metric)
    assert cut in set(scores.tolist())
    assert scorer(y, (scores >= cut).astype(int)) == pytest.approx(
        brute_force_best(y, scores, scorer)
    )


def test_choose_threshold_separates_close_scores():
    # scores closer than any rounding: the only perfect cut-off is the positive's own score
    y = np.array([0, 1, 0, 1])
    scores = np.array([0.300004, 0.300006, 0.1, 0.9])
    cut = choose_threshold(y, scores, "f1")
    assert ((scores >= cut).astype(int) == y).all()


def test_choose_threshold_on_a_hand_checked_example():
    y = [0, 1, 0, 1, 1]
    scores = [0.1, 0.2, 0.3, 0.6, 0.7]
    # F1 per cut-off: 0.1 -> 6/8, 0.2 -> 6/7 (TP 3, FP 1), 0.3 -> 4/6, 0.6 -> 4/5, 0.7 -> 2/4
    assert choose_threshold(y, scores) == 0.2
    # balanced accuracy: 0.2 -> (1 + 1/2) / 2 = 0.75, 0.6 -> (2/3 + 1) / 2 = 0.83
    assert choose_threshold(y, scores, "balanced_accuracy") == 0.6


def test_unknown_threshold_metric_is_refused():
    with pytest.raises(PipelineError, match=r"unknown evaluate\.threshold_metric 'accuracy'"):
        choose_threshold([0, 1], [0.2, 0.8], "accuracy")


def test_binary_metrics_match_a_hand_count_and_sklearn():
    y = np.array([0, 0, 1, 1, 0, 1])
    scores = np.array([0.1, 0.6, 0.8, 0.4, 0.3, 0.9])
    values = binary_metrics(y, scores, threshold=0.5)
    # predictions [0, 1, 1, 0, 0, 1]: TP 2, FP 1, FN 1, TN 2
    assert values["accuracy"] == pytest.approx(4 / 6, abs=1e-6)
    assert values["precision"] == pytest.approx(2 / 3, abs=1e-6)
    assert values["recall"] == pytest.approx(2 / 3, abs=1e-6)
    assert values["f1"] == pytest.approx(2 / 3, abs=1e-6)
    # 8 of the 9 (positive, negative) pairs are ranked right (0.4 < 0.6 is not)
    assert values["roc_auc"] == pytest.approx(8 / 9, abs=1e-6)
    assert values["brier"] == pytest.approx(np.mean((scores - y) ** 2), abs=1e-6)
    assert values["log_loss"] == pytest.approx(m.log_loss(y, scores), abs=1e-6)
    assert values["pr_auc"] == pytest.approx(m.average_precision_score(y, scores), abs=1e-6)
    assert values["threshold"] == 0.5
    assert all(isinstance(v, float) for v in values.values())


def test_binary_metrics_survive_certain_scores():
    # scores of exactly 0 and 1 must not make the log loss infinite
    values = binary_metrics([0, 1, 1], [0.0, 1.0, 0.0], threshold=0.5)
    assert np.isfinite(values["log_loss"])
    assert values["recall"] == pytest.approx(0.5)


# --------------------------------------------------------------- multiclass class weights


def biased_rows(seed: int, n: int = 1500):
    """Three classes whose probabilities understate class "c" (a model fitted on rows where
    it was rarer): the likeliest class almost never says "c", so macro F1 gains from weights."""
    rng = np.random.default_rng(seed)
    classes = ["a", "b", "c"]
    y = rng.choice(classes, n, p=[0.45, 0.4, 0.15])
    logits = rng.normal(0, 1, (n, 3))
    logits[np.arange(n), [classes.index(v) for v in y]] += 1.5
    logits[:, 2] -= 1.5  # the bias against "c"
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    folds = np.arange(n) % 5
    return y, proba, classes, folds


@pytest.mark.parametrize("metric", ["f1", "balanced_accuracy"])
@pytest.mark.parametrize("seed", range(4))
def testlabel_score_matches_sklearn(metric, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, 60)
    predicted = rng.integers(0, 3, 60)  # class 3 never predicted
    if seed % 2:
        y[y == 1] = 0  # class 1 never true
    sklearn = m.f1_score(y, predicted, average="macro", zero_division=0)
    if metric == "balanced_accuracy":
        sklearn = m.balanced_accuracy_score(y, predicted)
    assert label_score(metric, y, predicted, 4) == pytest.approx(sklearn, abs=1e-12)


def plain_weight_search(y_codes, proba, metric):
    """fit_class_weights' coordinate ascent written the slow way: an argmax per candidate."""
    n = proba.shape[1]

    def score(weights):
        return label_score(metric, y_codes, (proba * weights).argmax(axis=1), n)

    weights = np.ones(n)
    best = score(weights)
    for _ in range(WEIGHT_PASSES):
        before = best
        for k, value in itertools.product(range(n), WEIGHT_GRID):
            candidate = np.where(np.arange(n) == k, value, weights)
            if score(candidate) > best + 1e-12:
                best, weights = score(candidate), candidate
        if best == before:
            break
    return weights


@pytest.mark.parametrize("metric", ["f1", "balanced_accuracy"])
@pytest.mark.parametrize("seed", range(6))
def test_the_fast_weight_search_finds_what_an_argmax_per_candidate_finds(metric, seed):
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(50, 600)), int(rng.integers(3, 6))
    y = rng.integers(0, k, n)
    proba = rng.dirichlet(np.ones(k), n)
    proba[np.arange(n), y] += rng.uniform(0, 0.5)
    if seed % 2:
        proba = np.round(proba, 1)  # ties between classes: argmax's rule must hold
    proba /= proba.sum(axis=1, keepdims=True)
    expected = plain_weight_search(y, proba, metric)
    assert np.array_equal(fit_class_weights(y, proba, metric), expected)


def test_class_weights_are_kept_where_they_win_on_held_out_folds():
    y, proba, classes, folds = biased_rows(0)
    rule = choose_class_weights(y, proba, classes, folds, "f1")
    assert rule.kept and rule.gain > 0.01
    assert len(rule.fold_gains) == 5
    assert rule.weights["c"] > max(rule.weights["a"], rule.weights["b"])
    # and on new rows of the same kind, never seen by the choice
    y_new, proba_new, _, _ = biased_rows(1)
    plain = m.f1_score(y_new, weighted_labels(proba_new, classes), average="macro")
    weighted = m.f1_score(y_new, weighted_labels(proba_new, classes, rule.weights), average="macro")
    assert weighted > plain + 0.01


def test_class_weights_are_not_kept_when_the_likeliest_class_is_already_right():
    y, proba, classes, folds = biased_rows(2)
    perfect = np.full_like(proba, 0.1)
    perfect[np.arange(len(y)), [classes.index(v) for v in y]] = 0.8
    rule = choose_class_weights(y, perfect, classes, folds, "f1")
    assert not rule.kept and rule.gain == 0
    assert rule.weights == {"a": 1.0, "b": 1.0, "c": 1.0}


def test_class_weights_are_the_same_on_every_run():
    y, proba, classes, folds = biased_rows(3)
    first = choose_class_weights(y, proba, classes, folds, "balanced_accuracy")
    assert choose_class_weights(y, proba, classes, folds, "balanced_accuracy") == first


def test_multiclass_metrics_decide_labels_with_the_weights():
    y, proba, classes, folds = biased_rows(4)
    weights = {"a": 1.0, "b": 1.0, "c": 3.0}
    out = multiclass_metrics(y, proba, classes, weights)
    labels = weighted_labels(proba, classes, weights)
    assert (labels != np.asarray(classes)[proba.argmax(axis=1)]).any()
    assert out["f1_macro"] == pytest.approx(m.f1_score(y, labels, average="macro"), abs=1e-6)
    assert out["per_class"]["c"]["decision_weight"] == 3.0
    # the probability metrics do not depend on the decision
    assert out["log_loss"] == multiclass_metrics(y, proba, classes)["log_loss"]
    assert "decision_weight" not in multiclass_metrics(y, proba, classes)["per_class"]["c"]


def test_a_scorer_labels_rows_with_the_class_weights():
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from tabpipe.serving.predict import InputSchema, Scorer

    rows = pd.DataFrame({"x": np.linspace(-3, 3, 90)})
    model = LogisticRegression().fit(rows, np.repeat(["a", "b", "c"], 30))
    schema = InputSchema(["x"], ["x"], [], {}, [], "y")
    plain = Scorer(model, schema, threshold=None).score(rows)
    weights = {"a": 1.0, "b": 4.0, "c": 1.0}
    weighted = Scorer(model, schema, threshold=None, class_weights=weights).score(rows)
    assert (weighted["label"] == "b").sum() > (plain["label"] == "b").sum()
    expected = weighted_labels(model.predict_proba(rows), list(model.classes_), weights)
    assert weighted["label"].tolist() == expected.tolist()
    assert weighted["probability_b"].tolist() == plain["probability_b"].tolist()
