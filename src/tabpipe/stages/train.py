"""train: fit the configured estimator and save ONE inference pipeline (features + model)."""

from tabpipe import io
from tabpipe.config import instantiate_checked, load_target_section
from tabpipe.errors import stage_main
from tabpipe.models import fit_model, for_task, inference_pipeline


def train_score(model, X, y, task: str) -> tuple[str, float]:
    """One training-set score to compare with the test score (overfitting shows as a gap)."""
    from sklearn import metrics

    if task == "regression":
        return "r2", metrics.r2_score(y, model.predict(X))
    if task == "multiclass":
        return "f1_macro", metrics.f1_score(y, model.predict(X), average="macro")
    return "roc_auc", metrics.roc_auc_score(y, model.predict_proba(X)[:, 1])


@stage_main("train")
def main() -> None:
    model_cfg = load_target_section("model")
    columns = io.read_json(io.COLUMNS)
    target, task = columns["target"], columns.get("task", "binary")
    estimator, note = for_task(instantiate_checked("model", model_cfg), task)
    if note:
        print(f"train: {note}")
    print(f"train: fitting {type(estimator).__name__} ({task})")
    train = io.read_parquet(io.features_path("train"))
    X, y = train.drop(columns=[target]), train[target]
    model = fit_model(estimator, X, y)
    io.save_model(inference_pipeline(io.load_model(io.TRANSFORMER), model), io.MODEL)

    from dvclive import Live

    name, value = train_score(model, X, y, task)
    with Live(str(io.TRAIN_LIVE_DIR), dvcyaml=False, save_dvc_exp=False) as live:
        live.log_metric(f"train/{name}", round(float(value), 6), plot=False)
        live.log_metric("train/rows", int(len(train)), plot=False)
    print(f"train: model saved to {io.MODEL}")


if __name__ == "__main__":
    main()
