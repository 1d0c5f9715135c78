"""clean: tidy the raw table, decide the task, check the schema, decide column roles."""

from pathlib import Path

from tabpipe import io
from tabpipe.config import load_params, load_section, load_task
from tabpipe.core import validation
from tabpipe.core.cleaning import clean_table
from tabpipe.errors import PipelineError, stage_main


def schema_from_config(path: str | None) -> tuple[dict | None, str]:
    """The user's schema (data.schema) and how to name it in messages; None: infer one."""
    if not path:
        return None, "the schema inferred from this table"
    resolved = Path(path).resolve()
    if not resolved.is_relative_to(io.SCHEMAS_DIR.resolve()):
        # clean depends on the schemas/ directory: a file elsewhere could change unseen by DVC
        raise PipelineError(
            f"data.schema '{path}' is outside {io.SCHEMAS_DIR}/, where DVC watches for edits",
            fix=f"copy it into {io.SCHEMAS_DIR}/ and set "
            f"-S data.schema={io.SCHEMAS_DIR}/<name>.yaml",
        )
    return validation.load_schema(path), str(path)


@stage_main("clean")
def main() -> None:
    params = load_params()
    data_cfg = load_section("data", params=params)
    clean_cfg = load_section("clean", params=params)
    task = load_task(params=params)
    schema, origin = schema_from_config(data_cfg.schema)
    raw = io.read_parquet(io.RAW)
    try:
        result = clean_table(raw, data_cfg, clean_cfg, task, schema, origin)
    except validation.SchemaViolations as err:
        io.write_json(err.report, io.VALIDATION_REPORT)  # the full list, warnings too
        raise PipelineError(f"{io.RAW}: {err.message}", fix=err.fix) from None
    except PipelineError as err:
        raise PipelineError(f"{io.RAW}: {err.message}", fix=err.fix) from None
    io.write_parquet(result.frame, io.CLEAN)
    io.write_json(result.columns, io.COLUMNS)
    io.write_json(result.report, io.CLEAN_REPORT)
    io.write_json(result.validation, io.VALIDATION_REPORT)
    origin_note = f"{io.RAW}, {len(raw)} rows"
    io.write_text(validation.schema_to_yaml(result.schema, origin_note), io.INFERRED_SCHEMA)
    for note in result.notes:
        print(f"clean: {note}")
    print(f"clean: {result.report['rows_in']} -> {result.report['rows_out']} rows -> {io.CLEAN}")


if __name__ == "__main__":
    main()
