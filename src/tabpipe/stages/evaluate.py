"""evaluate: choose the threshold on validation, then score the test split once."""

from tabpipe import io
from tabpipe.config import load_section
from tabpipe.errors import stage_main
from tabpipe.metrics import binary_metrics, choose_threshold, permutation_importance_table
from tabpipe.models import positive_scores


@stage_main("evaluate")
def main() -> None:
    cfg = load_section("evaluate")
    columns = io.read_json(io.COLUMNS)
    target = columns["target"]
    pipeline = io.load_model(io.MODEL)

    val = io.read_parquet(io.split_path("val"))
    val_scores = positive_scores(pipeline, val.drop(columns=[target]))
    threshold = choose_threshold(val[target], val_scores, cfg.threshold_metric)

    test = io.read_parquet(io.split_path("test"))
    rows, y_test = test.drop(columns=[target]), test[target].to_numpy()
    scores = positive_scores(pipeline, rows)
    results = {
        "val": binary_metrics(val[target], val_scores, threshold),
        "test": binary_metrics(y_test, scores, threshold),
    }
    importance = permutation_importance_table(
        pipeline, rows, y_test, cfg.importance_repeats, cfg.seed
    )

    from dvclive import Live

    with Live(str(io.EVALUATE_LIVE_DIR), dvcyaml=False, save_dvc_exp=False) as live:
        for split, values in results.items():
            for name, value in values.items():
                live.log_metric(f"{split}/{name}", value, plot=False)
        live.log_sklearn_plot("roc", y_test, scores, name="roc", drop_intermediate=True)
        live.log_sklearn_plot(
            "precision_recall", y_test, scores, name="precision_recall", drop_intermediate=True
        )
        live.log_sklearn_plot(
            "confusion_matrix", y_test, (scores >= threshold).astype(int), name="confusion_matrix"
        )
        live.log_sklearn_plot("calibration", y_test, scores, name="calibration", n_bins=10)
        live.log_plot(
            "importance",
            importance,
            x="importance",
            y="feature",
            template="bar_horizontal",
            title="Permutation importance (drop in test ROC-AUC)",
        )
    test_metrics = results["test"]
    print("evaluate: test " + ", ".join(f"{k}={v:.4f}" for k, v in test_metrics.items()))


if __name__ == "__main__":
    main()
