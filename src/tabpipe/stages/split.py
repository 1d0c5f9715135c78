"""split: stratified train / validation / test split with a fixed seed."""

from tabpipe import io
from tabpipe.config import load_section
from tabpipe.errors import stage_main
from tabpipe.splitting import split_table


@stage_main("split")
def main() -> None:
    cfg = load_section("split")
    target = io.read_json(io.COLUMNS)["target"]
    parts = split_table(io.read_parquet(io.CLEAN), target, cfg.test_size, cfg.val_size, cfg.seed)
    report = {}
    for name, part in parts.items():
        io.write_parquet(part, io.split_path(name))
        report[name] = {
            "rows": int(len(part)),
            "positive_rate": round(float(part[target].mean()), 6),
        }
    io.write_json(report, io.SPLIT_REPORT)
    print("split: " + ", ".join(f"{k} {v['rows']}" for k, v in report.items()))


if __name__ == "__main__":
    main()
