"""`tabpipe` command line: the commands behind the Makefile's targets."""

from __future__ import annotations

import argparse
import sys

from tabpipe.errors import PipelineError


def _config(args: argparse.Namespace) -> int:
    from tabpipe import conf_sync

    if args.action == "compose":
        conf_sync.compose(args.overrides)
        print(
            "params.yaml composed from conf/"
            + (f" with {args.overrides}" if args.overrides else "")
        )
    elif args.action == "check":
        changes = conf_sync.drift()
        if changes:
            raise PipelineError(
                f"params.yaml differs from conf/ at {conf_sync.describe(changes)}",
                fix="`make params` recomposes params.yaml from conf/; "
                "`make adopt` writes params.yaml's values into conf/",
            )
        print("params.yaml matches conf/")
    elif args.action == "sync":
        print(conf_sync.sync())
    elif args.action == "adopt":
        done = conf_sync.adopt()
        print(
            "conf/ updated: " + ", ".join(done) if done else "conf/ already composes to params.yaml"
        )
    return 0


def _metrics(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from tabpipe import io

    path = Path(io.EVALUATE_LIVE_DIR) / "metrics.json"
    if not path.exists():
        raise PipelineError(f"{path} does not exist", fix="run the pipeline: `make run`")
    values = json.loads(path.read_text(encoding="utf-8"))[args.split]
    width = max(len(k) for k in values)
    print(f"{'metric':<{width}}  {args.split}")
    for key, value in values.items():
        print(f"{key:<{width}}  {value:.4f}")
    return 0


# `tabpipe monitor` exit statuses, for schedulers (`make` turns every failure into 2: call
# `tabpipe monitor` directly when the status matters).
EXIT_OK, EXIT_ALERT, EXIT_ERROR, EXIT_TOO_SMALL = 0, 1, 2, 3


def _monitor(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tabpipe import io

    reference = Path(args.reference) if args.reference else io.split_path("train")
    out_dir = Path(args.out) if args.out else io.MONITOR_DIR
    try:
        from tabpipe.monitor_report import run_monitor
        from tabpipe.monitoring import BatchTooSmall

        report = run_monitor(Path(args.batch), reference, out_dir)
    except BatchTooSmall as err:
        print(f"no verdict: [monitor] {err}", file=sys.stderr)
        return EXIT_TOO_SMALL
    except PipelineError as err:
        print(f"error: [monitor] {err}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as err:  # never let a crash look like an alert (exit 1) to a scheduler
        print(f"error: [monitor] unexpected {type(err).__name__}: {err}", file=sys.stderr)
        return EXIT_ERROR
    rows = report["rows"]
    print(
        f"monitor: {report['status'].upper()} {report['batch']} ({rows['batch']} rows) vs "
        f"{report['reference']} ({rows['reference']} rows)"
    )
    for line in report["alerts"]:
        print(f"  alert: {line}")
    for line in report["warnings"]:
        print(f"  warning: {line}")
    perf = report.get("performance")
    if perf and "batch" in perf and perf.get("reference_test"):
        name = perf["metric"]
        print(
            f"  {name}: batch {perf['batch'][name]:.4f}, test split "
            f"{perf['reference_test'][name]:.4f}"
        )
    print(f"report: {report['paths']['html']} (and {report['paths']['json']})")
    return EXIT_ALERT if report["status"] == "alert" else EXIT_OK


def _simulate_batch(args: argparse.Namespace) -> int:
    from dataclasses import replace
    from pathlib import Path

    from omegaconf import OmegaConf

    from tabpipe import io
    from tabpipe.config import load_section
    from tabpipe.simulate import as_raw, simulate_batch

    cfg = OmegaConf.to_object(load_section("monitor").simulate)
    if args.rows is not None:
        cfg = replace(cfg, rows=args.rows)
    columns = io.read_json(io.COLUMNS) if io.COLUMNS.exists() else None
    if columns is None:
        raise PipelineError(f"{io.COLUMNS} does not exist", fix="run the pipeline: `make run`")
    test = io.read_parquet(io.split_path("test"))
    batch = simulate_batch(test, columns, args.kind, args.seed, cfg)
    raw_columns = list(io.read_parquet(io.RAW).columns) if io.RAW.exists() else list(batch)
    batch = as_raw(batch, columns, raw_columns)
    out = Path(args.out) if args.out else io.BATCHES_DIR / f"{args.kind}-seed{args.seed}.parquet"
    if out.suffix.lower() == ".csv":
        with io.atomic_path(out) as tmp:
            batch.to_csv(tmp, index=False)
    else:
        io.write_parquet(batch, out)
    print(f"simulate-batch: {args.kind}, {len(batch)} rows from {io.split_path('test')} -> {out}")
    return 0


def _retrain(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tabpipe.retrain import retrain

    try:
        outcome = retrain(Path(args.new))
    except PipelineError as err:
        print(f"error: [retrain] {err}", file=sys.stderr)
        return EXIT_ERROR
    if outcome.promoted:
        print(f"retrain: {outcome.reason} (experiment {outcome.experiment})")
        return EXIT_OK
    print(
        f"retrain: production kept: {outcome.reason}. The run stays as experiment "
        f"{outcome.experiment} (`dvc exp show`); the batch was not added"
    )
    return EXIT_ALERT


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tabpipe", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    config = sub.add_parser("config", help="keep conf/ and params.yaml equal")
    config.add_argument("action", choices=["compose", "check", "sync", "adopt"])
    config.add_argument(
        "overrides", nargs="*", help="Hydra overrides for compose, e.g. model.C=0.3"
    )
    config.set_defaults(func=_config)

    metrics = sub.add_parser("metrics", help="print the evaluate stage's metrics as a table")
    metrics.add_argument("--split", default="test", choices=["test", "val"])
    metrics.set_defaults(func=_metrics)

    monitor = sub.add_parser(
        "monitor",
        help="drift and performance of a new batch; exit 0 ok, 1 alert, 2 error, 3 too small",
    )
    monitor.add_argument(
        "--batch", required=True, help="CSV or Parquet file, or a directory (its newest file)"
    )
    monitor.add_argument("--reference", help="default: the training split data/split/train.parquet")
    monitor.add_argument("--out", help="report directory (default: reports/monitor)")
    monitor.set_defaults(func=_monitor)

    simulate = sub.add_parser(
        "simulate-batch", help="draw a production-like batch from the held-out test split"
    )
    simulate.add_argument(
        "--kind", required=True, choices=["unchanged", "shift", "category", "churn"]
    )
    simulate.add_argument("--seed", type=int, default=0)
    simulate.add_argument("--rows", type=int, help="default: monitor.simulate.rows")
    simulate.add_argument("--out", help="default: data/batches/<kind>-seed<seed>.parquet")
    simulate.set_defaults(func=_simulate_batch)

    retrain = sub.add_parser(
        "retrain",
        help="add a labelled batch, rerun as a DVC experiment, promote only through the gate; "
        "exit 0 promoted, 1 refused, 2 error",
    )
    retrain.add_argument("--new", required=True, help="labelled CSV or Parquet batch")
    retrain.set_defaults(func=_retrain)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except PipelineError as err:
        print(f"error: [{args.command}] {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
