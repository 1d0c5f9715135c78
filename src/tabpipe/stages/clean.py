"""clean: tidy the raw table, decide column roles, report what changed."""

from tabpipe import io
from tabpipe.cleaning import clean_table
from tabpipe.config import load_params, load_section
from tabpipe.errors import PipelineError, stage_main


@stage_main("clean")
def main() -> None:
    params = load_params()
    data_cfg = load_section("data", params=params)
    clean_cfg = load_section("clean", params=params)
    raw = io.read_parquet(io.RAW)
    try:
        result = clean_table(raw, data_cfg, clean_cfg)
    except PipelineError as err:
        raise PipelineError(f"{io.RAW}: {err.message}", fix=err.fix) from None
    io.write_parquet(result.frame, io.CLEAN)
    io.write_json(result.columns, io.COLUMNS)
    io.write_json(result.report, io.CLEAN_REPORT)
    print(f"clean: {result.report['rows_in']} -> {result.report['rows_out']} rows -> {io.CLEAN}")


if __name__ == "__main__":
    main()
