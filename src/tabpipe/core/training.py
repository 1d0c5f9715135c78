"""Model selection for the train stage: cross-validate (and tune) the configured model, refit.

Cross-validation cuts folds on the unbalanced training rows and resamples and featurizes inside
each fold with the balance and featurize settings (so train reads those params too). With
tune=grid|random|bayesian every trial is scored that way; the winner's parameters are what the
stage refits on the whole training split as the balance and featurize stages prepared it.
Everything here takes config sections and DataFrames; the stage reads and writes the files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from tabpipe.config import instantiate_checked
from tabpipe.core.auto import (
    BALANCING,
    ENSEMBLE_KEY,
    FAMILY,
    ConditionalSpace,
    balancing_name,
    balancings,
    chosen_model,
    family_space,
    is_auto,
    model_families,
    warm_starts,
)
from tabpipe.core.cv import (
    CVObjective,
    Fold,
    Metric,
    fold_classes,
    main_metric,
    out_of_fold,
    prepare_folds,
    splits,
)
from tabpipe.core.ensemble import EnsembleChoice, greedy_selection, voting_estimator
from tabpipe.core.features import build_transformer
from tabpipe.core.models import estimator_settings, for_task
from tabpipe.core.scale import (
    cv_sample_size,
    large_data_model,
    large_data_sampler,
    over,
    sample_rows,
)
from tabpipe.core.tuning import (
    SEARCH_KEY,
    TRIALS_KEY,
    TrialLog,
    TrialResult,
    applicable_space,
    best_trial,
    check_backend,
    parse_space,
    plain,
    search,
    selection_report,
    trial_budget,
    trial_curve,
)
from tabpipe.errors import PipelineError

RESERVED = (SEARCH_KEY, TRIALS_KEY)  # read by the search, not part of the chosen model
ENSEMBLE = "ensemble"  # the family name of a chosen ensemble


def fold_transformer(featurize_cfg, columns: dict, task: str):
    """The featurize stage's transformer for these columns, to be fitted inside each fold."""
    return build_transformer(
        featurize_cfg,
        columns["numeric"],
        columns["categorical"],
        featurize_cfg.seed,
        task,
        columns.get("continuous"),
    )


def build_estimator(model_cfg: dict, params: dict, class_weight: str | None, task: str = "binary"):
    """The configured estimator for the task, with `params` (a trial's) and class weights."""
    estimator, _ = for_task(instantiate_checked("model", {**model_cfg, **params}), task)
    return with_class_weight(estimator, class_weight, task)


def build_candidate(
    families: dict[str, dict], balance: dict[str, dict], task: str, params: dict[str, Any]
):
    """The estimator of one trial of model=auto's conditional space (class weights set)."""
    cfg = chosen_model(families, params)
    return build_estimator(cfg, {}, balance[params[BALANCING]].get("class_weight"), task)


def with_class_weight(estimator, class_weight: str | None, task: str):
    """balance=class_weight's setting on the estimator (classification only)."""
    if class_weight is None or task == "regression":
        return estimator
    if "class_weight" not in estimator.get_params():
        raise PipelineError(
            f"balance=class_weight, but {type(estimator).__name__} takes no class_weight",
            fix="pick a resampler instead, e.g. -S balance=smote, or another model",
        )
    return estimator.set_params(class_weight=class_weight)


@dataclass
class Selection:
    """The outcome of the search: every trial, the winner, and the estimator to refit."""

    metric: Metric
    tune_cfg: Any
    results: list[TrialResult]
    winner: TrialResult
    estimator: Any
    notes: list[str] = field(default_factory=list)
    # what train fits and balance applies (data/select/choice.json): the winner's model
    # section (tuned values in) and balance section, and their names
    model_cfg: dict = field(default_factory=dict)
    balance_cfg: dict = field(default_factory=dict)
    family: str = ""
    balancing: str = ""
    # an ensemble (family "ensemble"): each member's family, balancing, weight, model section
    # and class weights; empty for a single model
    members: list[dict] = field(default_factory=list)
    # the balancing the balance stage applies to the training rows: the winner's (an
    # ensemble's members share its resampling; `balancing` then names every member's)
    rows_balancing: str = ""
    # the chosen model's out-of-fold predictions of the cross-validated rows, with the target
    # and the fold of each row: evaluate chooses the decision threshold on them
    oof: pd.DataFrame | None = None
    # the chosen model's score on each fold (the winner's, or the ensemble's)
    scores: list[float] = field(default_factory=list)

    @property
    def cv_mean(self) -> float:
        return float(np.mean(self.scores)) if self.scores else float(self.winner.mean)

    @property
    def cv_std(self) -> float:
        return float(np.std(self.scores)) if self.scores else float(self.winner.std)


