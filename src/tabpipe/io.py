"""Every path the pipeline writes, and atomic readers and writers for them.

Outputs are written to a temporary file beside the target and renamed, so an interrupted
or failed stage never leaves a half-written file and earlier outputs stay intact.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PARAMS = Path("params.yaml")
# Not written by pipeline stages: new batches to monitor, monitor reports (see README)
BATCHES_DIR = Path("data/batches")
MONITOR_DIR = Path("reports/monitor")

CHECKED = Path("data/check/passed.json")  # the check stage passed (constant content)
RAW = Path("data/raw/data.parquet")
INCOMING_DIR = Path("data/incoming")  # labelled batches fetch appends (each DVC-tracked)
CLEAN = Path("data/clean/data.parquet")
COLUMNS = Path("data/clean/columns.json")
SPLIT_DIR = Path("data/split")
BALANCED_TRAIN = Path("data/balanced/train.parquet")
FEATURES_DIR = Path("data/features")
TRANSFORMER = Path("models/transformer.skops")
MODEL = Path("models/model.skops")
MODEL_ONNX = Path("models/model.onnx")
MODEL_CARD = Path("models/model_card.md")
LOCK = Path("dvc.lock")

FETCH_REPORT = Path("metrics/fetch.json")
CLEAN_REPORT = Path("metrics/clean.json")
VALIDATION_REPORT = Path("metrics/validation.json")
INFERRED_SCHEMA = Path("metrics/schema.yaml")  # the schema clean inferred from this run's table
SCHEMAS_DIR = Path("schemas")  # user-reviewed schemas (data.schema); a dependency of clean
SPLIT_REPORT = Path("metrics/split.json")
BALANCE_REPORT = Path("metrics/balance.json")
CHOICE = Path("data/select/choice.json")  # the model select chose (and its score): train fits it
BALANCING = Path("data/select/balance.json")  # the balancing select chose: balance applies it
OOF = Path("data/select/oof.parquet")  # the choice's out-of-fold predictions: evaluate's threshold
SELECT_LIVE_DIR = Path("metrics/select")
SELECT_SELECTION = SELECT_LIVE_DIR / "selection.md"  # every trial of the search, ranked
SELECT_BEST_PARAMS = SELECT_LIVE_DIR / "best_params.json"
TRAIN_LIVE_DIR = Path("metrics/train")
EVALUATE_LIVE_DIR = Path("metrics/evaluate")
EVALUATE_METRICS = EVALUATE_LIVE_DIR / "metrics.json"

SPLITS = ("train", "test")

# Not DVC outputs (DVC deletes those before a stage runs), git-ignored and .dvcignore'd: the
# finished trials of a tuning search, one journal per search key, so a killed select resumes
TUNING_DIR = Path(".tabpipe/tuning")
# What decides the trials' scores besides tabpipe's own code (part of `code_digest`)
LIBRARIES = (
    "numpy",
    "scipy",
    "pandas",
    "pyarrow",
    "scikit-learn",
    "imbalanced-learn",
    "lightgbm",
    "catboost",
    "optuna",
)


def split_path(split: str) -> Path:
    return SPLIT_DIR / f"{split}.parquet"


def features_path(split: str) -> Path:
    return FEATURES_DIR / f"{split}.parquet"


def tuning_log_path(key: str) -> Path:
    """The journal of the finished trials of the search with this key (tabpipe.core.tuning)."""
    return TUNING_DIR / f"{key}.jsonl"


def tuning_log_storage(key: str):
    """The Optuna storage of the search with this key: a journal file (JSON lines).

    Optuna appends one line per finished trial, flushed and fsynced, and ignores a last line
    cut short, so a kill at any moment leaves a readable log. A log that cannot be read all
    the same (a power cut in the middle of a write) is started again: the search then runs
    from its first trial, as it would without a log.
    """
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock

    path = tuning_log_path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    # One writer at a time already (a stage run by DVC holds the workspace's run lock): a lock
    # left by a killed write is taken over after 5 s rather than Optuna's default 30 s
    lock = JournalFileSymlinkLock(str(path), grace_period=5)
    try:
        return JournalStorage(JournalFileBackend(str(path), lock_obj=lock))
    except (ValueError, KeyError, TypeError):  # json.JSONDecodeError is a ValueError
        path.unlink()
        return JournalStorage(JournalFileBackend(str(path), lock_obj=lock))


def remove_tuning_log(key: str) -> None:
    """Remove the search's journal (once its outputs are written) and the folder if empty."""
    tuning_log_path(key).unlink(missing_ok=True)
    for folder in (TUNING_DIR, TUNING_DIR.parent):
        try:
            folder.rmdir()
        except OSError:  # not empty (another search's log), or absent
            break


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """The hex digest of a file's bytes (md5: the hash DVC records in dvc.lock)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def code_digest() -> str:
    """The code version: a hash of every source file of the tabpipe package as installed, and
    of the versions of Python and of the LIBRARIES that fit and score."""
    from importlib import metadata

    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for source in sorted(package.rglob("*.py")):
        digest.update(source.relative_to(package).as_posix().encode("utf-8") + b"\0")
        digest.update(source.read_bytes() + b"\0")
    for name in LIBRARIES:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            version = "absent"
        digest.update(f"{name}=={version}\0".encode())
    digest.update(sys.version.encode("utf-8"))
    return digest.hexdigest()


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


def write_with(writer: Callable[[Path], Any], path: Path) -> Any:
    """Call writer(tmp) on a temporary path, then rename it onto `path`; writer's result."""
    with atomic_path(path) as tmp:
        return writer(tmp)


