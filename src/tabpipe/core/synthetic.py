"""A synthetic, learnable binary table of any size (`data=synthetic`), generated block by block.

Rows come in fixed blocks of `BLOCK_ROWS`; block i draws from its own generator seeded with
(seed, 1, i), so a block's values depend only on the seed and its index, never on how many
blocks were generated before it or in what order. Each block becomes one Parquet row group, so
ten million rows never need more memory than one block.

The label follows a logistic model: a weighted sum of the informative numeric columns plus one
effect per category level, times `signal`, plus an intercept chosen so that the expected share
of positives is `positive_rate` (found by bisection on a fixed calibration sample).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BLOCK_ROWS = 131_072  # rows per block and per Parquet row group (1 MiB per float64 column)
TARGET = "target"
_CALIBRATION_ROWS = 200_000
# Levels per categorical column cycle through these counts, so the columns differ in width
_LEVEL_COUNTS = (3, 5, 8, 4, 12, 6)


@dataclass(frozen=True)
class Spec:
    """What to generate: the `data` keys of `data=synthetic`."""

    n_rows: int
    n_numeric: int = 14
    n_categorical: int = 6
    positive_rate: float = 0.05
    signal: float = 1.0
    seed: int = 42

    def columns(self) -> list[str]:
        return (
            [f"num_{i}" for i in range(self.n_numeric)]
            + [f"cat_{i}" for i in range(self.n_categorical)]
            + [TARGET]
        )


@dataclass(frozen=True)
class _Model:
    """The table's hidden structure, drawn once from the seed."""

    loc: np.ndarray  # numeric column means
    scale: np.ndarray  # numeric column spreads
    weights: np.ndarray  # logit weight per numeric column (0 for the uninformative half)
    levels: list[np.ndarray]  # level names per categorical column
    level_p: list[np.ndarray]  # level frequencies per categorical column
    effects: list[np.ndarray]  # logit effect per level
    intercept: float


