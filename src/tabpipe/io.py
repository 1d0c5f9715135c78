"""Every path the pipeline writes, and atomic readers and writers for them.

Outputs are written to a temporary file beside the target and renamed, so an interrupted
or failed stage never leaves a half-written file and earlier outputs stay intact.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PARAMS = Path("params.yaml")

RAW = Path("data/raw/data.parquet")
CLEAN = Path("data/clean/data.parquet")
COLUMNS = Path("data/clean/columns.json")
SPLIT_DIR = Path("data/split")
BALANCED_TRAIN = Path("data/balanced/train.parquet")
FEATURES_DIR = Path("data/features")
TRANSFORMER = Path("models/transformer.joblib")
MODEL = Path("models/model.joblib")

FETCH_REPORT = Path("metrics/fetch.json")
CLEAN_REPORT = Path("metrics/clean.json")
SPLIT_REPORT = Path("metrics/split.json")
BALANCE_REPORT = Path("metrics/balance.json")
TRAIN_LIVE_DIR = Path("metrics/train")
TRAIN_SELECTION = TRAIN_LIVE_DIR / "selection.md"  # every tuning trial, ranked
TRAIN_BEST_PARAMS = TRAIN_LIVE_DIR / "best_params.json"
EVALUATE_LIVE_DIR = Path("metrics/evaluate")

SPLITS = ("train", "val", "test")


def split_path(split: str) -> Path:
    return SPLIT_DIR / f"{split}.parquet"


def features_path(split: str) -> Path:
    return FEATURES_DIR / f"{split}.parquet"


@contextmanager
def atomic_path(path: Path):
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _write(path: Path, writer: Callable[[Path], None]) -> Path:
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def write_parquet(frame, path: Path) -> Path:
    """Write a DataFrame to Parquet (pyarrow, no index, deterministic bytes)."""
    return _write(path, lambda tmp: frame.to_parquet(tmp, engine="pyarrow", index=False))


def read_parquet(path: Path, columns: list[str] | None = None):
    import pandas as pd

    from tabpipe.errors import PipelineError

    if not Path(path).exists():
        raise PipelineError(f"{path} does not exist", fix="run the earlier stages: `dvc repro`")
    return pd.read_parquet(path, engine="pyarrow", columns=columns)


def write_json(data: Any, path: Path) -> Path:
    text = json.dumps(data, indent=2, sort_keys=False, allow_nan=False) + "\n"
    return _write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_text(text: str, path: Path) -> Path:
    return _write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def save_model(obj: Any, path: Path) -> Path:
    import joblib

    return _write(path, lambda tmp: joblib.dump(obj, tmp))


def load_model(path: Path) -> Any:
    import joblib

    from tabpipe.errors import PipelineError

    if not Path(path).exists():
        raise PipelineError(f"{path} does not exist", fix="run the pipeline first: `make run`")
    return joblib.load(path)