def select_model(
    rows: pd.DataFrame,
    columns: dict,
    n_train: int,
    cfg: dict,
    echo: Callable[[str], None] = print,
    trial_log: TrialLog | None = None,
) -> Selection:
    """Cross-validate every trial of the configured search on `rows` (the unbalanced training
    split) and return the winner, unfitted. `cfg` holds the model, balance, cv, tune, featurize
    and scale sections; `n_train` is the whole split's row count (the large-data switches are
    decided on it, as in the balance stage). With `trial_log` a killed search resumes from the
    trials it finished (`tabpipe.core.tuning.TrialLog`)."""
    from omegaconf import OmegaConf

    model_cfg, balance_cfg = cfg["model"], cfg["balance"]
    cv_cfg, tune_cfg, featurize_cfg, scale_cfg = (
        cfg["cv"],
        cfg["tune"],
        cfg["featurize"],
        cfg["scale"],
    )
    target, task = columns["target"], columns.get("task", "binary")
    replacement = scale_cfg.large_data_model
    if is_auto(model_cfg) and replacement and over(n_train, scale_cfg.large_data_rows):
        # the families' search would take hours: the large-data model stands in for them all
        model_cfg = OmegaConf.to_container(replacement, resolve=True)
        large_note = (
            f"{n_train:,} training rows > scale.large_data_rows={scale_cfg.large_data_rows:,}: "
            f"model=auto fits only {model_cfg['_target_']} (scale.large_data_model)"
        )
    else:
        model_cfg, large_note = large_data_model(model_cfg, n_train, scale_cfg)
    if large_note:
        echo(f"select: {large_note}")
    if is_auto(model_cfg) or (task != "regression" and is_auto(balance_cfg)):
        return _select_auto(rows, columns, n_train, {**cfg, "model": model_cfg}, echo, trial_log)
    if is_auto(balance_cfg):  # regression: nothing to balance
        balance_cfg = {"_target_": None}
    metric = main_metric(cv_cfg.metric, task)
    check_backend(tune_cfg)  # an unreachable Ray cluster fails now, not after the folds
    tune_cfg, budget_note = trial_budget(tune_cfg, model_cfg)
    if budget_note:
        echo(f"select: {budget_note}")
    class_weight = balance_cfg.get("class_weight")
    space = parse_space(model_cfg.get(SEARCH_KEY)) if tune_cfg.method != "none" else []
    estimator, note = for_task(instantiate_checked("model", model_cfg), task)
    configured = with_class_weight(estimator, class_weight, task)  # fails before any fold
    if note:  # a classifier's config on a regression task: its regressor stands in
        echo(f"select: {note}")
    accepted = estimator_settings(configured)
    space, skipped = applicable_space(space, accepted, type(configured).__name__, bool(note))
    if skipped:
        echo(f"select: not searched for the regressor: {', '.join(skipped)}")

    sample = cv_sample_size(len(rows), scale_cfg.cv_max_rows)
    if sample is not None:
        rows = sample_rows(rows, target, sample, cv_cfg.seed, stratify=task != "regression")
        echo(
            f"select: {n_train:,} training rows > scale.cv_max_rows={scale_cfg.cv_max_rows:,}: "
            f"cross-validating on a {'stratified ' if task != 'regression' else ''}sample of "
            f"{sample:,} rows (the final model is fitted on all of them)"
        )
    X, y = rows[columns["numeric"] + columns["categorical"]], rows[target]
    sampler = None if task == "regression" else instantiate_checked("balance", balance_cfg)
    # the same switch as the balance stage, decided on the same count (the whole split)
    sampler, _ = large_data_sampler(sampler, n_train, scale_cfg.max_smote_rows)
    transformer = fold_transformer(featurize_cfg, columns, task)
    folds = prepare_folds(
        X, y, splits(cv_cfg, rows, y, task), sampler, transformer, columns["categorical"]
    )
    echo(
        f"select: {len(folds)}-fold {cv_cfg.strategy} cross-validation of "
        f"{type(configured).__name__} on {len(rows)} rows ({metric.name}), tune={tune_cfg.method}"
    )
    build = partial(build_estimator, model_cfg, class_weight=class_weight, task=task)
    classes = None if task == "regression" else fold_classes(folds)
    objective = CVObjective(build, folds, metric, classes=classes)
    results = search(
        space, objective, tune_cfg, metric.greater_is_better, metric.name, trial_log=trial_log
    )
    winner = best_trial(results, metric.greater_is_better)
    echo(
        f"select: cross-validated {metric.name} {winner.mean:.4f} ± {winner.std:.4f}; refitting"
        + (f" with {winner.params}" if winner.params else "")
        + " on the whole training split"
    )
    chosen = {k: v for k, v in {**model_cfg, **winner.params}.items() if k not in RESERVED}
    return Selection(
        metric,
        tune_cfg,
        results,
        winner,
        build(winner.params),
        model_cfg=chosen,
        balance_cfg=dict(balance_cfg),
        family=family_name(model_cfg),
        balancing=balancing_name(balance_cfg) if task != "regression" else "none",
        oof=oof_frame(folds, objective.fold_predictions(winner.params), rows[target], classes),
        scores=list(winner.scores),
    )