def _draw_model(spec: Spec) -> _Model:
    rng = np.random.default_rng([spec.seed, 0])
    loc = rng.normal(0.0, 10.0, spec.n_numeric).round(1)
    scale = rng.uniform(0.5, 20.0, spec.n_numeric).round(2)
    weights = rng.normal(0.0, 1.0, spec.n_numeric)
    weights[spec.n_numeric // 2 :] = 0.0  # half the numeric columns carry no signal
    levels, level_p, effects = [], [], []
    for j in range(spec.n_categorical):
        k = _LEVEL_COUNTS[j % len(_LEVEL_COUNTS)]
        levels.append(np.array([f"c{j}_{i}" for i in range(k)], dtype=object))
        level_p.append(rng.dirichlet(np.full(k, 2.0)))
        effects.append(rng.normal(0.0, 0.5, k))
    model = _Model(loc, scale, weights, levels, level_p, effects, 0.0)
    # the intercept that gives the requested positive rate, on a sample drawn from its own seed
    rng = np.random.default_rng([spec.seed, 2])
    calibration = _linear_score(model, spec, rng, _CALIBRATION_ROWS)
    intercept = calibrate_intercept(calibration * spec.signal, spec.positive_rate)
    return _Model(loc, scale, weights, levels, level_p, effects, intercept)


def _linear_score(model: _Model, spec: Spec, rng: np.random.Generator, n: int) -> np.ndarray:
    """The logit without intercept and signal, drawing the same way `_block` does."""
    z = rng.standard_normal((n, spec.n_numeric))
    score = z @ model.weights
    for p, effect in zip(model.level_p, model.effects, strict=True):
        score += effect[rng.choice(len(p), size=n, p=p)]
    return score


def calibrate_intercept(score: np.ndarray, rate: float, tol: float = 1e-7) -> float:
    """The intercept b with mean(sigmoid(b + score)) == rate (bisection; the mean is monotone)."""
    lo, hi = -50.0, 50.0
    while hi - lo > tol:
        mid = (lo + hi) / 2
        if np.mean(1.0 / (1.0 + np.exp(-(mid + score)))) < rate:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _block(model: _Model, spec: Spec, index: int, n: int) -> dict[str, np.ndarray]:
    """The first n rows of block `index`: float32 numbers, text categories, a 0/1 label.

    A block is always drawn whole and then cut, so a longer table starts with the rows of a
    shorter one with the same seed (n_rows changes only what comes after).
    """
    rng = np.random.default_rng([spec.seed, 1, index])
    full = BLOCK_ROWS
    z = rng.standard_normal((full, spec.n_numeric))[:n]
    logit = z @ model.weights
    codes = []
    for p, effect in zip(model.level_p, model.effects, strict=True):
        code = rng.choice(len(p), size=full, p=p)[:n]
        logit += effect[code]
        codes.append(code)
    logit = model.intercept + spec.signal * logit
    label = (rng.random(full)[:n] < 1.0 / (1.0 + np.exp(-logit))).astype(np.int8)
    # float32 halves the bytes; these values never need more than float32's 7 digits
    numbers = (z * model.scale + model.loc).astype(np.float32)
    out: dict[str, np.ndarray] = {f"num_{i}": numbers[:, i] for i in range(spec.n_numeric)}
    for j, code in enumerate(codes):
        out[f"cat_{j}"] = model.levels[j][code]
    out[TARGET] = label
    return out


def blocks(spec: Spec) -> Iterator[dict[str, np.ndarray]]:
    """The table, one block of at most BLOCK_ROWS rows at a time."""
    check(spec)
    model = _draw_model(spec)
    for index, start in enumerate(range(0, spec.n_rows, BLOCK_ROWS)):
        yield _block(model, spec, index, min(BLOCK_ROWS, spec.n_rows - start))


def check(spec: Spec) -> None:
    from tabpipe.errors import PipelineError

    problems = []
    if spec.n_rows < 10:
        problems.append(("data.n_rows", "at least 10"))
    if spec.n_numeric < 1:
        problems.append(("data.n_numeric", "at least 1"))
    if spec.n_categorical < 0:
        problems.append(("data.n_categorical", "0 or more"))
    if not 0.0 < spec.positive_rate < 1.0:
        problems.append(("data.positive_rate", "between 0 and 1, e.g. 0.05"))
    if spec.signal < 0:
        problems.append(("data.signal", "0 or more (0: no signal)"))
    if problems:
        key, want = problems[0]
        raise PipelineError(
            f"data=synthetic: {key} must be {want}", fix=f"set it, e.g. `-S {key}=...`"
        )


def arrow_schema(spec: Spec):
    """float32 numbers and text categories (Parquet stores text dictionary-encoded anyway)."""
    import pyarrow as pa

    fields = [pa.field(f"num_{i}", pa.float32()) for i in range(spec.n_numeric)]
    fields += [pa.field(f"cat_{j}", pa.string()) for j in range(spec.n_categorical)]
    return pa.schema([*fields, pa.field(TARGET, pa.int8())])


def write(spec: Spec, path: Path) -> int:
    """Write the table to Parquet at `path`, one row group per block; the number of rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = arrow_schema(spec)
    rows = 0
    with pq.ParquetWriter(path, schema, compression="snappy") as writer:
        for block in blocks(spec):
            arrays = [pa.array(block[field.name], type=field.type) for field in schema]
            table = pa.Table.from_arrays(arrays, schema=schema)
            writer.write_table(table, row_group_size=BLOCK_ROWS)
            rows += table.num_rows
    return rows


def frame(spec: Spec):
    """The whole table as a DataFrame (tests and small sizes; the fetch stage streams)."""
    import pandas as pd

    parts = [pd.DataFrame(block) for block in blocks(spec)]
    return pd.concat(parts, ignore_index=True)
