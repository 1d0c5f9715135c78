"""Every section of the composed config checked before any stage runs (the `check` stage).

DVC deletes a stage's outputs before running it, so a bad value found by the stage that reads
it (`-S model.C=abc` in train, `-S evaluate.threshold_metric=f2` in evaluate) has cost the
user that stage's last good outputs, and the minutes of the stages before it. `check_params`
finds them first: unknown keys and wrong types (the section schemas of tabpipe.config),
`???` values, values a class rejects (the `_target_` sections, built and validated), ranges
(split sizes, trial counts, folds) and the data source (a missing data.path is named here,
before DVC's own "No such file or directory" for the `${data.watch}` dependency).

Sections equal to those of the last successful check (`previous`, read from dvc.lock) are not
checked again, so a change of `model.C` does not pay for importing imbalanced-learn.
"""

from __future__ import annotations

from typing import Any

from tabpipe.config import instantiate_checked, load_section, load_task, require
from tabpipe.errors import PipelineError

# the sections the stages read, in the order they are checked (task is a top-level key)
SECTIONS = ("data", "clean", "split", "featurize", "cv", "tune", "evaluate", "scale")
TARGET_SECTIONS = ("balance", "model")
THRESHOLD_METRICS = ("f1", "balanced_accuracy")
IMPUTE = {
    "featurize.numeric_impute": ("mean", "median", "most_frequent", "constant"),
    "featurize.categorical_impute": ("most_frequent", "constant"),
}