def oof_frame(
    folds: list[Fold], fold_predictions: list[np.ndarray], y: pd.Series, classes
) -> pd.DataFrame:
    """data/select/oof.parquet: each cross-validated row's target, fold and out-of-fold
    prediction (`proba:<class>` columns, or `prediction` for regression). Rows no fold
    validated (the first block of time folds) are left out."""
    predicted, fold_of_row = out_of_fold(folds, fold_predictions, len(y))
    frame = pd.DataFrame({y.name: y.to_numpy(), "fold": fold_of_row})
    if classes is None:
        frame["prediction"] = predicted
    else:
        for j, label in enumerate(classes):
            frame[f"proba:{label}"] = predicted[:, j]
    return frame[fold_of_row >= 0].reset_index(drop=True)


def family_name(model_cfg: dict) -> str:
    """A fixed model's name: its class (LogisticRegression)."""
    return str(model_cfg.get("_target_")).rpartition(".")[2]


def cv_rows(rows: pd.DataFrame, columns: dict, n_train: int, cfg: dict, echo) -> pd.DataFrame:
    """The rows cross-validation uses: all, or a sample above scale.cv_max_rows."""
    target, task = columns["target"], columns.get("task", "binary")
    cv_cfg, scale_cfg = cfg["cv"], cfg["scale"]
    sample = cv_sample_size(len(rows), scale_cfg.cv_max_rows)
    if sample is None:
        return rows
    echo(
        f"select: {n_train:,} training rows > scale.cv_max_rows={scale_cfg.cv_max_rows:,}: "
        f"cross-validating on a {'stratified ' if task != 'regression' else ''}sample of "
        f"{sample:,} rows (the final model is fitted on all of them)"
    )
    return sample_rows(rows, target, sample, cv_cfg.seed, stratify=task != "regression")


