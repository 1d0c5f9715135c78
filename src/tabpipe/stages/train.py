"""train: cross-validate (and tune) the configured model, refit it, save ONE inference pipeline.

Cross-validation cuts folds on the unbalanced training split and resamples and featurizes inside
each fold with the balance and featurize settings (so train reads those params too). With
tune=grid|random|bayesian every trial is scored that way; the best parameters are refitted on
the whole training split as the balance and featurize stages prepared it.
"""

from functools import partial

from tabpipe import io
from tabpipe.config import instantiate_checked, load_params, load_section, load_target_section
from tabpipe.cv import CVObjective, main_metric, prepare_folds, splits
from tabpipe.errors import PipelineError, stage_main
from tabpipe.features import build_transformer
from tabpipe.models import fit_model, for_task, inference_pipeline
from tabpipe.scale import cv_sample_size, large_data_model, large_data_sampler, sample_rows
from tabpipe.tuning import (
    SEARCH_KEY,
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


def build_estimator(model_cfg: dict, params: dict, class_weight: str | None, task: str = "binary"):
    """The configured estimator for the task, with `params` (a trial's) and class weights."""
    estimator, _ = for_task(instantiate_checked("model", {**model_cfg, **params}), task)
    return with_class_weight(estimator, class_weight, task)


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


@stage_main("train")
def main() -> None:
    from threadpoolctl import threadpool_limits

    # One thread for OpenMP and BLAS: the model bytes of histogram gradient boosting depend
    # on the thread count (so on the machine) otherwise, and two queued experiments
    # (`dvc queue start -j 2`) would each start as many threads as there are cores.
    with threadpool_limits(limits=1):
        train()


def train() -> None:
    params = load_params()
    model_cfg = load_target_section("model", params=params)
    balance_cfg = load_target_section("balance", params=params)
    cv_cfg, tune_cfg = load_section("cv", params=params), load_section("tune", params=params)
    featurize_cfg = load_section("featurize", params=params)
    scale_cfg = load_section("scale", params=params)
    columns = io.read_json(io.COLUMNS)
    n_train = io.parquet_rows(io.split_path("train"))
    model_cfg, large_note = large_data_model(model_cfg, n_train, scale_cfg)
    if large_note:
        print(f"train: {large_note}")
    target, task = columns["target"], columns.get("task", "binary")
    metric = main_metric(cv_cfg.metric, task)
    check_backend(tune_cfg)  # an unreachable Ray cluster fails now, not after the folds
    tune_cfg, budget_note = trial_budget(tune_cfg, model_cfg)
    if budget_note:
        print(f"train: {budget_note}")
    class_weight = balance_cfg.get("class_weight")
    space = parse_space(model_cfg.get(SEARCH_KEY)) if tune_cfg.method != "none" else []
    estimator, note = for_task(instantiate_checked("model", model_cfg), task)
    configured = with_class_weight(estimator, class_weight, task)  # fails before any fold
    if note:  # a classifier's config on a regression task: its regressor stands in
        print(f"train: {note}")
    accepted = set(configured.get_params(deep=False))
    space, skipped = applicable_space(space, accepted, type(configured).__name__, bool(note))
    if skipped:
        print(f"train: not searched for the regressor: {', '.join(skipped)}")

    rows = io.read_parquet(io.split_path("train"))
    sample = cv_sample_size(len(rows), scale_cfg.cv_max_rows)
    if sample is not None:
        rows = sample_rows(rows, target, sample, cv_cfg.seed, stratify=task != "regression")
        print(
            f"train: {n_train:,} training rows > scale.cv_max_rows={scale_cfg.cv_max_rows:,}: "
            f"cross-validating on a {'stratified ' if task != 'regression' else ''}sample of "
            f"{sample:,} rows (the final model is fitted on all of them)"
        )
    X, y = rows[columns["numeric"] + columns["categorical"]], rows[target]
    sampler = None if task == "regression" else instantiate_checked("balance", balance_cfg)
    # the same switch as the balance stage, decided on the same count (the whole split)
    sampler, _ = large_data_sampler(sampler, n_train, scale_cfg.max_smote_rows)
    transformer = build_transformer(
        featurize_cfg,
        columns["numeric"],
        columns["categorical"],
        featurize_cfg.seed,
        task,
        columns.get("continuous"),
    )
    folds = prepare_folds(
        X, y, splits(cv_cfg, rows, y, task), sampler, transformer, columns["categorical"]
    )
    print(
        f"train: {len(folds)}-fold {cv_cfg.strategy} cross-validation of "
        f"{type(configured).__name__} on {len(rows)} rows ({metric.name}), tune={tune_cfg.method}"
    )
    build = partial(build_estimator, model_cfg, class_weight=class_weight, task=task)
    results = search(
        space,
        CVObjective(build, folds, metric),
        tune_cfg,
        metric.greater_is_better,
        metric.name,
    )
    winner = best_trial(results, metric.greater_is_better)
    estimator = build_estimator(model_cfg, winner.params, class_weight, task)
    print(
        f"train: cross-validated {metric.name} {winner.mean:.4f} ± {winner.std:.4f}; refitting"
        + (f" with {winner.params}" if winner.params else "")
        + " on the whole training split"
    )
    train = io.read_parquet(io.features_path("train"))
    X_train, y_train = train.drop(columns=[target]), train[target]
    model = fit_model(estimator, X_train, y_train)
    io.save_model(inference_pipeline(io.load_model(io.TRANSFORMER), model), io.MODEL)
    write_reports(model, X_train, y_train, task, metric, tune_cfg, results, winner)
    print(f"train: model saved to {io.MODEL}; selection report in {io.TRAIN_SELECTION}")


def write_reports(model, X_train, y_train, task, metric, tune_cfg, results, winner) -> None:
    """dvclive metrics (training score, CV mean and std), trial plot, selection report."""
    from dvclive import Live

    with Live(str(io.TRAIN_LIVE_DIR), dvcyaml=False, save_dvc_exp=False) as live:
        if task == "binary":
            from sklearn.metrics import roc_auc_score

            auc = roc_auc_score(y_train, model.predict_proba(X_train)[:, 1])
            live.log_metric("train/roc_auc", round(float(auc), 6), plot=False)
        live.log_metric("train/rows", int(len(X_train)), plot=False)
        live.log_metric(f"cv/{metric.name}_mean", round(winner.mean, 6), plot=False)
        live.log_metric(f"cv/{metric.name}_std", round(winner.std, 6), plot=False)
        live.log_metric("cv/folds", len(winner.scores), plot=False)
        live.log_metric("tune/trials", len(results), plot=False)
        live.log_metric("tune/best_trial", winner.number + 1, plot=False)
        live.log_plot(
            "trials",
            trial_curve(results, metric.greater_is_better),
            x="trial",
            y="score",
            template="linear",
            title=f"Cross-validated {metric.name} by trial (tune={tune_cfg.method})",
        )
    chosen = {k: plain(v) for k, v in model.get_params(deep=False).items()}
    # the tuned values only (the full parameters are in the selection report): as metrics,
    # they become columns of `dvc exp show`
    tuned = {k: plain(v) for k, v in winner.params.items()}
    io.write_json(
        {"tune": tune_cfg.method, "trial": winner.number + 1, "tuned": tuned},
        io.TRAIN_BEST_PARAMS,
    )
    better = "higher" if metric.greater_is_better else "lower"
    header = {
        "model": type(model).__name__,
        "tune": tune_cfg.method,
        "metric": f"{metric.name} ({better} is better), {len(winner.scores)} folds",
        "trials": len(results),
        "winner": f"trial {winner.number + 1}: {winner.mean:.4f} ± {winner.std:.4f}",
    }
    report = selection_report(results, metric.greater_is_better, metric.name, header, chosen)
    io.write_text(report, io.TRAIN_SELECTION)


if __name__ == "__main__":
    main()
