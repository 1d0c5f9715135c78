"""Ensembles of the search's best candidates, kept only where they win in cross-validation.

Greedy ensemble selection (Caruana et al., 2004, "Ensemble selection from libraries of
models"; what AutoGluon's WeightedEnsemble does): start from the best single candidate, then
add, with replacement, whichever candidate most improves the cross-validated score of the
averaged out-of-fold predictions, for a fixed number of rounds; keep the best round. A
candidate's weight is the share of rounds that picked it. Everything is computed from
predictions the search already made (probabilities, or values for regression), scored fold by
fold and averaged exactly as a single trial's score is, so the two compare like for like.

The ensemble is built as scikit-learn's VotingClassifier (soft voting) or VotingRegressor with
those weights: one estimator, fitted member by member, saved as the one inference artifact.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from tabpipe.core.cv import Metric, score_predictions


@dataclass
class EnsembleChoice:
    weights: dict[str, float]  # member name -> weight (summing to 1), in pool order
    scores: list[float]  # the ensemble's score on each fold
    rounds: int  # the round that scored best (the number of picks in `weights`)

    @property
    def mean(self) -> float:
        return float(np.mean(self.scores))

    @property
    def std(self) -> float:
        return float(np.std(self.scores))


def fold_scores(
    metric: Metric,
    y_folds: list[np.ndarray],
    fold_predictions: list[np.ndarray],
    classes: np.ndarray | None,
) -> list[float]:
    return [
        score_predictions(metric, y, p, classes)
        for y, p in zip(y_folds, fold_predictions, strict=True)
    ]


def greedy_selection(
    pool: dict[str, list[np.ndarray]],
    y_folds: list[np.ndarray],
    metric: Metric,
    classes: np.ndarray | None,
    rounds: int,
) -> EnsembleChoice:
    """Caruana's selection with replacement over `pool` (name -> predictions of each fold's
    validation rows). Deterministic: ties go to the candidate listed first, and among equally
    good rounds the earliest (fewest picks) wins."""
    sign = 1.0 if metric.greater_is_better else -1.0
    names = list(pool)
    picks: Counter[str] = Counter()
    totals = [np.zeros_like(p, dtype="float64") for p in pool[names[0]]]
    best: EnsembleChoice | None = None
    for round_ in range(1, max(rounds, 1) + 1):
        scored = []
        for name in names:
            averaged = [(t + p) / round_ for t, p in zip(totals, pool[name], strict=True)]
            scores = fold_scores(metric, y_folds, averaged, classes)
            scored.append((sign * float(np.mean(scores)), name, scores))
        top = max(s for s, _, _ in scored)
        _, name, scores = next(item for item in scored if item[0] == top)
        picks[name] += 1
        totals = [t + p for t, p in zip(totals, pool[name], strict=True)]
        if best is None or top > sign * best.mean:
            weights = {n: picks[n] / round_ for n in names if picks[n]}
            best = EnsembleChoice(weights, scores, round_)
    assert best is not None
    return best


def voting_estimator(members: dict[str, Any], weights: dict[str, float], task: str):
    """The ensemble as one scikit-learn estimator: soft voting of the members' probabilities
    (classification) or the weighted mean of their predictions (regression)."""
    from sklearn.ensemble import VotingClassifier, VotingRegressor

    estimators = [(name, members[name]) for name in weights]
    # an array, not a list: skl2onnx's converter of the voting estimators needs one
    values = np.array([weights[name] for name in weights], dtype="float64")
    if task == "regression":
        return VotingRegressor(estimators, weights=values)
    # flatten_transform only shapes transform()'s output; skl2onnx converts the unflattened one
    return VotingClassifier(estimators, voting="soft", weights=values, flatten_transform=False)
