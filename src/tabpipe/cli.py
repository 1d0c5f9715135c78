"""`tabpipe` command line: the commands behind the Makefile's targets."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tabpipe.errors import PipelineError


def _config(args: argparse.Namespace) -> int:
    from tabpipe import workspace
    from tabpipe.config import load_params, require
    from tabpipe.project import conf_sync

    if args.action in ("compose", "sync", "adopt"):  # each would rewrite params.yaml or conf/
        workspace.refuse_if_busy(f"`tabpipe config {args.action}` (`make run`)")
    if args.action == "compose":
        conf_sync.compose(args.overrides)
        print(
            "params.yaml composed from conf/"
            + (f" with {args.overrides}" if args.overrides else "")
        )
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
        print(
            "conf/ updated: " + ", ".join(done) if done else "conf/ already composes to params.yaml"
        )
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


def _report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tabpipe.project import report

    text = report.write(args.base, args.head, Path(args.output), Path(args.plots_dir))
    if not args.quiet:
        print(text, end="")
    print(f"report written to {args.output}; plots in {args.plots_dir}/", file=sys.stderr)
    return 0


def _plots(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tabpipe.project import plots

    if args.vendor:
        versions = plots.vendor()
        for name, entry in versions.items():
            print(f"vendored {name} {entry['version']} (sha256 {entry['sha256'][:12]}…)")
        return 0
    out = plots.render(args.rev, Path(args.out))
    print(f"page: {out.page} (draws offline: Vega, Vega-Lite and Vega-Embed are inlined)")
    for name, png in out.png.items():
        print(f"  {name}: {png} and {out.svg[name]}")
    if out.left_out:
        print(f"  not drawn (no data for this task): {', '.join(out.left_out)}")
    return 0


def _ci(args: argparse.Namespace) -> int:
    import json
    import os
    from pathlib import Path

    from tabpipe.project import ci

    if args.action in ("remote-status", "pull", "push"):
        status = ci.remote_status(timeout=args.timeout)
        ci.write_github_output(remote=status.state)
        if args.action == "remote-status":
            print(status.line())
        else:
            print(ci.pull(status) if args.action == "pull" else ci.push(status))
    elif args.action == "check-lock":
        print(ci.check_lock(args.rev))
    elif args.action == "check-code":
        stale = ci.stale_code()
        if stale:
            raise PipelineError(
                f"dvc.lock is stale: {len(stale)} tracked dependencies changed since it was "
                f"written ({', '.join(stale[:3])}{', ...' if len(stale) > 3 else ''})",
                fix="run `dvc repro` (or `make run`) and commit dvc.lock with the change",
            )
        print("dvc.lock records the tracked dependencies as they are")
    elif args.action == "comment":
        token = os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN")
        repo = args.repo or os.environ.get("GITHUB_REPOSITORY")
        pr = args.pr or ci.pr_number(os.environ)
        if not (token and repo and pr):
            raise PipelineError(
                "cannot comment: need GITHUB_TOKEN, the repository and the pull request number",
                fix="set GITHUB_TOKEN and pass --repo OWNER/NAME --pr N (Actions sets the rest)",
            )
        body = Path(args.body).read_text(encoding="utf-8")
        body = ci.link_images(body, json.loads(args.images or "{}"), ci.IMAGES_NOTE)
        for problem in ci.check_comment(body):
            print(f"warning: [ci comment] {problem}", file=sys.stderr)
        if args.footer:
            body = body.rstrip("\n") + "\n\n" + args.footer + "\n"
        if ci.MARKER not in body:
            body = ci.MARKER + "\n" + body
        api = args.api or os.environ.get("GITHUB_API_URL", "https://api.github.com")
        print(ci.post_comment(body, repo, int(pr), token, api, marker=ci.MARKER))
    elif args.action == "publish-plots":
        token = os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN") or ""
        repo = args.repo or os.environ.get("GITHUB_REPOSITORY", "")
        body = Path(args.body).read_text(encoding="utf-8")
        urls: dict[str, str] = {}
        if token and repo:
            pr = args.pr or ci.pr_number(os.environ)
            run = f"run-{os.environ.get('GITHUB_RUN_ID', 'local')}"
            run += f"-{os.environ.get('GITHUB_RUN_ATTEMPT', '1')}"
            prefix = f"pr-{pr}/{run}" if pr else f"push/{run}"
            api = args.api or os.environ.get("GITHUB_API_URL", "https://api.github.com")
            server = os.environ.get("GITHUB_SERVER_URL", "https://github.com")
            urls, line = ci.publish_report_images(body, Path("."), repo, token, prefix, api, server)
        else:
            line = "no GITHUB_TOKEN or repository: plot images not published"
        print(line)
        linked = ci.link_images(body, urls, ci.IMAGES_NOTE)
        Path(args.out).write_text(linked, encoding="utf-8")
        ci.write_github_output(images=json.dumps(urls))
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary:
            with open(summary, "a", encoding="utf-8") as handle:
                handle.write(linked)
    elif args.action == "base":
        print(ci.report_base(os.environ))
    elif args.action == "check-yaml":
        paths = [Path(p) for p in args.paths] or ci.yaml_files()
        problems = ci.check_yaml(paths)
        for line in problems:
            print(f"error: [yaml] {line}", file=sys.stderr)
        if problems:
            return 1
        print(f"{len(paths)} YAML files parse")


def _promote(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tabpipe import io
    from tabpipe.project import registry
    from tabpipe.serving.model_card import write_card

    version = registry.promote(Path("."))
    if not args.no_onnx:
        _export_onnx(args)
    print(f"model card: {write_card()}")
    print(f"promoted {version}: `gto show` lists it; `make serve` serves {io.MODEL}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from tabpipe.serving import predict

    summary = predict.predict_file(
        args.input, args.output, chunk_rows=args.chunk_rows, progress=not args.no_progress
    )
    print(predict.describe(summary))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from tabpipe.serving import serve

    serve.run(args.host, args.port, args.log_level, max_body_bytes=args.max_body_bytes)
    return 0


def _export_onnx(args: argparse.Namespace) -> int:
    from tabpipe import io
    from tabpipe.serving import onnx_export, predict

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
    from tabpipe.serving.model_card import write_card

    print(f"model card: {write_card()}")
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
        from tabpipe.core.drift import BatchTooSmall
        from tabpipe.monitoring.monitor import run_monitor

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
    from tabpipe.monitoring.simulate import as_raw, simulate_batch

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

    from tabpipe.monitoring.retrain import retrain
    from tabpipe.project.registry import promote

    try:
        outcome = retrain(Path(args.new), promote)
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
    metrics.add_argument(
        "--split",
        default="test",
        choices=["test", "cv"],
        help="test, or cv: the out-of-fold predictions of select's cross-validation",
    )
    metrics.set_defaults(func=_metrics)

    report = sub.add_parser(
        "report", help="write report.md: metrics, params, stages and plots changed since --base"
    )
    report.add_argument(
        "--base", default="main", help="Git revision to compare with (default main)"
    )
    report.add_argument("--head", default=None, help="Git revision (default: the workspace)")
    report.add_argument("--output", default="report.md")
    report.add_argument("--plots-dir", default="dvc_plots")
    report.add_argument("--quiet", action="store_true", help="do not print the report")
    report.set_defaults(func=_report)

    plots = sub.add_parser(
        "plots",
        help="the plots of dvc.yaml as a page that draws offline, and as PNG and SVG images",
    )
    plots.add_argument(
        "--rev", action="append", default=[], help="overlay these revisions (dvc plots diff)"
    )
    plots.add_argument("--out", default="dvc_plots", help="output directory (default dvc_plots)")
    plots.add_argument(
        "--vendor", action="store_true", help="refresh the vendored scripts from npm (pinned)"
    )
    plots.set_defaults(func=_plots)

    ci = sub.add_parser("ci", help="the steps of the CI workflow (.github/workflows/ci.yaml)")
    ci.add_argument(
        "action",
        choices=[
            "remote-status",
            "pull",
            "push",
            "check-lock",
            "check-code",
            "comment",
            "publish-plots",
            "base",
            "check-yaml",
        ],
        help="remote-status: can CI use the DVC remote; pull/push: with --run-cache when it can; "
        "check-lock: after dvc repro, fail if dvc.lock or metrics/ differ from the commit; "
        "check-code: fail if a Git-tracked dependency (code, conf/) differs from dvc.lock's hash; "
        "comment: post --body on the pull request (one comment, updated in place); "
        "publish-plots: commit the report's plot images to branch tabpipe-plots and write "
        "--out with its links; "
        "base: the revision CI compares with; "
        "check-yaml: every YAML file parses",
    )
    ci.add_argument("paths", nargs="*", help="files for check-yaml (default: all tracked YAML)")
    ci.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the remote")
    ci.add_argument("--rev", default="HEAD", help="check-lock: the commit to compare with")
    ci.add_argument("--body", default="report.md", help="comment: the Markdown file to post")
    ci.add_argument("--footer", default="", help="comment: a line appended to the body")
    ci.add_argument(
        "--images", default="", help="comment: JSON {report src: URL} from publish-plots"
    )
    ci.add_argument(
        "--out", default="report-linked.md", help="publish-plots: the report with image URLs"
    )
    ci.add_argument("--repo", default=None, help="comment: OWNER/NAME (default $GITHUB_REPOSITORY)")
    ci.add_argument("--pr", type=int, default=None, help="comment: pull request number")
    ci.add_argument("--api", default=None, help="comment: API URL (default $GITHUB_API_URL)")
    ci.set_defaults(func=_ci)
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

    docs = sub.add_parser(
        "docs", help="write the docs site's reference pages (params, make, tabpipe) from the code"
    )
    docs.add_argument(
        "--check", action="store_true", help="write nothing; fail when a page differs from the code"
    )
    docs.set_defaults(func=_docs)

    verify = sub.add_parser(
        "verify",
        help="compare the results with the commit: identical, within tolerance (1e-9), or "
        "different (stage, file, first value); exit 0, 3 or 1",
    )
    verify.add_argument(
        "--rerun", action="store_true", help="run the pipeline in a temporary clone first"
    )
    verify.add_argument("--rev", default="HEAD", help="the commit to compare with")
    verify.set_defaults(func=_verify)
    return parser


# `tabpipe verify` exit statuses: identical, different, within tolerance
def _docs(args: argparse.Namespace) -> int:
    from tabpipe.project import docs

    print(docs.write(build_parser(), check=args.check))
    return 0


VERIFY_EXIT = {"identical": 0, "different": 1, "within tolerance": 3}


def _verify(args: argparse.Namespace) -> int:
    from tabpipe.project import verify

    return VERIFY_EXIT[verify.main(rev=args.rev, do_rerun=args.rerun)]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except PipelineError as err:
        print(f"error: [{args.command}] {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
