"""Production-like batches drawn from the held-out test split, to exercise the monitor.

Kinds: `unchanged` (a plain sample: the false-alarm check), `shift` (a numeric column
multiplied, e.g. monthly charges up 20 %), `category` (a share of a categorical column
relabelled to a new level, or to an existing one to change the mix), `churn` (the positive
rate multiplied, e.g. doubled). Batches come back as raw rows (the source's column names and
target labels), so the monitor and the retraining loop treat them like real new data.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tabpipe.errors import PipelineError

KINDS = ("unchanged", "shift", "category", "churn")


def _sample(frame: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """n rows without replacement when there are enough, with replacement otherwise."""
    if frame.empty:
        raise PipelineError("no rows to sample from")
    index = rng.choice(len(frame), size=n, replace=n > len(frame))
    return frame.iloc[np.sort(index)]


def simulate_batch(
    test: pd.DataFrame, columns: dict[str, Any], kind: str, seed: int, cfg
) -> pd.DataFrame:
    """A batch of `cfg.rows` cleaned rows (target 0/1) of the given kind; pure given the seed."""
    if kind not in KINDS:
        raise PipelineError(f"unknown batch kind '{kind}'", fix=f"use one of: {', '.join(KINDS)}")
    rng = np.random.default_rng(seed)
    n, target = int(cfg.rows), columns["target"]
    if kind == "churn":
        rate = float(test[target].mean()) * cfg.target_factor
        if not 0 < rate <= 1:
            raise PipelineError(
                f"monitor.simulate.target_factor={cfg.target_factor} gives a positive rate of "
                f"{rate:.2f}",
                fix="pick a factor that keeps the rate between 0 and 1",
            )
        positives = int(round(n * rate))
        batch = pd.concat(
            [
                _sample(test[test[target] == 1], positives, rng),
                _sample(test[test[target] == 0], n - positives, rng),
            ]
        )
        return batch.iloc[rng.permutation(len(batch))].reset_index(drop=True)
    batch = _sample(test, n, rng).reset_index(drop=True)
    if kind == "shift":
        column = cfg.shift_column
        if column not in columns["numeric"]:
            raise PipelineError(
                f"monitor.simulate.shift_column '{column}' is not a numeric column",
                fix=f"use one of: {', '.join(columns['numeric'])}",
            )
        batch[column] = batch[column] * cfg.shift_factor
    elif kind == "category":
        column = cfg.category_column
        if column not in columns["categorical"]:
            raise PipelineError(
                f"monitor.simulate.category_column '{column}' is not a categorical column",
                fix=f"use one of: {', '.join(columns['categorical'])}",
            )
        chosen = rng.random(len(batch)) < cfg.category_share
        batch[column] = batch[column].astype("object")
        batch.loc[chosen, column] = str(cfg.category_level)
        batch[column] = batch[column].astype("str")
    return batch


def as_raw(batch: pd.DataFrame, columns: dict[str, Any], raw_columns: list[str]) -> pd.DataFrame:
    """Cleaned rows back to the raw table's form: its column names, and target labels.

    Column names go back through clean's name normalisation (raw name -> cleaned name), so a
    batch looks like the rows the source returns; fetch can append it to the raw table.
    """
    from tabpipe.core.cleaning import normalize_name

    out = batch.copy()
    target = columns["target"]
    labels = {1: str(columns["positive_label"]), 0: str(columns["negative_label"])}
    out[target] = out[target].map(labels).astype("str")
    back = {normalize_name(raw): raw for raw in raw_columns}
    back.update({raw: raw for raw in raw_columns})  # names clean left unchanged
    out = out.rename(columns={c: back[c] for c in out.columns if c in back})
    order = [c for c in raw_columns if c in out.columns]
    return out[order + [c for c in out.columns if c not in order]]
