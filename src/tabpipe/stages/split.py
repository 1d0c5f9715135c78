"""split: stratified train / test split with a fixed seed (no validation split: the select
stage's cross-validation does its job)."""

from tabpipe import io
from tabpipe.config import load_section
from tabpipe.core.splitting import split_table
from tabpipe.errors import stage_main


def describe(part, target: str, task: str) -> dict:
    """Rows and the target's make-up of one part, for metrics/split.json."""
    out: dict = {"rows": int(len(part))}
    if task == "binary":
        out["positive_rate"] = round(float(part[target].mean()), 6)
    elif task == "multiclass":
        shares = part[target].value_counts(normalize=True).sort_index()
        out["class_share"] = {str(k): round(float(v), 6) for k, v in shares.items()}
    else:
        out["target_mean"] = round(float(part[target].mean()), 6)
    return out


@stage_main("split")
def main() -> None:
    cfg = load_section("split")
    columns = io.read_json(io.COLUMNS)
    target, task = columns["target"], columns.get("task", "binary")
    parts = split_table(io.read_parquet(io.CLEAN), target, cfg.test_size, cfg.seed, task)
    report = {}
    for name, part in parts.items():
        io.write_parquet(part, io.split_path(name))
        report[name] = describe(part, target, task)
    io.write_json(report, io.SPLIT_REPORT)
    print("split: " + ", ".join(f"{k} {v['rows']}" for k, v in report.items()))


if __name__ == "__main__":
    main()
