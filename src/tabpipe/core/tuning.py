"""Hyperparameter search scored by cross-validation: none, grid, random or Bayesian (TPE).

Each model's search space lives beside it, under the reserved key `_search_` of its file in
conf/model/ (never passed to the estimator), one line per hyperparameter:

    _search_:
      C: [float, 0.001, 100, log]         # a range, searched on a log scale
      num_leaves: [int, 4, 64, log]
      class_weight: [choice, null, balanced]

Every method runs through one Optuna study, so the trial history, the progress lines and the
selection report look the same for all of them: `grid` uses Optuna's GridSampler over
`tune.grid_points` values of each range, `random` its RandomSampler, `bayesian` its TPESampler.
All three are seeded (`tune.seed`) and, locally, run one trial at a time, so the same config
and `tune.n_trials` give the same trials and the same best parameters on every run;
`tune.timeout_s` stops by the clock instead, and then the number of trials may vary.

With `tune.backend=ray` the study asks for a batch of trials, their folds are fitted as Ray
tasks (`tabpipe.core.ray_backend`), and the scores are told back in trial order. Grid and random
trials do not depend on earlier scores: the trials and scores equal the local ones. TPE's do:
it asks `tune.ray_parallel` trials knowing only the batches before, so its trials depend on
that batch size (and equal the local ones for a batch of 1), but not on which task ends first.

Each trial is asked of a fresh sampler seeded from (`tune.seed`, the trial's number), not of one
sampler whose random state runs on from trial to trial: a trial then depends only on the seed,
its number and the trials before it. That is what lets a killed search resume (`TrialLog`):
the finished trials are replayed into a new study and the rest are asked exactly as an
uninterrupted search would have asked them.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tabpipe.errors import PipelineError

SEARCH_KEY = "_search_"
# the model's own trial budget for tune=random|bayesian when tune.n_trials is null: trials that
# take about a minute on the default data on 2 cores (README, "Tuning")
TRIALS_KEY = "_trials_"
METHODS = ("none", "grid", "random", "bayesian")
BACKENDS = ("local", "ray")
KINDS = ("float", "int", "choice")


@dataclass
class Param:
    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: list = field(default_factory=list)


def trial_budget(tune_cfg, model_cfg: dict) -> tuple[Any, str | None]:
    """`tune` with n_trials filled from the model's `_trials_` where the search needs a budget.

    Only random and bayesian searches without tune.n_trials and tune.timeout_s take it (a grid
    without n_trials is the whole grid). Returns the config and a line saying so, or None.
    """
    from omegaconf import OmegaConf

    budgeted = tune_cfg.n_trials is not None or tune_cfg.timeout_s is not None
    if tune_cfg.method not in ("random", "bayesian") or budgeted:
        return tune_cfg, None
    trials = model_cfg.get(TRIALS_KEY)
    if trials is None:
        raise PipelineError(
            f"params.yaml: tune.method={tune_cfg.method} needs tune.n_trials or tune.timeout_s "
            f"(the model has no {TRIALS_KEY} budget)",
            fix="e.g. -S tune.n_trials=40",
        )
    if not isinstance(trials, int) or isinstance(trials, bool) or trials < 1:
        raise PipelineError(
            f"params.yaml: model.{TRIALS_KEY} is {trials!r}; it must be a whole number >= 1",
            fix=f"e.g. {TRIALS_KEY}: 100 in the model's file in conf/model/",
        )
    filled = OmegaConf.merge(tune_cfg, {"n_trials": trials})
    return (
        filled,
        f"tune.n_trials is null: the model's budget, {trials} trials (model.{TRIALS_KEY})",
    )


def applicable_space(
    space: list[Param], accepted: set[str], estimator: str, stand_in: bool
) -> tuple[list[Param], list[str]]:
    """The search space checked against the parameters the estimator takes.

    With `stand_in` (a classifier's config on a regression task, so its regressor is used) the
    parameters the regressor lacks are dropped and returned; if none is left, the search
    fails. Otherwise a parameter the estimator lacks fails, named.
    """
    skipped = [p.name for p in space if p.name not in accepted]
    if skipped and not stand_in:
        name = skipped[0]
        raise PipelineError(
            f"params.yaml: model.{SEARCH_KEY}.{name}: {estimator} has no parameter '{name}'",
            fix=f"search some of: {', '.join(sorted(accepted))}",
        )
    kept = [p for p in space if p.name in accepted]
    if space and not kept:
        raise PipelineError(
            f"params.yaml: model.{SEARCH_KEY}: none of {', '.join(skipped)} applies to "
            f"{estimator}, the regressor that stands in for this classifier on a regression task",
            fix="tune a regression model of the zoo, e.g. -S model=ridge, "
            "hist_gradient_boosting_regressor or catboost_regressor",
        )
    return kept, skipped


def parse_space(spec: dict | None, section: str = "model") -> list[Param]:
    """The search space of `<section>._search_`, checked: a bad line fails with its key named."""
    out = []
    for name, entry in (spec or {}).items():
        key = f"{section}.{SEARCH_KEY}.{name}"
        example = "[float, 0.001, 100, log], [int, 2, 64] or [choice, a, b]"
        if not isinstance(entry, list | tuple) or not entry or entry[0] not in KINDS:
            raise PipelineError(f"params.yaml: {key} is {entry!r}", fix=f"write it as {example}")
        kind, rest = entry[0], list(entry[1:])
        if kind == "choice":
            if not rest:
                raise PipelineError(f"params.yaml: {key} has no choices", fix=example)
            out.append(Param(name, kind, choices=rest))
            continue
        log = len(rest) == 3 and rest[2] == "log"
        numbers = rest[:2]
        ok = len(rest) in (2, 3) and (len(rest) == 2 or log)
        ok = ok and all(isinstance(v, int | float) and not isinstance(v, bool) for v in numbers)
        if not ok or numbers[0] >= numbers[1] or (log and numbers[0] <= 0):
            raise PipelineError(
                f"params.yaml: {key} is {entry!r}: a range needs low < high (and low > 0 for log)",
                fix=f"write it as {example}",
            )
        if kind == "int" and not all(float(v).is_integer() for v in numbers):
            raise PipelineError(f"params.yaml: {key}: an int range needs whole numbers")
        low, high = (int(v) for v in numbers) if kind == "int" else (float(v) for v in numbers)
        out.append(Param(name, kind, low, high, log))
    return out


def grid_values(space: list[Param], points: int) -> dict[str, list]:
    """`points` values per range (evenly spaced, or geometrically for log), every choice."""
    grid = {}
    for p in space:
        if p.kind == "choice":
            grid[p.name] = list(p.choices)
            continue
        if p.log:
            values = np.geomspace(p.low, p.high, points)
        else:
            values = np.linspace(p.low, p.high, points)
        if p.kind == "int":
            grid[p.name] = sorted({int(round(v)) for v in values})
        else:
            grid[p.name] = [float(f"{v:.6g}") for v in values]
    return grid


def suggest(trial, space: list[Param]) -> dict[str, Any]:
    params = {}
    for p in space:
        if p.kind == "choice":
            params[p.name] = trial.suggest_categorical(p.name, p.choices)
        elif p.kind == "int":
            params[p.name] = trial.suggest_int(p.name, p.low, p.high, log=p.log)
        else:
            params[p.name] = trial.suggest_float(p.name, p.low, p.high, log=p.log)
    return params


@dataclass
class TrialResult:
    number: int
    params: dict[str, Any]
    mean: float | None
    std: float | None
    scores: list[float]
    state: str  # complete or failed
    error: str = ""


def plain(value: Any) -> Any:
    """Numbers as plain Python (YAML/JSON-friendly), floats rounded for the report."""
    if isinstance(value, bool | str) or value is None:
        return value
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(f"{float(value):.6g}")
    return value


@dataclass
class TrialLog:
    """Where a search keeps its finished trials, so that a killed search resumes from them.

    `open()` returns the Optuna storage that holds them (the select stage passes
    `tabpipe.io.tuning_log_storage`: an append-only journal file under .tabpipe/tuning/),
    `name` is the study's name in it, the search's key (`search_key`: a log is only ever read
    by the search it was written by), and `where` is shown in the resume line.
    """

    name: str
    where: str
    open: Callable[[], Any]


def search_key(parts: dict[str, Any]) -> str:
    """A short hash of everything that decides a search's trials and their scores.

    `parts` holds plain data: the config sections, digests of the rows and of the code. Keys
    are sorted, so the same settings give the same key whatever order they were written in.
    """
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def trial_seed(seed: int | None, number: int) -> int | None:
    """The sampler seed of trial `number`: a function of the search's seed and the number only,
    so a trial asked after a resume draws what it drew in an uninterrupted search."""
    if seed is None:
        return None
    digest = hashlib.sha256(f"tabpipe-trial:{seed}:{number}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def search(
    space: list[Param],
    evaluate: Callable[[dict[str, Any]], list[float]],
    cfg,
    greater_is_better: bool,
    metric_name: str = "score",
    log: Callable[[str], None] = print,
    trial_log: TrialLog | None = None,
) -> list[TrialResult]:
    """Run the configured search; `evaluate(params)` returns the fold scores of one trial.

    `tune.method=none` is one trial with the configured parameters. A trial whose parameters
    the estimator rejects is recorded as failed and the search goes on. With
    `tune.backend=ray`, `evaluate` must be a `tabpipe.core.cv.CVObjective`: its (trial, fold) fits
    run as Ray tasks (`tabpipe.core.ray_backend`), and the trials and scores are those of the local
    search, except for bayesian, whose trials depend on `tune.ray_parallel` (README).

    With `trial_log`, every finished trial is written to it and a search that was killed
    resumes from the trials it finished: they are replayed, not asked again (`_optuna_search`).
    """
    if cfg.method not in METHODS:
        raise PipelineError(
            f"params.yaml: unknown tune.method '{cfg.method}'",
            fix=f"pick one of the files in conf/tune/: -S tune=<{'|'.join(METHODS)}>",
        )
    check_backend(cfg)
    if cfg.method != "none" and not space:
        raise PipelineError(
            f"params.yaml: tune.method={cfg.method} but the model has no {SEARCH_KEY} section",
            fix=f"add a search space under {SEARCH_KEY} to the model's file in conf/model/ "
            "(see README, Tuning), or use -S tune=none",
        )
    if cfg.backend == "local":
        if cfg.method == "none":
            scores = evaluate({})
            return [
                TrialResult(
                    0, {}, float(np.mean(scores)), float(np.std(scores)), scores, "complete"
                )
            ]
        return _optuna_search(
            space, local_scorer(evaluate), 1, cfg, greater_is_better, metric_name, log, trial_log
        )

    from tabpipe.core.ray_backend import RayScorer, session

    scorer = RayScorer(evaluate)
    with session(cfg.ray_address):
        if cfg.method == "none":
            (outcome,) = scorer([{}])
            if isinstance(outcome, str):
                raise PipelineError(f"tune: the configured model failed on Ray ({outcome})")
            mean, std = float(np.mean(outcome)), float(np.std(outcome))
            results = [TrialResult(0, {}, mean, std, outcome, "complete")]
        else:
            # grid and random: no trial depends on another's score, so all go at once;
            # bayesian: batches of ray_parallel, each asked knowing the batches before it
            batch = cfg.ray_parallel if cfg.method == "bayesian" or cfg.timeout_s else None
            results = _optuna_search(
                space, scorer, batch, cfg, greater_is_better, metric_name, log, trial_log
            )
    log(f"tune: {scorer.tasks} Ray tasks ran on {len(scorer.nodes)} node(s)")
    return results


def check_backend(cfg) -> None:
    """Fail before any work on a bad `tune.backend` setting or a Ray address nobody answers at.

    The train stage calls this before it prepares the folds, so a typo in the address costs
    seconds, not the folds' resampling and featurizing.
    """
    if cfg.backend not in BACKENDS:
        raise PipelineError(
            f"params.yaml: unknown tune.backend '{cfg.backend}'",
            fix=f"use -S tune.backend=<{'|'.join(BACKENDS)}>",
        )
    if cfg.backend != "ray":
        return
    if cfg.ray_parallel < 1:
        raise PipelineError(
            f"params.yaml: tune.ray_parallel={cfg.ray_parallel}, but a batch needs a trial",
            fix="use -S tune.ray_parallel=4 (or more: about the cluster's CPUs / cv.folds)",
        )
    if cfg.ray_address is not None:
        from tabpipe.core.ray_backend import check_reachable

        check_reachable(cfg.ray_address)


Outcome = list[float] | str  # a trial's fold scores, or why it failed


def local_scorer(
    evaluate: Callable[[dict[str, Any]], list[float]],
) -> Callable[[list[dict[str, Any]]], list[Outcome]]:
    """Score trials one after another in this process."""

    def score(trials: list[dict[str, Any]]) -> list[Outcome]:
        out: list[Outcome] = []
        for params in trials:
            try:
                out.append([float(s) for s in evaluate(params)])
            except (ValueError, PipelineError) as err:  # parameters the estimator rejects
                out.append(str(err).splitlines()[0][:200])
        return out

    return score


def _optuna_search(
    space: list[Param],
    score: Callable[[list[dict[str, Any]]], list[Outcome]],
    batch: int | None,
    cfg,
    greater_is_better: bool,
    metric_name: str,
    log: Callable[[str], None],
    trial_log: TrialLog | None = None,
) -> list[TrialResult]:
    """Ask Optuna for `batch` trials (None: all that remain), score them, tell in order.

    Telling in trial order keeps the study's history, and so the next batch, independent of
    which trial finished first. With `trial_log`, the trials of each batch are written to it once
    told; a search that finds trials of its own in it replays them first (`_resume`).
    """
    import optuna
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    n_trials, timeout = cfg.n_trials, cfg.timeout_s
    conditional = not isinstance(space, list)  # tabpipe.core.auto.ConditionalSpace
    if conditional:
        draw = space.suggest
    else:
        flat = space

        def draw(trial):
            return suggest(trial, flat)

    if cfg.method == "grid" and conditional:
        raise PipelineError(
            "params.yaml: tune.method=grid cannot search model=auto / balance=auto",
            fix="use -S tune=bayesian (or tune=random), or pick one model and balancing",
        )
    if cfg.method == "grid":
        grid = grid_values(space, cfg.grid_points)
        size = math.prod(len(v) for v in grid.values())
        n_trials = size if n_trials is None else min(n_trials, size)

        class Grid(optuna.samplers.GridSampler):
            # GridSampler calls Study.stop() once the grid is used up, which Optuna allows
            # only inside study.optimize(); the loop below stops at the grid's size itself
            def after_trial(self, study, trial, state, values) -> None:
                pass

        def sampler_for(number: int):
            # the search's own seed for every trial: it shuffles the grid, and trial n takes
            # the n-th point of the shuffled grid (a grid id means the same point in each)
            return Grid(grid, seed=cfg.seed)

        space = [Param(p.name, "choice", choices=grid[p.name]) for p in space]
    elif cfg.method == "random":

        def sampler_for(number: int):
            return optuna.samplers.RandomSampler(seed=trial_seed(cfg.seed, number))
    else:
        import warnings

        def sampler_for(number: int):
            with warnings.catch_warnings():  # `group` (for the conditional space) is experimental
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.samplers.TPESampler(
                    seed=trial_seed(cfg.seed, number),
                    n_startup_trials=cfg.n_startup_trials,
                    multivariate=True,
                    **({"group": True} if conditional else {}),
                )

    if n_trials is None and timeout is None:
        raise PipelineError(
            f"params.yaml: tune.method={cfg.method} needs tune.n_trials or tune.timeout_s",
            fix="e.g. -S tune.n_trials=40",
        )

    direction = "maximize" if greater_is_better else "minimize"
    study = optuna.create_study(direction=direction, sampler=sampler_for(0))
    # a search stopped by the clock alone runs other trials every time: nothing to resume to
    # (with n_trials as well, it resumes, and the clock counts this run's time only)
    journal = None if trial_log is None or n_trials is None else _open_log(trial_log, direction)
    asked = 0 if journal is None else _resume(journal, study, batch, n_trials)
    logged = 0 if journal is None else len(journal.trials)
    warm = space.warm if conditional else []
    for point in warm[asked:]:
        study.enqueue_trial(point)  # warm starts: scored first, in order (not again on a resume)
    total = "?" if n_trials is None else str(n_trials)
    if asked:
        log(
            f"select: resuming the search: {asked} of {total} trials finished earlier "
            f"({trial_log.where})"
        )
    started = time.perf_counter()
    while (n_trials is None or asked < n_trials) and (
        timeout is None or time.perf_counter() - started < timeout
    ):
        size = (n_trials - asked) if batch is None else batch
        if n_trials is not None:
            size = min(size, n_trials - asked)
        trials, drawn = [], []
        for number in range(asked, asked + size):
            # the trial draws its values from the study's sampler as it suggests them: its own,
            # until the next trial is asked
            study.sampler = sampler_for(number)
            trials.append(study.ask())
            # trial numbers follow the asks (warm starts were enqueued in that order)
            assert trials[-1].number == number, (trials[-1].number, number)
            drawn.append(draw(trials[-1]))
        asked += size
        outcomes = score(drawn)
        told = []
        for trial, outcome in zip(trials, outcomes, strict=True):
            if isinstance(outcome, str):
                trial.set_user_attr("error", outcome)
                frozen = study.tell(trial, state=TrialState.PRUNED)
            else:
                trial.set_user_attr("scores", outcome)
                frozen = study.tell(trial, float(np.mean(outcome)))
            told.append(frozen)
            elapsed = time.perf_counter() - started
            if frozen.value is None:
                line = f"failed: {frozen.user_attrs.get('error', frozen.state.name)}"
            else:
                best = study.best_trial
                line = (
                    f"{metric_name} {frozen.value:.4f} ± {np.std(outcome):.4f}  "
                    f"best {best.value:.4f} (trial {best.number})"
                )
            shown = {k: plain(v) for k, v in frozen.params.items()}
            log(f"tune: trial {frozen.number + 1}/{total} [{elapsed:5.1f}s] {line}  {shown}")
        if journal is not None:
            # a whole batch at a time (what a resume replays); a trial the log already holds
            # (after a resume that re-ran part of a batch on Ray) is not written twice
            for frozen in told:
                if frozen.number >= logged:
                    journal.add_trial(frozen)
                    logged += 1

    results = []
    for trial in study.trials:
        scores = trial.user_attrs.get("scores", [])
        done = trial.value is not None
        results.append(
            TrialResult(
                trial.number,
                trial_params(trial, space, conditional),
                float(np.mean(scores)) if done else None,
                float(np.std(scores)) if done else None,
                scores,
                "complete" if done else "failed",
                trial.user_attrs.get("error", ""),
            )
        )
    if not any(r.state == "complete" for r in results):
        first = next((r.error for r in results if r.error), "no trial finished")
        raise PipelineError(
            f"tune: every trial failed ({first})",
            fix="check model._search_ against the estimator's parameters, or raise tune.timeout_s",
        )
    return results


def _open_log(trial_log: TrialLog, direction: str):
    """The study in `trial_log` that holds this search's finished trials (empty when new)."""
    import optuna

    return optuna.create_study(
        storage=trial_log.open(),
        study_name=trial_log.name,
        direction=direction,
        load_if_exists=True,
    )


def _resume(journal, study, batch: int | None, n_trials: int) -> int:
    """Replay the trials `journal` holds into `study`, the fresh one; how many it replayed.

    They were written in trial order, so they are trials 0, 1, ... Replayed whole (params,
    distributions, scores, the sampler's own attributes such as a grid point's id), they give
    the sampler the history it had when it asked the next trial. On Ray, TPE asks a batch
    knowing only the batches before it: a batch cut short is dropped and asked again whole.
    Grid and random trials do not depend on the history, so any finished prefix replays.
    """
    done = [t for t in journal.trials if t.state.is_finished()]
    keep = min(len(done), n_trials)
    if batch is not None and batch > 1:
        keep -= keep % batch
    for trial in done[:keep]:
        study.add_trial(trial)
    return keep


def trial_params(trial, space, conditional: bool) -> dict[str, Any]:
    """A trial's values: the space's, in its order (conditional: the family, the balancing,
    then what that family's space drew, with a fixed family or balancing filled in)."""
    if not conditional:
        return {k: trial.params[k] for k in (p.name for p in space) if k in trial.params}
    from tabpipe.core.auto import BALANCING, FAMILY

    fixed = {FAMILY: next(iter(space.families)), BALANCING: space.balancings[0]}
    head = {k: trial.params.get(k, fixed[k]) for k in (FAMILY, BALANCING)}
    return {**head, **{k: v for k, v in trial.params.items() if k not in head}}


def best_trial(results: list[TrialResult], greater_is_better: bool) -> TrialResult:
    """The best completed trial; the earliest one among equals (as Optuna picks)."""
    done = [r for r in results if r.state == "complete"]
    sign = 1.0 if greater_is_better else -1.0
    return max(done, key=lambda r: (sign * r.mean, -r.number))


def ranked(results: list[TrialResult], greater_is_better: bool) -> list[TrialResult]:
    sign = -1.0 if greater_is_better else 1.0
    done = sorted(
        (r for r in results if r.state == "complete"), key=lambda r: (sign * r.mean, r.number)
    )
    return done + [r for r in results if r.state != "complete"]


def trial_curve(results: list[TrialResult], greater_is_better: bool) -> list[dict[str, Any]]:
    """Score by trial and the best so far: the rows of the trial-history plot."""
    rows, best = [], None
    for r in results:
        if r.state != "complete":
            continue
        if best is None or (r.mean > best if greater_is_better else r.mean < best):
            best = r.mean
        rows.append({"trial": r.number + 1, "score": round(r.mean, 6), "best": round(best, 6)})
    return rows


def selection_report(
    results: list[TrialResult],
    greater_is_better: bool,
    metric_name: str,
    header: dict[str, Any],
    winner_params: dict[str, Any],
) -> str:
    """A Markdown table ranking every trial, with the winner's full parameters above it."""
    lines = ["# Model selection", ""]
    lines += [f"- {key}: {value}" for key, value in header.items()]
    lines += ["", "## Winner's parameters (refitted on the whole training split)", ""]
    lines += ["| parameter | value |", "|---|---|"]
    lines += [f"| {k} | {plain(v)} |" for k, v in winner_params.items()]
    # the family and the balancing of a model=auto search first, then the rest by name
    head = ("family", "balancing")
    names = sorted(
        {k for r in results for k in r.params},
        key=lambda n: (head.index(n) if n in head else len(head), n),
    )
    lines += ["", f"## Trials, best first ({metric_name}, mean ± std over the folds)", ""]
    lines.append("| rank | trial | " + f"{metric_name} | std | " + " | ".join(names) + " |")
    lines.append("|" + "---|" * (4 + len(names)))
    for rank, r in enumerate(ranked(results, greater_is_better), start=1):
        score = "failed" if r.mean is None else f"{r.mean:.4f}"
        std = "" if r.std is None else f"{r.std:.4f}"
        cells = [str(plain(r.params.get(n, ""))) for n in names]
        shown_rank = str(rank) if r.mean is not None else "-"
        lines.append(
            f"| {shown_rank} | {r.number + 1} | {score} | {std} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines) + "\n"