def write_parquet(frame, path: Path) -> Path:
    """Write a DataFrame to Parquet (pyarrow, no index, deterministic bytes)."""
    return _write(path, lambda tmp: frame.to_parquet(tmp, engine="pyarrow", index=False))


def read_parquet(path: Path, columns: list[str] | None = None):
    import pandas as pd

    from tabpipe.errors import PipelineError

    if not Path(path).exists():
        raise PipelineError(f"{path} does not exist", fix="run the earlier stages: `dvc repro`")
    return pd.read_parquet(path, engine="pyarrow", columns=columns)


def parquet_rows(path: Path) -> int:
    """The number of rows of a Parquet file, from its footer (nothing else is read)."""
    import pyarrow.parquet as pq

    from tabpipe.errors import PipelineError

    if not Path(path).exists():
        raise PipelineError(f"{path} does not exist", fix="run the earlier stages: `dvc repro`")
    return int(pq.ParquetFile(path).metadata.num_rows)


def read_table(path: Path):
    """A CSV or Parquet file of rows (by its suffix), with a one-line error when unreadable."""
    import pandas as pd

    from tabpipe.errors import PipelineError

    path = Path(path)
    if not path.is_file():
        raise PipelineError(f"{path} does not exist", fix="give the path of a CSV or Parquet file")
    suffixes = [s.lower() for s in path.suffixes]
    if path.stat().st_size == 0:
        raise PipelineError(f"{path}: the file is empty (0 bytes)", fix="check the file")
    try:
        if ".parquet" in suffixes or ".pq" in suffixes:
            return pd.read_parquet(path, engine="pyarrow")
        if ".csv" in suffixes:
            return pd.read_csv(path)
    except Exception as err:  # pyarrow and the CSV parser raise many kinds
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise PipelineError(
            f"{path} is not readable: {reason.rstrip('.')}", fix="check the file"
        ) from None
    raise PipelineError(
        f"{path}: unknown file type '{path.suffix}'", fix="use a .csv or .parquet file"
    )


def write_json(data: Any, path: Path) -> Path:
    text = json.dumps(data, indent=2, sort_keys=False, allow_nan=False) + "\n"
    return _write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_bytes(data: bytes, path: Path) -> Path:
    return _write(path, lambda tmp: tmp.write_bytes(data))


def write_text(text: str, path: Path) -> Path:
    return _write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


