"""`tabpipe` command line: the commands behind the Makefile's targets."""

from __future__ import annotations

import argparse
import sys

from tabpipe.errors import PipelineError


def _config(args: argparse.Namespace) -> int:
    from tabpipe import conf_sync
    from tabpipe.config import load_params, require

    if args.action == "compose":
        conf_sync.compose(args.overrides)
        print("params.yaml composed from conf/" + (f" with {args.overrides}" if args.overrides else ""))
        require(load_params())
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
        require(load_params())
    elif args.action == "adopt":
        done = conf_sync.adopt()
        print("conf/ updated: " + ", ".join(done) if done else "conf/ already composes to params.yaml")
    return 0


def _flatten(values: dict, prefix: str = "") -> dict:
    """{'per_class': {'a': {'recall': 1}}} -> {'per_class.a.recall': 1}"""
    out: dict = {}
    for key, value in values.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _metrics(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from tabpipe import io

    path = Path(io.EVALUATE_LIVE_DIR) / "metrics.json"
    if not path.exists():
        raise PipelineError(f"{path} does not exist", fix="run the pipeline: `make run`")
    values = _flatten(json.loads(path.read_text(encoding="utf-8"))[args.split])
    width = max(len(k) for k in values)
    print(f"{'metric':<{width}}  {args.split}")
    for key, value in values.items():
        print(f"{key:<{width}}  {value:.4f}")
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
