"""Stratified train / test split with a fixed seed.

There is no validation split: the select stage's cross-validation on the training rows does
its job (the decision threshold is chosen on out-of-fold predictions), so the final model is
fitted on every row but the test rows.

Written with NumPy rather than scikit-learn's `train_test_split`: the split is a few lines,
and importing scikit-learn (about 2 to 4 s, mostly scipy.stats) would be paid on every run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tabpipe.errors import PipelineError


def stratified_assignment(y: pd.Series, test_size: float, seed: int) -> np.ndarray:
    """For each row, 'train' or 'test', with every class split in the same shares."""
    rng = np.random.default_rng(seed)
    assignment = np.empty(len(y), dtype=object)
    codes = pd.factorize(y, sort=True)[0]
    for code in range(codes.max() + 1):
        rows = rng.permutation(np.flatnonzero(codes == code))
        n_test = int(round(len(rows) * test_size))
        assignment[rows[:n_test]] = "test"
        assignment[rows[n_test:]] = "train"
    return assignment


def strata(y: pd.Series, task: str, bins: int = 10) -> pd.Series:
    """What the split stratifies on: the class, or for regression the target's decile."""
    if task != "regression":
        return y
    ranks = y.rank(method="first")  # ties broken by order, so every bin gets rows
    return pd.qcut(ranks, q=min(bins, max(len(y) // 5, 1)), labels=False)


def check_sizes(test_size: float) -> None:
    """A share in (0, 1), leaving rows for training."""
    if not 0 < test_size < 1:
        raise PipelineError(
            f"split.test_size={test_size} must be in (0, 1) and leave rows for training",
            fix="e.g. -S split.test_size=0.2",
        )


def split_table(
    frame: pd.DataFrame,
    target: str,
    test_size: float,
    seed: int,
    task: str = "binary",
) -> dict[str, pd.DataFrame]:
    """Cut `frame` into train and test; the test share is of all rows, stratified on target.

    Classification stratifies on the class; regression on deciles of the target, so both
    parts see the whole range of values. Rows keep their original order within each part.
    """
    check_sizes(test_size)
    groups = strata(frame[target], task)
    counts = groups.value_counts()
    if task != "regression" and int(counts.min()) < 3:
        raise PipelineError(
            f"target '{target}' class {str(counts.idxmin())!r} has {int(counts.min())} rows; "
            "the test split and the cross-validation folds of the training split need more",
            fix="add rows of that class or choose another target",
        )
    assignment = stratified_assignment(groups, test_size, seed)
    return {name: frame[assignment == name].reset_index(drop=True) for name in ("train", "test")}
