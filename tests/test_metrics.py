"""metrics: the decision threshold and the reported metrics."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as m

from tabpipe.core.metrics import binary_metrics, choose_threshold
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