def _select_auto(
    rows: pd.DataFrame,
    columns: dict,
    n_train: int,
    cfg: dict,
    echo: Callable[[str], None],
    trial_log: TrialLog | None = None,
) -> Selection:
    """model=auto and/or balance=auto: one seeded study over families x balancings x each
    family's space (tabpipe.core.auto), warm starts first, a budget of trials."""
    from omegaconf import OmegaConf

    model_cfg, balance_cfg = cfg["model"], cfg["balance"]
    cv_cfg, tune_cfg = cfg["cv"], cfg["tune"]
    featurize_cfg, scale_cfg = cfg["featurize"], cfg["scale"]
    target, task = columns["target"], columns.get("task", "binary")
    metric = main_metric(cv_cfg.metric, task)
    check_backend(tune_cfg)
    searched_models = is_auto(model_cfg)
    families = (
        model_families(model_cfg, task) if searched_models else {family_name(model_cfg): model_cfg}
    )
    balance = balancings(balance_cfg, task)
    tuned = searched_models or tune_cfg.method != "none"
    spaces = {name: family_space(name, c, tuned) for name, c in families.items()}
    warm = warm_starts(families, spaces, list(balance), task)
    if tune_cfg.n_trials is not None:
        budget, why = tune_cfg.n_trials, "tune.n_trials"
    elif searched_models or tune_cfg.method != "none":
        budget, why = int(model_cfg.get(TRIALS_KEY) or len(warm)), f"model.{TRIALS_KEY}"
    else:
        budget, why = len(warm), "one trial per balancing (tune=none)"
    method = "random" if tune_cfg.method == "random" else tune_cfg.method
    method = "bayesian" if method == "none" else method
    search_cfg = OmegaConf.merge(tune_cfg, {"method": method, "n_trials": budget})

    rows = cv_rows(rows, columns, n_train, cfg, echo)
    X, y = rows[columns["numeric"] + columns["categorical"]], rows[target]
    transformer = fold_transformer(featurize_cfg, columns, task)
    cuts = splits(cv_cfg, rows, y, task)
    prepared: dict[str, list] = {}
    fold_sets = {}
    for name, bcfg in balance.items():
        sampler = None if task == "regression" else instantiate_checked("balance", bcfg)
        sampler, _ = large_data_sampler(sampler, n_train, scale_cfg.max_smote_rows)
        key = repr(bcfg.get("_target_") and sorted(bcfg.items()))  # same resampling, same folds
        if key not in prepared:
            prepared[key] = prepare_folds(X, y, cuts, sampler, transformer, columns["categorical"])
        fold_sets[name] = prepared[key]
    echo(
        f"select: {len(cuts)}-fold {cv_cfg.strategy} cross-validation on {len(rows)} rows "
        f"({metric.name}) of {', '.join(families)} x balancing {', '.join(balance)}: "
        f"{budget} trials ({why}), {len(warm)} warm starts, then {method}"
    )
    build = partial(build_candidate, families, balance, task)
    classes = None if task == "regression" else fold_classes(next(iter(fold_sets.values())))
    objective = CVObjective(
        build, next(iter(fold_sets.values())), metric, fold_sets, BALANCING, classes
    )
    space = ConditionalSpace(spaces, list(balance), warm)
    results = search(
        space, objective, search_cfg, metric.greater_is_better, metric.name, trial_log=trial_log
    )
    winner = best_trial(results, metric.greater_is_better)
    family, balancing = winner.params[FAMILY], winner.params[BALANCING]
    chosen = {k: v for k, v in chosen_model(families, winner.params).items() if k not in RESERVED}
    echo(
        f"select: best single model {family} with balancing {balancing}: cross-validated "
        f"{metric.name} {winner.mean:.4f} ± {winner.std:.4f} "
        f"(trial {winner.number + 1} of {len(results)})"
    )
    folds = objective.folds_for(winner.params)
    selection = Selection(
        metric,
        search_cfg,
        results,
        winner,
        build(winner.params),
        model_cfg=chosen,
        balance_cfg=balance[balancing],
        family=family,
        balancing=balancing,
        oof=oof_frame(folds, objective.fold_predictions(winner.params), y, classes),
        scores=list(winner.scores),
    )
    rounds = int(model_cfg.get(ENSEMBLE_KEY) or 0) if searched_models else 0
    pool = ensemble_pool(results, winner, fold_sets, metric) if rounds else []
    if len(pool) < 2:
        return selection
    predicted = {r.params[FAMILY]: objective.fold_predictions(r.params) for r in pool}
    ensemble = greedy_selection(predicted, [f.y_valid for f in folds], metric, classes, rounds)
    shown = ", ".join(f"{name} {w:.2f}" for name, w in ensemble.weights.items())
    if len(ensemble.weights) < 2 or not metric.better(ensemble.mean, winner.mean):
        echo(f"select: no ensemble of {', '.join(predicted)} beats it in cross-validation")
        return selection
    echo(
        f"select: chose an ensemble ({shown}): cross-validated {metric.name} "
        f"{ensemble.mean:.4f} ± {ensemble.std:.4f} against {winner.mean:.4f} for {family} alone"
    )
    by_family = {r.params[FAMILY]: r for r in pool}
    return with_ensemble(
        selection, ensemble, by_family, families, balance, task, folds, predicted, y, classes
    )


