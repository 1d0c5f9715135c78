"""fetch: load the configured source, append the labelled batches in data/incoming/, write it."""

from tabpipe import io, sources
from tabpipe.config import load_section
from tabpipe.errors import stage_main
from tabpipe.incoming import append_batches, batch_files


@stage_main("fetch")
def main() -> None:
    data_cfg = load_section("data")
    raw = sources.load(data_cfg)
    batches = [(str(path), io.read_table(path)) for path in batch_files(io.INCOMING_DIR)]
    raw = append_batches(raw, batches)
    io.write_parquet(raw, io.RAW)
    report = {"rows": int(len(raw)), "columns": int(raw.shape[1])}
    if batches:  # absent with no batch, so the default run's report stays as it was
        report["incoming"] = {name: int(len(batch)) for name, batch in batches}
    io.write_json(report, io.FETCH_REPORT)
    added = f" (with {len(batches)} incoming batch(es))" if batches else ""
    print(f"fetch: {len(raw)} rows x {raw.shape[1]} columns{added} -> {io.RAW}")


if __name__ == "__main__":
    main()
