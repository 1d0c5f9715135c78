"""evaluate: score the test split once (binary: the threshold chosen first, on the chosen
model's out-of-fold predictions from select's cross-validation).

Metrics go to metrics/evaluate/metrics.json under `cv` (the out-of-fold predictions) and
`test`; plots go to metrics/evaluate/plots/. What is computed is tabpipe.core.evaluation's;
this stage logs it.
"""

from tabpipe import io
from tabpipe.config import load_section
from tabpipe.core.evaluation import evaluate
from tabpipe.errors import stage_main


@stage_main("evaluate")
def main() -> None:
    cfg = load_section("evaluate")
    columns = io.read_json(io.COLUMNS)
    pipeline = io.load_model(io.MODEL)
    oof = io.read_parquet(io.OOF)
    test = io.read_parquet(io.split_path("test"))
    evaluation = evaluate(pipeline, oof, test, columns, cfg)
    for note in evaluation.notes:
        print(f"evaluate: {note}")

    from dvclive import Live

    with Live(str(io.EVALUATE_LIVE_DIR), dvcyaml=False, save_dvc_exp=False) as live:
        for name, value in evaluation.flat_metrics().items():
            live.log_metric(name, value, plot=False)
        for plot in evaluation.plots:
            if plot.kind == "custom":
                live.log_plot(plot.name, *plot.args, **plot.options)
            else:
                live.log_sklearn_plot(plot.kind, *plot.args, name=plot.name, **plot.options)
    shown = {k: v for k, v in evaluation.results["test"].items() if not isinstance(v, dict)}
    task = columns.get("task", "binary")
    print(f"evaluate: {task}: test " + ", ".join(f"{k}={v:.4f}" for k, v in shown.items()))


if __name__ == "__main__":
    main()
