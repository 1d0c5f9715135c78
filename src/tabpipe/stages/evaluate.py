"""evaluate: score the test split once (binary: threshold chosen on validation first).

Metrics go to metrics/evaluate/metrics.json under `val` and `test`; the keys depend on the
task (binary: roc_auc, pr_auc, ...; multiclass: f1_macro, roc_auc_ovr_macro, ...;
regression: mae, rmse, r2, mape). Plots go to metrics/evaluate/plots/.
"""

from tabpipe import io
from tabpipe.config import load_section
from tabpipe.errors import stage_main
from tabpipe.metrics import (
    binary_metrics,
    choose_threshold,
    multiclass_metrics,
    permutation_importance_table,
    regression_metrics,
    scorer_for,
)
from tabpipe.models import positive_scores
from tabpipe.scale import over, sample_rows


def _log(live, results: dict) -> None:
    for split, values in results.items():
        for name, value in values.items():
            if isinstance(value, dict):  # per-class metrics: test/per_class/<label>/<metric>
                for label, per in value.items():
                    for metric, number in per.items():
                        live.log_metric(f"{split}/{name}/{label}/{metric}", number, plot=False)
            else:
                live.log_metric(f"{split}/{name}", value, plot=False)


def _binary(pipeline, val, test, target, cfg, live) -> dict:
    val_scores = positive_scores(pipeline, val.drop(columns=[target]))
    threshold = choose_threshold(val[target], val_scores, cfg.threshold_metric)
    y_test = test[target].to_numpy()
    scores = positive_scores(pipeline, test.drop(columns=[target]))
    results = {
        "val": binary_metrics(val[target], val_scores, threshold),
        "test": binary_metrics(y_test, scores, threshold),
    }
    _log(live, results)
    live.log_sklearn_plot("roc", y_test, scores, name="roc", drop_intermediate=True)
    live.log_sklearn_plot(
        "precision_recall", y_test, scores, name="precision_recall", drop_intermediate=True
    )
    live.log_sklearn_plot(
        "confusion_matrix", y_test, (scores >= threshold).astype(int), name="confusion_matrix"
    )
    live.log_sklearn_plot("calibration", y_test, scores, name="calibration", n_bins=10)
    return results


def _multiclass(pipeline, val, test, target, live) -> dict:
    classes = list(pipeline.classes_)
    results = {}
    for split, frame in (("val", val), ("test", test)):
        proba = pipeline.predict_proba(frame.drop(columns=[target]))
        results[split] = multiclass_metrics(frame[target], proba, classes)
    _log(live, results)
    predicted = pipeline.predict(test.drop(columns=[target]))
    live.log_sklearn_plot(
        "confusion_matrix",
        test[target].astype(str).tolist(),
        [str(p) for p in predicted],
        name="confusion_matrix",
    )
    return results


def _regression(pipeline, val, test, target, live) -> dict:
    results = {}
    for split, frame in (("val", val), ("test", test)):
        results[split] = regression_metrics(
            frame[target], pipeline.predict(frame.drop(columns=[target]))
        )
    _log(live, results)
    actual = test[target].to_numpy(dtype="float64")
    predicted = pipeline.predict(test.drop(columns=[target]))
    points = sorted(zip(actual.tolist(), predicted.tolist(), strict=True))
    live.log_plot(
        "predicted_vs_actual",
        [{"actual": a, "predicted": round(p, 6)} for a, p in points],
        x="actual",
        y="predicted",
        template="scatter",
        title="Test: predicted against actual",
    )
    live.log_plot(
        "residuals",
        sorted(
            ({"predicted": round(p, 6), "residual": round(a - p, 6)} for a, p in points),
            key=lambda row: row["predicted"],
        ),
        x="predicted",
        y="residual",
        template="scatter",
        title="Test: residual (actual - predicted) against predicted",
    )
    return results


@stage_main("evaluate")
def main() -> None:
    cfg = load_section("evaluate")
    columns = io.read_json(io.COLUMNS)
    target, task = columns["target"], columns.get("task", "binary")
    pipeline = io.load_model(io.MODEL)
    val = io.read_parquet(io.split_path("val"))
    test = io.read_parquet(io.split_path("test"))

    from dvclive import Live

    with Live(str(io.EVALUATE_LIVE_DIR), dvcyaml=False, save_dvc_exp=False) as live:
        if task == "multiclass":
            results = _multiclass(pipeline, val, test, target, live)
        elif task == "regression":
            results = _regression(pipeline, val, test, target, live)
        else:
            results = _binary(pipeline, val, test, target, cfg, live)
        shuffled = test
        if over(len(test), cfg.importance_max_rows):  # each repeat predicts every row again
            shuffled = sample_rows(
                test, target, cfg.importance_max_rows, cfg.seed, task != "regression"
            )
            print(
                f"evaluate: {len(test):,} test rows > evaluate.importance_max_rows="
                f"{cfg.importance_max_rows:,}: permutation importance on a sample of that many "
                "(the metrics use every row)"
            )
        label, scorer = scorer_for(task, getattr(pipeline, "classes_", None))
        importance = permutation_importance_table(
            pipeline,
            shuffled[columns["numeric"] + columns["categorical"]],  # not the id columns
            shuffled[target].to_numpy(),
            cfg.importance_repeats,
            cfg.seed,
            scorer,
        )
        live.log_plot(
            "importance",
            importance,
            x="importance",
            y="feature",
            template="bar_horizontal",
            title=f"Permutation importance (drop in test {label})",
        )
    shown = {k: v for k, v in results["test"].items() if not isinstance(v, dict)}
    print(f"evaluate: {task}: test " + ", ".join(f"{k}={v:.4f}" for k, v in shown.items()))


if __name__ == "__main__":
    main()
