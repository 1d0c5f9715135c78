"""fetch: load the configured source and write it unchanged as Parquet."""

from tabpipe import io, sources
from tabpipe.config import load_section
from tabpipe.errors import stage_main


@stage_main("fetch")
def main() -> None:
    data_cfg = load_section("data")
    raw = sources.load(data_cfg)
    io.write_parquet(raw, io.RAW)
    io.write_json({"rows": int(len(raw)), "columns": int(raw.shape[1])}, io.FETCH_REPORT)
    print(f"fetch: {len(raw)} rows x {raw.shape[1]} columns -> {io.RAW}")


if __name__ == "__main__":
    main()