def ensemble_pool(
    results: list[TrialResult], winner: TrialResult, fold_sets: dict[str, list], metric: Metric
) -> list[TrialResult]:
    """The ensemble's candidates: the best trial of each family among those cross-validated
    on the winner's folds (a balancing that resamples differently would need other training
    rows), the winner first, then by score."""
    folds = fold_sets[winner.params[BALANCING]]
    best: dict[str, TrialResult] = {}
    for r in ranked_trials(results, metric):
        if fold_sets[r.params[BALANCING]] is folds:
            best.setdefault(r.params[FAMILY], r)
    return list(best.values())


def ranked_trials(results: list[TrialResult], metric: Metric) -> list[TrialResult]:
    """Completed trials, best first (the earliest among equals)."""
    sign = -1.0 if metric.greater_is_better else 1.0
    done = [r for r in results if r.state == "complete"]
    return sorted(done, key=lambda r: (sign * r.mean, r.number))


def with_ensemble(
    selection: Selection,
    ensemble: EnsembleChoice,
    trials: dict[str, TrialResult],
    families: dict[str, dict],
    balance: dict[str, dict],
    task: str,
    folds: list[Fold],
    predicted: dict[str, list[np.ndarray]],
    y: pd.Series,
    classes,
) -> Selection:
    """`selection` with the ensemble as the chosen model: its members (each a trial's model
    and class weights), its out-of-fold predictions and fold scores."""
    members, estimators = [], {}
    for name, weight in ensemble.weights.items():
        trial = trials[name]
        balancing = trial.params[BALANCING]
        model = {k: v for k, v in chosen_model(families, trial.params).items() if k not in RESERVED}
        members.append(
            {
                "family": name,
                "balancing": balancing,
                "weight": round(weight, 6),
                "trial": trial.number + 1,
                "cv_mean": round(trial.mean, 6),
                "class_weight": balance[balancing].get("class_weight"),
                "model": model,
            }
        )
        estimators[name] = build_candidate(families, balance, task, trial.params)
    averaged = [
        sum(ensemble.weights[n] * predicted[n][i] for n in ensemble.weights)
        for i in range(len(folds))
    ]
    balancings = sorted({m["balancing"] for m in members})
    selection.rows_balancing = selection.balancing
    selection.family, selection.balancing = ENSEMBLE, "+".join(balancings)
    selection.members = members
    selection.estimator = voting_estimator(estimators, ensemble.weights, task)
    selection.oof = oof_frame(folds, averaged, y, classes)
    selection.scores = list(ensemble.scores)
    return selection


def family_scores(selection: Selection) -> dict[str, float]:
    """The best cross-validated score of each family searched (model=auto)."""
    best: dict[str, float] = {}
    sign = 1.0 if selection.metric.greater_is_better else -1.0
    for r in selection.results:
        if r.state != "complete":
            continue
        name = str(r.params.get(FAMILY, selection.family))
        if name not in best or sign * r.mean > sign * best[name]:
            best[name] = r.mean
    return {k: round(v, 6) for k, v in best.items()}


def choice_record(selection: Selection) -> dict[str, Any]:
    """data/select/choice.json: the model train fits (class weights from the balancing, or an
    ensemble's members with theirs), and its cross-validated score."""
    out: dict[str, Any] = {"family": selection.family, "balancing": selection.balancing}
    if selection.members:
        out["members"] = [
            {**m, "model": {k: plain(v) for k, v in m["model"].items()}} for m in selection.members
        ]
    else:
        out["model"] = {k: plain(v) for k, v in selection.model_cfg.items()}
    return {
        **out,
        "metric": selection.metric.name,
        "cv_mean": round(selection.cv_mean, 6),
        "cv_std": round(selection.cv_std, 6),
    }


