"""`tabpipe` command line: the commands behind the Makefile's targets."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tabpipe.errors import PipelineError


def _config(args: argparse.Namespace) -> int:
    from tabpipe import conf_sync

    if args.action == "compose":
        conf_sync.compose(args.overrides)
        print("params.yaml composed from conf/" + (f" with {args.overrides}" if args.overrides else ""))
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
        print("conf/ updated: " + ", ".join(done) if done else "conf/ already composes to params.yaml")
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


def _promote(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tabpipe import io, registry
    from tabpipe.model_card import write_card

    version = registry.promote(Path("."))
    if not args.no_onnx:
        _export_onnx(args)
    print(f"model card: {write_card()}")
    print(f"promoted {version}: `gto show` lists it; `make serve` serves {io.MODEL}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from tabpipe import predict

    summary = predict.predict_file(
        args.input, args.output, chunk_rows=args.chunk_rows, progress=not args.no_progress
    )
    print(predict.describe(summary))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from tabpipe import serve

    serve.run(args.host, args.port, args.log_level, max_body_bytes=args.max_body_bytes)
    return 0


def _export_onnx(args: argparse.Namespace) -> int:
    from tabpipe import io, onnx_export, predict

    scorer = predict.load_scorer()
    test = io.split_path("test")
    rows = None
    if test.exists():
        rows = predict.prepare(io.read_parquet(test), scorer.schema).rows
    try:
        path, gap = onnx_export.export(scorer, io.MODEL_ONNX, check_rows=rows)
    except PipelineError as err:
        if getattr(args, "command", None) == "promote":  # promotion stands without ONNX
            print(f"onnx: not exported: {err}")
            return 0
        raise
    checked = ""
    if rows is not None:
        checked = f"; max |ONNX - scikit-learn| on {len(rows)} test rows: {gap:.1e}"
    print(f"onnx: {path}{checked}")
    return 0


def _model_card(args: argparse.Namespace) -> int:
    from tabpipe.model_card import write_card

    print(f"model card: {write_card()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tabpipe", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    config = sub.add_parser("config", help="keep conf/ and params.yaml equal")
    config.add_argument("action", choices=["compose", "check", "sync", "adopt"])
    config.add_argument("overrides", nargs="*", help="Hydra overrides for compose, e.g. model.C=0.3")
    config.set_defaults(func=_config)

    metrics = sub.add_parser("metrics", help="print the evaluate stage's metrics as a table")
    metrics.add_argument("--split", default="test", choices=["test", "val"])
    metrics.set_defaults(func=_metrics)

    promote = sub.add_parser(
        "promote", help="quality gate, then register the model and assign it to prod (GTO)"
    )
    promote.add_argument("--no-onnx", action="store_true", help="skip the ONNX export")
    promote.set_defaults(func=_promote)

    predict = sub.add_parser("predict", help="score a CSV or Parquet file of raw rows")
    predict.add_argument("input", type=Path, help="rows to score (.csv or .parquet)")
    predict.add_argument("output", type=Path, help="where to write the scores (.csv or .parquet)")
    predict.add_argument("--chunk-rows", type=int, default=50_000, help="rows scored at a time")
    predict.add_argument("--no-progress", action="store_true", help="no progress bar")
    predict.set_defaults(func=_predict)

    serve = sub.add_parser("serve", help="serve the model over HTTP (FastAPI + uvicorn)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--log-level", default="info")
    serve.add_argument("--max-body-bytes", type=int, default=4 * 2**20)
    serve.set_defaults(func=_serve)

    onnx = sub.add_parser("export-onnx", help="write models/model.onnx (checked on the test split)")
    onnx.set_defaults(func=_export_onnx)

    card = sub.add_parser("model-card", help="write models/model_card.md beside the model")
    card.set_defaults(func=_model_card)
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
