"""Labelled batches added to the training data: data/incoming/*.parquet, each tracked by DVC.

`fetch` appends them, in file-name order, to the table the configured source returns, so the
raw table gets a new version (a new hash in dvc.lock) whenever a batch is added; with no batch
it is the source's table unchanged. `make retrain NEW=path` adds a batch (see retrain.py).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tabpipe.errors import PipelineError

SUFFIXES = (".parquet", ".csv")


def batch_files(directory: Path) -> list[Path]:
    """The batches in `directory`, by name; each must be tracked by DVC (a `.dvc` file beside it).

    An untracked file would change the training data on this machine only: refused.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    files = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in SUFFIXES)
    for path in files:
        if not path.with_name(path.name + ".dvc").exists():
            raise PipelineError(
                f"{path} is not tracked by DVC, so nobody else would train on it",
                fix=f"`dvc add {path}` (as `make retrain` does), or remove it",
            )
    return files


def append_batches(raw: pd.DataFrame, batches: list[tuple[str, pd.DataFrame]]) -> pd.DataFrame:
    """`raw` with each batch's rows appended; a batch must have exactly the raw table's columns."""
    if not batches:
        return raw
    parts = [raw]
    for name, batch in batches:
        missing = [c for c in raw.columns if c not in batch.columns]
        extra = [c for c in batch.columns if c not in raw.columns]
        if missing or extra:
            detail = "; ".join(
                f"{label} {', '.join(map(str, cols))}"
                for label, cols in (("missing", missing), ("not in the source", extra))
                if cols
            )
            raise PipelineError(
                f"{name}: its columns differ from the source table's ({detail})",
                fix="add batches with the source's columns, or remove the file and its .dvc",
            )
        batch = batch[list(raw.columns)].copy()
        for column in raw.columns:
            if batch[column].dtype != raw[column].dtype:
                try:
                    batch[column] = batch[column].astype(raw[column].dtype)
                except (TypeError, ValueError):
                    raise PipelineError(
                        f"{name}: column '{column}' has type {batch[column].dtype}, the source "
                        f"has {raw[column].dtype}",
                        fix=f"write '{column}' as the source does",
                    ) from None
        parts.append(batch)
    return pd.concat(parts, ignore_index=True)