def balancing_record(selection: Selection) -> dict[str, Any]:
    """data/select/balance.json: the balancing the balance stage applies. A file of its own,
    so a change of the model alone leaves the balance stage's dependencies as they were."""
    return {
        "balancing": selection.rows_balancing or selection.balancing,
        "balance": {k: plain(v) for k, v in selection.balance_cfg.items()},
    }


def estimator_from_choice(choice: dict, balancing: dict, task: str):
    """The chosen estimator, unfitted: one model with the chosen balancing's class weights,
    or the ensemble of the chosen members, each with its own."""
    if "members" in choice:
        members = {
            m["family"]: build_estimator(m["model"], {}, m["class_weight"], task)
            for m in choice["members"]
        }
        weights = {m["family"]: m["weight"] for m in choice["members"]}
        return voting_estimator(members, weights, task)
    return build_estimator(choice["model"], {}, balancing["balance"].get("class_weight"), task)


def selection_metrics(selection: Selection) -> dict[str, Any]:
    """The select stage's dvclive metrics: the choice, its CV mean and std, trial counts,
    (model=auto) the best score of each family, and an ensemble's weights."""
    metric, winner = selection.metric, selection.winner
    values: dict[str, Any] = {
        "family": selection.family,
        "balancing": selection.balancing,
        f"cv/{metric.name}_mean": round(selection.cv_mean, 6),
        f"cv/{metric.name}_std": round(selection.cv_std, 6),
        "cv/folds": len(winner.scores),
        "tune/trials": len(selection.results),
        "tune/best_trial": winner.number + 1,
    }
    families = family_scores(selection)
    if len(families) > 1:
        values.update({f"family_best/{name}": score for name, score in families.items()})
    values.update({f"ensemble/{m['family']}": m["weight"] for m in selection.members})
    return values


def training_metrics(model, X_train, y_train, task: str, choice: dict) -> dict[str, Any]:
    """The train stage's dvclive metrics: training score and rows, and the choice's CV score."""
    values: dict[str, Any] = {}
    if task == "binary":
        from sklearn.metrics import roc_auc_score

        auc = roc_auc_score(y_train, model.predict_proba(X_train)[:, 1])
        values["train/roc_auc"] = round(float(auc), 6)
    values["train/rows"] = int(len(X_train))
    return values


def trial_points(selection: Selection) -> list[dict]:
    """The trial plot's points: each trial's score and the best so far."""
    return trial_curve(selection.results, selection.metric.greater_is_better)


def best_params(selection: Selection) -> dict[str, Any]:
    """The tuned values only (as metrics they become columns of `dvc exp show`)."""
    tuned = {k: plain(v) for k, v in selection.winner.params.items()}
    return {"tune": selection.tune_cfg.method, "trial": selection.winner.number + 1, "tuned": tuned}


def selection_markdown(model, selection: Selection) -> str:
    """Every trial ranked, with the chosen model's full parameters (metrics/select/selection.md)."""
    metric, winner, results = selection.metric, selection.winner, selection.results
    better = "higher" if metric.greater_is_better else "lower"
    header = {
        "model": type(model).__name__ + (f" ({selection.family})" if selection.family else ""),
        "balancing": selection.balancing,
        "tune": selection.tune_cfg.method,
        "metric": f"{metric.name} ({better} is better), {len(winner.scores)} folds",
        "trials": len(results),
        "best single model": f"trial {winner.number + 1}: {winner.mean:.4f} ± {winner.std:.4f}",
    }
    if selection.members:
        header["ensemble"] = f"{selection.cv_mean:.4f} ± {selection.cv_std:.4f}: " + ", ".join(
            f"{m['family']} (trial {m['trial']}) {m['weight']:.2f}" for m in selection.members
        )
        chosen = {f"{m['family']}.weight": m["weight"] for m in selection.members}
        for m in selection.members:
            params = m["model"]
            chosen.update({f"{m['family']}.{k}": plain(v) for k, v in params.items()})
    else:
        chosen = {k: plain(v) for k, v in model.get_params(deep=False).items()}
    return selection_report(results, metric.greater_is_better, metric.name, header, chosen)
