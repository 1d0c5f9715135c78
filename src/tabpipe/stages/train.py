"""train: cross-validate (and tune) the configured model, refit it, save ONE inference pipeline.

The search is tabpipe.core.training's; this stage reads the config and the splits, calls it,
fits the winner on the balanced, featurized training rows and writes the model and reports.
"""

from tabpipe import io
from tabpipe.config import load_params, load_section, load_target_section
from tabpipe.core.models import fit_model, inference_pipeline
from tabpipe.core.training import (
    best_params,
    select_model,
    selection_markdown,
    training_metrics,
    trial_points,
)
from tabpipe.errors import stage_main


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
    cfg = {
        "model": load_target_section("model", params=params),
        "balance": load_target_section("balance", params=params),
        **{s: load_section(s, params=params) for s in ("cv", "tune", "featurize", "scale")},
    }
    columns = io.read_json(io.COLUMNS)
    n_train = io.parquet_rows(io.split_path("train"))
    selection = select_model(io.read_parquet(io.split_path("train")), columns, n_train, cfg)

    train = io.read_parquet(io.features_path("train"))
    X_train, y_train = train.drop(columns=[columns["target"]]), train[columns["target"]]
    model = fit_model(selection.estimator, X_train, y_train)
    io.save_model(inference_pipeline(io.load_model(io.TRANSFORMER), model), io.MODEL)

    from dvclive import Live

    with Live(str(io.TRAIN_LIVE_DIR), dvcyaml=False, save_dvc_exp=False) as live:
        task = columns.get("task", "binary")
        for name, value in training_metrics(model, X_train, y_train, task, selection).items():
            live.log_metric(name, value, plot=False)
        live.log_plot(
            "trials",
            trial_points(selection),
            x="trial",
            y="score",
            template="linear",
            title=f"Cross-validated {selection.metric.name} by trial "
            f"(tune={selection.tune_cfg.method})",
        )
    io.write_json(best_params(selection), io.TRAIN_BEST_PARAMS)
    io.write_text(selection_markdown(model, selection), io.TRAIN_SELECTION)
    print(f"train: model saved to {io.MODEL}; selection report in {io.TRAIN_SELECTION}")


if __name__ == "__main__":
    main()