def _at_least(key: str, value: Any, low: float, fix: str, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if value is None or value < low:
        raise PipelineError(
            f"params.yaml: {key}={value} must be at least {low:g}", fix=f"e.g. `-S {fix}`"
        )


def check_split(cfg) -> None:
    from tabpipe.core.splitting import check_sizes

    check_sizes(cfg.test_size)


def check_tune(cfg) -> None:
    from tabpipe.core.tuning import BACKENDS, METHODS

    if cfg.method not in METHODS:
        raise PipelineError(
            f"params.yaml: unknown tune.method '{cfg.method}'",
            fix=f"pick one of the files in conf/tune/: -S tune=<{'|'.join(METHODS)}>",
        )
    if cfg.n_trials is not None and cfg.n_trials < 1:
        raise PipelineError(
            f"params.yaml: tune.n_trials={cfg.n_trials}, but a search needs at least one trial",
            fix="e.g. `-S tune.n_trials=40`, or null for the model's own budget (model._trials_)",
        )
    if cfg.timeout_s is not None and cfg.timeout_s <= 0:
        raise PipelineError(
            f"params.yaml: tune.timeout_s={cfg.timeout_s} must be positive",
            fix="e.g. `-S tune.timeout_s=600`, or null for no time limit",
        )
    _at_least("tune.grid_points", cfg.grid_points, 1, "tune.grid_points=3")
    _at_least("tune.n_startup_trials", cfg.n_startup_trials, 0, "tune.n_startup_trials=10")
    if cfg.backend not in BACKENDS:
        raise PipelineError(
            f"params.yaml: unknown tune.backend '{cfg.backend}'",
            fix=f"use -S tune.backend=<{'|'.join(BACKENDS)}>",
        )
    _at_least("tune.ray_parallel", cfg.ray_parallel, 1, "tune.ray_parallel=4")


def check_cv(cfg, task: str) -> None:
    from tabpipe.core.cv import METRICS, STRATEGIES, main_metric

    if cfg.strategy not in STRATEGIES:
        raise PipelineError(
            f"params.yaml: unknown cv.strategy '{cfg.strategy}'",
            fix=f"use one of: {', '.join(STRATEGIES)}",
        )
    if cfg.folds < 2:
        raise PipelineError(
            f"params.yaml: cv.folds={cfg.folds}, but cross-validation needs at least 2 "
            "(select scores the model by it, and evaluate's threshold comes from its folds)",
            fix="use -S cv.folds=5",
        )
    if task != "auto":
        main_metric(cfg.metric, task)
    elif cfg.metric != "auto" and cfg.metric not in METRICS:
        main_metric(cfg.metric, "binary")  # names the unknown metric


def check_featurize(cfg) -> None:
    for key, allowed in IMPUTE.items():
        value = getattr(cfg, key.split(".")[1])
        if value not in allowed:
            raise PipelineError(
                f"params.yaml: unknown {key} '{value}'", fix=f"use one of: {', '.join(allowed)}"
            )
    _at_least(
        "featurize.min_category_frequency",
        cfg.min_category_frequency,
        1,
        "featurize.min_category_frequency=10",
    )
    _at_least("featurize.bins", cfg.bins, 2, "featurize.bins=5")
    _at_least("featurize.select_k_best", cfg.select_k_best, 1, "featurize.select_k_best=20")


def check_evaluate(cfg) -> None:
    if cfg.threshold_metric not in THRESHOLD_METRICS:
        raise PipelineError(
            f"params.yaml: unknown evaluate.threshold_metric '{cfg.threshold_metric}'",
            fix=f"use one of: {', '.join(THRESHOLD_METRICS)}",
        )
    _at_least(
        "evaluate.importance_repeats", cfg.importance_repeats, 1, "evaluate.importance_repeats=5"
    )
    _at_least(
        "evaluate.importance_max_rows",
        cfg.importance_max_rows,
        1,
        "evaluate.importance_max_rows=100000",
    )


def check_clean(cfg) -> None:
    _at_least("clean.high_cardinality", cfg.high_cardinality, 1, "clean.high_cardinality=50")
    _at_least("clean.max_classes", cfg.max_classes, 2, "clean.max_classes=10")


def check_scale(cfg) -> None:
    for key in ("max_smote_rows", "large_data_rows", "cv_max_rows"):
        _at_least(f"scale.{key}", getattr(cfg, key), 1, f"scale.{key}=500000")


def check_targets(params: dict, sections: tuple[str, ...]) -> None:
    """Build each `_target_` section: unknown keys and values the class rejects are named."""
    from tabpipe.config import load_target_section
    from tabpipe.core.auto import AUTO_KEYS, ENSEMBLE_KEY, is_auto, model_families
    from tabpipe.core.tuning import SEARCH_KEY, parse_space

    for section in sections:
        cfg = load_target_section(section, params=params)
        if not is_auto(cfg):
            instantiate_checked(section, cfg)
            if section == "model" and cfg.get(SEARCH_KEY) is not None:
                parse_space(cfg[SEARCH_KEY])
            continue
        # model=auto / balance=auto: every candidate, as if it were picked alone
        allowed = AUTO_KEYS if section == "model" else ("_target_", "candidates")
        for key, value in cfg.items():
            if key not in allowed:
                raise PipelineError(
                    f"params.yaml: unknown key {section}.{key}={value!r} for {section}=auto "
                    f"(it takes {', '.join(allowed)})",
                    fix=f"set it on a candidate (-S {section}.candidates.<name>.{key}=...), "
                    f"or pick one: -S {section}=<a file name in conf/{section}/>",
                )
        candidates = cfg.get("candidates") or {}
        if not candidates:
            raise PipelineError(
                f"params.yaml: {section}=auto has no {section}.candidates",
                fix=f"list some under candidates in conf/{section}/auto.yaml",
            )
        for name, candidate in candidates.items():
            instantiate_checked(f"{section}.candidates.{name}", dict(candidate))
            if section == "model" and candidate.get(SEARCH_KEY) is not None:
                parse_space(candidate[SEARCH_KEY], f"model.candidates.{name}")
        if section == "model":
            for task in (cfg.get("families") or {}) or ("binary",):
                model_families(cfg, task)
            rounds = cfg.get(ENSEMBLE_KEY) or 0
            if not isinstance(rounds, int) or isinstance(rounds, bool) or rounds < 0:
                raise PipelineError(
                    f"params.yaml: model.{ENSEMBLE_KEY}={rounds!r} must be a whole number >= 0",
                    fix=f"e.g. -S model.{ENSEMBLE_KEY}=25, or 0 for no ensembles",
                )


def changed_sections(params: dict, previous: dict | None) -> set[str]:
    """Top-level keys whose value differs from `previous` (all of them when there is none)."""
    if not previous:
        return set(params)
    return {key for key, value in params.items() if previous.get(key) != value}


def check_params(params: dict, previous: dict | None = None) -> list[str]:
    """Check what the stages read; return the sections checked. Raises on the first problem."""
    from tabpipe.core import sources

    require(params)
    changed = changed_sections(params, previous)
    task = load_task(params=params)
    cfg = {s: load_section(s, params=params) for s in SECTIONS if s in params}
    sources.check(cfg["data"])  # always: the file named by data.path may have gone
    checks = {
        "clean": lambda: check_clean(cfg["clean"]),
        "split": lambda: check_split(cfg["split"]),
        "featurize": lambda: check_featurize(cfg["featurize"]),
        "tune": lambda: check_tune(cfg["tune"]),
        "cv": lambda: check_cv(cfg["cv"], task),
        "evaluate": lambda: check_evaluate(cfg["evaluate"]),
        "scale": lambda: check_scale(cfg["scale"]),
    }
    checked = ["data"]
    for section, run in checks.items():
        if section in cfg and (
            section in changed or (section == "cv" and bool({"tune", "task"} & changed))
        ):
            run()
            checked.append(section)
    targets = tuple(s for s in TARGET_SECTIONS if s in params and s in changed)
    check_targets(params, targets)
    return checked + list(targets)
