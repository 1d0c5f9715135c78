"""balance: resample the training split only, with the balancing select chose
(data/select/balance.json: none and class weights pass the rows through); validation and test
are not read here."""

from tabpipe import io
from tabpipe.config import instantiate_checked, load_params, load_section
from tabpipe.core.balancing import resample
from tabpipe.core.scale import large_data_sampler
from tabpipe.errors import PipelineError, stage_main


@stage_main("balance")
def main() -> None:
    params = load_params()
    sampler_cfg = io.read_json(io.BALANCING)["balance"]
    scale_cfg = load_section("scale", params=params)
    columns = io.read_json(io.COLUMNS)
    train_path = io.split_path("train")
    train = io.read_parquet(train_path)
    features = columns["numeric"] + columns["categorical"]
    target, task = columns["target"], columns.get("task", "binary")
    if task == "regression":
        # there are no classes to balance: the training rows pass through unchanged
        io.write_parquet(train[features + [target]], io.BALANCED_TRAIN)
        note = "regression task: nothing to balance, training rows passed through unchanged"
        io.write_json(
            {"task": task, "resampler": "none", "rows": int(len(train)), "note": note},
            io.BALANCE_REPORT,
        )
        print(f"balance: {note}")
        return
    sampler = instantiate_checked("balance", sampler_cfg)  # None for balance=none
    sampler, note = large_data_sampler(sampler, len(train), scale_cfg.max_smote_rows)
    if note:
        print(f"balance: {note}")
    try:
        result = resample(train[features], train[target], sampler, columns["categorical"])
    except PipelineError as err:
        raise PipelineError(f"{train_path}: {err.message}", fix=err.fix) from None
    balanced = result.X.assign(**{target: result.y.to_numpy()})
    io.write_parquet(balanced, io.BALANCED_TRAIN)
    if note:  # absent below the threshold, so the default run's report stays as it was
        result.report["large_data"] = note
    io.write_json(result.report, io.BALANCE_REPORT)
    report = result.report
    if "note" in report:
        print(f"balance: {report['note']}")
    else:
        print(f"balance: {report['resampler']} {report['before']} -> {report['after']}")


if __name__ == "__main__":
    main()
