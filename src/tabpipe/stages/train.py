"""train: fit the configured estimator and save ONE inference pipeline (features + model)."""

from tabpipe import io
from tabpipe.config import instantiate_checked, load_target_section
from tabpipe.errors import stage_main
from tabpipe.models import fit_model, inference_pipeline


@stage_main("train")
def main() -> None:
    model_cfg = load_target_section("model")
    target = io.read_json(io.COLUMNS)["target"]
    estimator = instantiate_checked("model", model_cfg)
    print(f"train: fitting {model_cfg['_target_']}")
    train = io.read_parquet(io.features_path("train"))
    model = fit_model(estimator, train.drop(columns=[target]), train[target])
    io.save_model(inference_pipeline(io.load_model(io.TRANSFORMER), model), io.MODEL)

    from dvclive import Live
    from sklearn.metrics import roc_auc_score

    scores = model.predict_proba(train.drop(columns=[target]))[:, 1]
    with Live(str(io.TRAIN_LIVE_DIR), dvcyaml=False, save_dvc_exp=False) as live:
        live.log_metric(
            "train/roc_auc", round(float(roc_auc_score(train[target], scores)), 6), plot=False
        )
        live.log_metric("train/rows", int(len(train)), plot=False)
    print(f"train: model saved to {io.MODEL}")


if __name__ == "__main__":
    main()
