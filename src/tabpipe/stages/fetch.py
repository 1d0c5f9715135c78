"""fetch: load the configured source, append the labelled batches in data/incoming/, write it."""

from tabpipe import io
from tabpipe.config import load_section
from tabpipe.core import scale, sources
from tabpipe.core.incoming import append_batches, batch_files
from tabpipe.errors import stage_main


@stage_main("fetch")
def main() -> None:
    data_cfg = load_section("data")
    batch_paths = batch_files(io.INCOMING_DIR)
    if data_cfg.source == "synthetic" and not batch_paths:
        fetch_synthetic(data_cfg)
        return
    size = sources.parquet_size(data_cfg)
    if size is not None:  # a large Parquet file is refused before it is read
        scale.check_memory(*size, scale.available_bytes(), f"data.path '{data_cfg.path}'")
    info: dict = {}
    raw = sources.load(data_cfg, info)
    # Parquet needs text column names; a source may hand out integers (e.g. a header-less CSV)
    raw.columns = [str(c) for c in raw.columns]
    batches = [(str(path), io.read_table(path)) for path in batch_paths]
    raw = sources.parquet_safe(append_batches(raw, batches))
    io.write_parquet(raw, io.RAW)
    report = {"rows": int(len(raw)), "columns": int(raw.shape[1])}
    if batches:  # absent with no batch, so the default run's report stays as it was
        report["incoming"] = {name: int(len(batch)) for name, batch in batches}
    if "csv" in info:  # CSV sources only: the default run's report stays as it was
        report["csv"] = info["csv"].as_json()
    io.write_json(report, io.FETCH_REPORT)
    added = f" (with {len(batches)} incoming batch(es))" if batches else ""
    print(f"fetch: {data_cfg.source}: {len(raw)} rows x {raw.shape[1]} columns{added} -> {io.RAW}")
    if "csv" in info:
        print(f"fetch: CSV read with {info['csv'].describe()}; force with -S data.sep=...")
    if "sha256" in info and not data_cfg.sha256:
        print(f"fetch: content SHA-256 {info['sha256']} (pin it: -S data.sha256={info['sha256']})")


def fetch_synthetic(data_cfg) -> None:
    """Stream the generated table block by block into the output: no DataFrame of it all."""
    from tabpipe.core import synthetic

    spec = sources.synthetic_spec(data_cfg)
    synthetic.check(spec)
    columns = len(spec.columns())
    needed = scale.check_memory(
        spec.n_rows, columns, scale.available_bytes(), f"data.n_rows={spec.n_rows}"
    )
    rows = io.write_with(lambda tmp: synthetic.write(spec, tmp), io.RAW)
    io.write_json({"rows": rows, "columns": columns}, io.FETCH_REPORT)
    print(
        f"fetch: synthetic: {rows} rows x {columns} columns -> {io.RAW} "
        f"(estimated peak memory of the pipeline {scale.gib(needed)})"
    )


if __name__ == "__main__":
    main()
