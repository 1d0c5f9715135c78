"""Stratified train / validation / test split with a fixed seed.

Written with NumPy rather than scikit-learn's `train_test_split`: the split is a few lines,
and importing scikit-learn (about 2 to 4 s, mostly scipy.stats) would be paid on every run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tabpipe.errors import PipelineError


def stratified_assignment(y: pd.Series, test_size: float, val_size: float, seed: int) -> np.ndarray:
    """For each row, 'train', 'val' or 'test', with every class split in the same shares."""
    rng = np.random.default_rng(seed)
    assignment = np.empty(len(y), dtype=object)
    codes = pd.factorize(y, sort=True)[0]
    for code in range(codes.max() + 1):
        rows = rng.permutation(np.flatnonzero(codes == code))
        n_test = int(round(len(rows) * test_size))
        n_val = int(round(len(rows) * val_size))
        assignment[rows[:n_test]] = "test"
        assignment[rows[n_test : n_test + n_val]] = "val"
        assignment[rows[n_test + n_val :]] = "train"
    return assignment


def strata(y: pd.Series, task: str, bins: int = 10) -> pd.Series:
    """What the split stratifies on: the class, or for regression the target's decile."""
    if task != "regression":
        return y
    ranks = y.rank(method="first")  # ties broken by order, so every bin gets rows
    return pd.qcut(ranks, q=min(bins, max(len(y) // 5, 1)), labels=False)


def check_sizes(test_size: float, val_size: float) -> None:
    """Both shares in (0, 1), leaving rows for training."""
    if not (0 < test_size < 1 and 0 < val_size < 1 and test_size + val_size < 1):
        raise PipelineError(
            f"split.test_size={test_size} and split.val_size={val_size} must be in (0, 1) "
            "and leave rows for training",
            fix="e.g. -S split.test_size=0.2 -S split.val_size=0.2",
        )


def split_table(
    frame: pd.DataFrame,
    target: str,
    test_size: float,
    val_size: float,
    seed: int,
    task: str = "binary",
) -> dict[str, pd.DataFrame]:
    """Cut `frame` into train, val and test; sizes are shares of all rows, stratified on target.

    Classification stratifies on the class; regression on deciles of the target, so every
    part sees the whole range of values. Rows keep their original order within each part.
    """
    check_sizes(test_size, val_size)
    groups = strata(frame[target], task)
    counts = groups.value_counts()
    if task != "regression" and int(counts.min()) < 3:
        raise PipelineError(
            f"target '{target}' class {str(counts.idxmin())!r} has {int(counts.min())} rows; "
            "train, val and test each need at least one",
            fix="add rows of that class or choose another target",
        )
    assignment = stratified_assignment(groups, test_size, val_size, seed)
    return {
        name: frame[assignment == name].reset_index(drop=True) for name in ("train", "val", "test")
    }