# Types a model file may hold beyond those skops trusts by default (scikit-learn estimators,
# builtins). Loading refuses anything else, so a file from elsewhere cannot make us import and
# call arbitrary code. The pipeline never holds the resampler, so no imbalanced-learn type here.
TRUSTED_TYPES: tuple[str, ...] = (
    "numpy.dtype",
    "tabpipe.core.features.DerivedFeatures",
    # featurize.select_k_best scores features with a partial of mutual_info_classif
    "functools.partial",
    "sklearn.feature_selection._mutual_info.mutual_info_classif",
    "sklearn.feature_selection._mutual_info.mutual_info_regression",
    # Tree storage of the random forest and histogram gradient boosting models. skops leaves
    # them untrusted because a crafted file can crash predict() (out-of-range node indices);
    # they cannot run code. Trusted here because the pipeline writes these files itself.
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    # LightGBM models (model=lightgbm, and the trees of model=linear_boost): the booster is
    # stored as LightGBM's own text model inside its state
    "collections.OrderedDict",
    "lightgbm.basic.Booster",
    "lightgbm.sklearn.LGBMClassifier",
    "lightgbm.sklearn.LGBMRegressor",
    "tabpipe.core.zoo.LinearBoostClassifier",
    "tabpipe.core.zoo.LinearBoostRegressor",
    # CatBoost (model=catboost_regressor): its state is CatBoost's own binary model (bytes)
    "tabpipe.core.catboost_models.CatBoostRegressor",
    # an ensemble (VotingClassifier / VotingRegressor) keeps its fitted members by name in a
    # Bunch, a dict with attribute access
    "sklearn.utils._bunch.Bunch",
)

# Zip entries get this date, so equal models give equal bytes (and equal DVC hashes).
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def _deterministic_skops(data: bytes) -> bytes:
    """Rewrite a skops archive so its bytes depend only on the model.

    skops names array entries and `__id__` fields after `id()` (memory addresses) and stamps
    every zip entry with the current time, so two dumps of one model differ. Ids are renumbered
    in order of first appearance (a one-to-one renaming, so shared objects stay shared), entry
    names follow the ids, and every entry gets a fixed date.
    """
    import io as _io
    import zipfile

    source = zipfile.ZipFile(_io.BytesIO(data))
    schema = json.loads(source.read("schema.json"))
    ids: dict[Any, int] = {}
    files: dict[str, str] = {}

    def renumber(node: Any) -> None:
        if isinstance(node, dict):
            if "__id__" in node:  # numbered from 1: skops ignores a falsy id
                node["__id__"] = ids.setdefault(node["__id__"], len(ids) + 1)
            if "__loader__" in node and isinstance(node.get("file"), str):
                old = node["file"]
                node["file"] = files.setdefault(old, f"{len(files) + 1}{Path(old).suffix}")
            for value in node.values():
                renumber(value)
        elif isinstance(node, list):
            for value in node:
                renumber(value)

    renumber(schema)
    out = _io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as target:
        entries = [(new, source.read(old)) for old, new in files.items()]
        entries.append(("schema.json", json.dumps(schema, indent=2).encode("utf-8")))
        for name, payload in entries:
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.external_attr = 0o644 << 16
            target.writestr(info, payload)
    return out.getvalue()


def save_model(obj: Any, path: Path) -> Path:
    """Save a fitted scikit-learn object with skops (no pickle), byte for byte reproducibly."""
    import skops.io

    return write_bytes(_deterministic_skops(skops.io.dumps(obj)), path)


def load_model(path: Path, trusted: tuple[str, ...] = TRUSTED_TYPES) -> Any:
    """Load a skops file, refusing any type that is neither trusted by skops nor in `trusted`."""
    import skops.io
    from skops.io.exceptions import UntrustedTypesFoundException

    from tabpipe.errors import PipelineError

    path = Path(path)
    if not path.exists():
        raise PipelineError(f"{path} does not exist", fix="run the pipeline first: `make run`")
    try:
        return skops.io.load(path, trusted=list(trusted))
    except UntrustedTypesFoundException:
        unknown = sorted(set(skops.io.get_untrusted_types(file=path)) - set(trusted))
        raise PipelineError(
            f"{path} holds types that are not on the trusted list: {', '.join(unknown)}",
            fix="load only model files this pipeline wrote; if you have reviewed the file's "
            "origin, add the types to tabpipe.io.TRUSTED_TYPES",
        ) from None
    except Exception as err:  # a truncated or foreign file fails in many ways inside skops
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise PipelineError(
            f"{path} is not a readable skops model file ({type(err).__name__}: {reason})",
            fix="restore it with `dvc checkout` or rebuild it with `make run`",
        ) from None


def locked_md5(lock: dict, path: str) -> str | None:
    """The md5 dvc.lock records for the output (or dependency) at `path`."""
    for stage in lock.get("stages", {}).values():
        for entry in stage.get("outs", []) + stage.get("deps", []):
            if entry.get("path") == path:
                return entry.get("md5")
    return None
