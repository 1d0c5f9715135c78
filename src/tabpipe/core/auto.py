"""model=auto and balance=auto: the candidates of the select stage's search, as one space.

`model=auto` lists candidate model families (`model.candidates`, composed from conf/model/ by
Hydra, and `model.families`, the ones searched for each task); `balance=auto` lists candidate
balancings (`balance.candidates`: none, class weights, SMOTE). The search is one Optuna study
over a conditional space: `family` and `balancing` as categoricals, then the chosen family's
own `_search_` under names prefixed by the family (`lightgbm.num_leaves`), so TPE keeps a
distribution per family. Its first trials are warm starts: every family's configured
defaults (unbalanced), then the first family with each other balancing.

Class weights are the balancing's to choose, so a family's own `class_weight` range is left out
of its space. A balancing's resampling depends only on the rows, so the folds are prepared
once per distinct resampler (none and class weights share theirs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tabpipe.config import instantiate_checked
from tabpipe.core.models import for_task
from tabpipe.core.tuning import SEARCH_KEY, TRIALS_KEY, Param, parse_space, suggest
from tabpipe.errors import PipelineError

AUTO = "auto"
FAMILY, BALANCING = "family", "balancing"
# rounds of greedy ensemble selection over each family's best trial (0: no ensembles)
ENSEMBLE_KEY = "ensemble_rounds"
# keys of an auto section that are read here, never passed to an estimator or resampler
AUTO_KEYS = ("_target_", "candidates", "families", TRIALS_KEY, SEARCH_KEY, ENSEMBLE_KEY)


def is_auto(cfg: dict) -> bool:
    return cfg.get("_target_") == AUTO


def balancing_name(cfg: dict) -> str:
    """A fixed balance section's name: none, class_weight, or the resampler's class."""
    target = cfg.get("_target_")
    if target is None:
        return "class_weight" if cfg.get("class_weight") else "none"
    return str(target).rpartition(".")[2]


def model_families(model_cfg: dict, task: str) -> dict[str, dict]:
    """The candidate model configs for `task`, by name, in the configured order."""
    candidates = model_cfg.get("candidates") or {}
    names = (model_cfg.get("families") or {}).get(task)
    if not names:
        raise PipelineError(
            f"params.yaml: model=auto lists no families for a {task} task (model.families.{task})",
            fix=f"list some of {', '.join(candidates)} under families.{task} "
            "in conf/model/auto.yaml",
        )
    unknown = [n for n in names if n not in candidates]
    if unknown:
        raise PipelineError(
            f"params.yaml: model.families.{task} names {unknown[0]}, which is not a candidate",
            fix=f"use some of: {', '.join(candidates)} (model.candidates)",
        )
    return {name: dict(candidates[name]) for name in names}


def balancings(balance_cfg: dict, task: str) -> dict[str, dict]:
    """The candidate balancings by name; a regression task has only `none`."""
    if task == "regression":
        return {"none": {"_target_": None}}
    if not is_auto(balance_cfg):
        return {balancing_name(balance_cfg): balance_cfg}
    candidates = balance_cfg.get("candidates") or {}
    if not candidates:
        raise PipelineError(
            "params.yaml: balance=auto has no balance.candidates",
            fix="list some under candidates in conf/balance/auto.yaml, or pick one: "
            "-S balance=none",
        )
    # `none` first: the warm starts are unbalanced, whatever order the file lists them in
    names = sorted(candidates, key=lambda n: n != "none")
    return {name: dict(candidates[name]) for name in names}


def family_space(name: str, cfg: dict, searched: bool) -> list[Param]:
    """A family's `_search_` (none when not searched), less what the balancing decides."""
    if not searched:
        return []
    space = parse_space(cfg.get(SEARCH_KEY), f"model.candidates.{name}")
    return [p for p in space if p.name != "class_weight"]


def _in_space(p: Param, value: Any) -> bool:
    if p.kind == "choice":
        return value in p.choices
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return ok and p.low <= value <= p.high and (p.kind == "float" or float(value).is_integer())


@dataclass
class ConditionalSpace:
    """The family, the balancing, then the family's own space (prefixed by its name)."""

    families: dict[str, list[Param]]
    balancings: list[str]
    warm: list[dict[str, Any]] = field(default_factory=list)

    def suggest(self, trial) -> dict[str, Any]:
        names = list(self.families)
        family = trial.suggest_categorical(FAMILY, names) if len(names) > 1 else names[0]
        balancing = (
            trial.suggest_categorical(BALANCING, self.balancings)
            if len(self.balancings) > 1
            else self.balancings[0]
        )
        space = [
            Param(f"{family}.{p.name}", p.kind, p.low, p.high, p.log, p.choices)
            for p in self.families[family]
        ]
        return {FAMILY: family, BALANCING: balancing, **suggest(trial, space)}


def warm_starts(
    families: dict[str, dict], spaces: dict[str, list[Param]], balancings: list[str], task: str
) -> list[dict[str, Any]]:
    """Each family's configured values (first balancing), then the first family with the
    others: what a user would try by hand, scored before the sampler explores."""
    out = []
    for name, cfg in families.items():
        estimator, _ = for_task(instantiate_checked("model", cfg), task)
        values = estimator.get_params(deep=False)
        point = {FAMILY: name, BALANCING: balancings[0]}
        for p in spaces[name]:
            if p.name in values and _in_space(p, values[p.name]):
                point[f"{name}.{p.name}"] = values[p.name]
        out.append(point)
    first = out[0]
    out += [{**first, BALANCING: b} for b in balancings[1:]]
    return out


def chosen_model(families: dict[str, dict], params: dict[str, Any]) -> dict:
    """The winning trial's model config: its family's section with the tuned values."""
    family = params[FAMILY]
    prefix = f"{family}."
    tuned = {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}
    return {**families[family], **tuned}
