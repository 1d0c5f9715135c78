"""fetch: load the configured source and write it unchanged as Parquet."""

from tabpipe import io, sources
from tabpipe.config import load_section
from tabpipe.errors import stage_main


@stage_main("fetch")
def main() -> None:
    data_cfg = load_section("data")
    info: dict = {}
    raw = sources.load(data_cfg, info)
    # Parquet needs text column names; a source may hand out integers (e.g. a header-less CSV)
    raw.columns = [str(c) for c in raw.columns]
    raw = sources.parquet_safe(raw)
    io.write_parquet(raw, io.RAW)
    io.write_json({"rows": int(len(raw)), "columns": int(raw.shape[1])}, io.FETCH_REPORT)
    print(f"fetch: {data_cfg.source}: {len(raw)} rows x {raw.shape[1]} columns -> {io.RAW}")
    if "sha256" in info and not data_cfg.sha256:
        print(f"fetch: content SHA-256 {info['sha256']} (pin it: -S data.sha256={info['sha256']})")


if __name__ == "__main__":
    main()
