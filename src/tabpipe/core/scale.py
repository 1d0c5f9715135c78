"""Large tables: the memory check before work starts, and the switches taken above a size.

Every decision here is a pure function of row counts and config, so the tests need no files
and a stage only reads the figures and prints what was decided.
"""

from __future__ import annotations

from tabpipe.errors import PipelineError

# Peak resident memory of the pipeline per cell (row x column) of the raw table, from
# benchmarks/scale.py: featurize and train hold the over-sampled training rows as float64
# one-hot features (about 2.5 cells per raw cell at 8 bytes each) next to their DataFrames.
BYTES_PER_CELL = 60
# The part that does not grow with the rows: interpreter and libraries, and the
# cross-validation folds, which are capped at scale.cv_max_rows.
BASE_BYTES = 2 * 1024**3


def estimate_bytes(n_rows: int, n_columns: int) -> int:
    """Estimated peak memory of a pipeline run on a table of n_rows x n_columns."""
    return BASE_BYTES + int(n_rows) * int(n_columns) * BYTES_PER_CELL


def available_bytes() -> int:
    """Memory the OS can give us now without swapping."""
    import psutil

    return int(psutil.virtual_memory().available)


def gib(n: float) -> str:
    return f"{n / 1024**3:.1f} GiB"


def check_memory(n_rows: int, n_columns: int, available: int, where: str) -> int:
    """Stop before any work when the estimate exceeds the available memory; the estimate."""
    needed = estimate_bytes(n_rows, n_columns)
    if needed > available:
        fits = max(int((available - BASE_BYTES) / (n_columns * BYTES_PER_CELL)), 0)
        raise PipelineError(
            f"{where}: {n_rows:,} rows x {n_columns} columns need an estimated {gib(needed)} "
            f"of memory, but {gib(available)} is available",
            fix=f"use at most about {fits:,} rows here, or a machine with more memory",
        )
    return needed


def over(n_rows: int, threshold: int | None) -> bool:
    """True when a size threshold is set (not null) and `n_rows` passes it."""
    return threshold is not None and n_rows > threshold


# SMOTE-family samplers: they search nearest neighbours, which grows faster than the rows.
SMOTE_FAMILY = ("SMOTE", "SMOTENC", "SMOTEN", "BorderlineSMOTE", "ADASYN", "SMOTEENN", "SVMSMOTE")


def large_data_sampler(sampler, n_rows: int, max_smote_rows: int | None):
    """Above `max_smote_rows` training rows, a SMOTE-family sampler becomes random
    over-sampling with the same ratio and seed; the sampler and a note (None: unchanged)."""
    if sampler is None or type(sampler).__name__ not in SMOTE_FAMILY:
        return sampler, None
    if not over(n_rows, max_smote_rows):
        return sampler, None
    from imblearn.over_sampling import RandomOverSampler

    params = sampler.get_params()
    replacement = RandomOverSampler(
        sampling_strategy=params.get("sampling_strategy", "auto"),
        random_state=params.get("random_state"),
    )
    note = (
        f"{n_rows:,} training rows > scale.max_smote_rows={max_smote_rows:,}: "
        f"{type(sampler).__name__} replaced by RandomOverSampler (same sampling_strategy), "
        "as its neighbour search does not scale"
    )
    return replacement, note


def large_data_model(model_cfg: dict, n_rows: int, scale_cfg) -> tuple[dict, str | None]:
    """Above `scale.large_data_rows` training rows, the configured model is replaced by
    `scale.large_data_model` (histogram gradient boosting by default) unless the model
    already is that class; the config to use and a note (None: unchanged)."""
    replacement = scale_cfg.large_data_model
    if not over(n_rows, scale_cfg.large_data_rows) or not replacement:
        return model_cfg, None
    if model_cfg.get("_target_") == replacement.get("_target_"):
        return model_cfg, None
    note = (
        f"{n_rows:,} training rows > scale.large_data_rows={scale_cfg.large_data_rows:,}: "
        f"{model_cfg.get('_target_')} replaced by {replacement['_target_']} "
        "(scale.large_data_model), which trains in time linear in the rows"
    )
    # the search space stays: the replacement is searched on what both accept
    return {**dict(replacement), "_search_": model_cfg.get("_search_")}, note


def cv_sample_size(n_rows: int, cv_max_rows: int | None) -> int | None:
    """How many training rows cross-validation uses (None: all of them)."""
    return cv_max_rows if over(n_rows, cv_max_rows) else None


def sample_rows(rows, target: str, n: int, seed: int, stratify: bool):
    """`n` of the rows, stratified by the target for classification, in their original order
    (so cv.strategy=time still sees time order). Used for cross-validation and importance."""
    from sklearn.model_selection import train_test_split

    picked, _ = train_test_split(
        rows.index.to_numpy(),
        train_size=n,
        random_state=seed,
        stratify=rows[target].to_numpy() if stratify else None,
    )
    picked.sort()
    return rows.loc[picked].reset_index(drop=True)
