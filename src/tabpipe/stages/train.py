"""train: fit the estimator select chose on the balanced, featurized training rows; save ONE
inference pipeline (the fitted feature transformer + the model) and the training metrics."""

from tabpipe import io
from tabpipe.core.models import fit_model, inference_pipeline
from tabpipe.core.training import estimator_from_choice, training_metrics
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
    columns = io.read_json(io.COLUMNS)
    task = columns.get("task", "binary")
    choice = io.read_json(io.CHOICE)
    estimator = estimator_from_choice(choice, io.read_json(io.BALANCING), task)
    train = io.read_parquet(io.features_path("train"))
    X_train, y_train = train.drop(columns=[columns["target"]]), train[columns["target"]]
    model = fit_model(estimator, X_train, y_train)
    io.save_model(inference_pipeline(io.load_model(io.TRANSFORMER), model), io.MODEL)

    from dvclive import Live

    with Live(str(io.TRAIN_LIVE_DIR), dvcyaml=False, save_dvc_exp=False) as live:
        for name, value in training_metrics(model, X_train, y_train, task, choice).items():
            live.log_metric(name, value, plot=False)
    print(
        f"train: {choice['family']} (balancing {choice['balancing']}) fitted on "
        f"{len(X_train)} rows; model saved to {io.MODEL}"
    )


if __name__ == "__main__":
    main()
