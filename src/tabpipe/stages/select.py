"""select: cross-validate (and search) the candidates on the unbalanced training split; write
the choice that balance applies and train fits, and its out-of-fold predictions, on which
evaluate chooses the decision threshold.

With model=auto / balance=auto the search runs across model families and balancings
(tabpipe.core.auto), then weighs an ensemble of each family's best (tabpipe.core.ensemble),
kept where it beats the best single model; with a fixed model it cross-validates (or tunes)
that one. The choice is
data/select/choice.json (the model) and data/select/balance.json (the balancing);
metrics/select/ shows it in `dvc exp show`: the family, the balancing, the cross-validated
score and each family's best.

A search keeps its finished trials in .tabpipe/tuning/<key>.jsonl while it runs (the key is a
hash of the settings, the training rows and the code), so a killed run resumes from them. The
log is removed once the outputs are written: they, and DVC's run cache, hold the result, and a
rerun of a finished search never needs its trials again (so no log outlives its search).
"""

from tabpipe import io
from tabpipe.config import load_params, load_section, load_target_section
from tabpipe.core.training import (
    balancing_record,
    best_params,
    choice_record,
    select_model,
    selection_markdown,
    selection_metrics,
    trial_points,
)
from tabpipe.core.tuning import TrialLog, search_key
from tabpipe.errors import stage_main

SECTIONS = ("cv", "tune", "featurize", "scale")  # besides model and balance


@stage_main("select")
def main() -> None:
    from threadpoolctl import threadpool_limits

    # One thread for OpenMP and BLAS: fold scores (and so the choice) of histogram gradient
    # boosting depend on the thread count otherwise; queued experiments share the cores.
    with threadpool_limits(limits=1):
        select()


def select() -> None:
    params = load_params()
    cfg = {
        "model": load_target_section("model", params=params),
        "balance": load_target_section("balance", params=params),
        **{s: load_section(s, params=params) for s in SECTIONS},
    }
    columns = io.read_json(io.COLUMNS)
    n_train = io.parquet_rows(io.split_path("train"))
    key = search_key(
        {
            # params.yaml's sections as written (their schemas' defaults are code)
            "params": {s: params.get(s) for s in ("model", "balance", *SECTIONS)},
            "rows": io.file_digest(io.split_path("train")),
            "columns": io.file_digest(io.COLUMNS),
            "code": io.code_digest(),
        }
    )
    trial_log = TrialLog(key, str(io.tuning_log_path(key)), lambda: io.tuning_log_storage(key))
    selection = select_model(
        io.read_parquet(io.split_path("train")), columns, n_train, cfg, trial_log=trial_log
    )
    io.write_json(choice_record(selection), io.CHOICE)
    io.write_json(balancing_record(selection), io.BALANCING)
    io.write_parquet(selection.oof, io.OOF)

    from dvclive import Live

    with Live(str(io.SELECT_LIVE_DIR), dvcyaml=False, save_dvc_exp=False) as live:
        for name, value in selection_metrics(selection).items():
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
    io.write_json(best_params(selection), io.SELECT_BEST_PARAMS)
    io.write_text(selection_markdown(selection.estimator, selection), io.SELECT_SELECTION)
    io.remove_tuning_log(key)  # the outputs hold the search's result now
    print(
        f"select: chose {selection.family} with balancing {selection.balancing} "
        f"({io.CHOICE}; out-of-fold predictions in {io.OOF}); every trial in "
        f"{io.SELECT_SELECTION}"
    )


if __name__ == "__main__":
    main()
