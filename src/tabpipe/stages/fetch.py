"""fetch: load the configured source, append the labelled batches in data/incoming/, write it."""

from tabpipe import io, sources
from tabpipe.config import load_section
from tabpipe.errors import stage_main
from tabpipe.incoming import append_batches, batch_files


@stage_main("fetch")
def main() -> None:
    data_cfg = load_section("data")
    info: dict = {}
    raw = sources.load(data_cfg, info)
    # Parquet needs text column names; a source may hand out integers (e.g. a header-less CSV)
    raw.columns = [str(c) for c in raw.columns]
    batches = [(str(path), io.read_table(path)) for path in batch_files(io.INCOMING_DIR)]
    raw = sources.parquet_safe(append_batches(raw, batches))
    io.write_parquet(raw, io.RAW)
    report = {"rows": int(len(raw)), "columns": int(raw.shape[1])}
    if batches:  # absent with no batch, so the default run's report stays as it was
        report["incoming"] = {name: int(len(batch)) for name, batch in batches}
    io.write_json(report, io.FETCH_REPORT)
    added = f" (with {len(batches)} incoming batch(es))" if batches else ""
    print(f"fetch: {data_cfg.source}: {len(raw)} rows x {raw.shape[1]} columns{added} -> {io.RAW}")
    if "sha256" in info and not data_cfg.sha256:
        print(f"fetch: content SHA-256 {info['sha256']} (pin it: -S data.sha256={info['sha256']})")


if __name__ == "__main__":
    main()
