"""The monitor's report as JSON (for machines) and one self-contained HTML page (for people).

The HTML has no scripts and loads nothing from the network: the distribution plots are inline
SVG drawn from the same bin shares the JSON holds. Both files are rendered in memory first and
then written atomically, so a failed run leaves the previous report of the batch intact.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from tabpipe import io

REFERENCE_COLOUR = "#4c78a8"
BATCH_COLOUR = "#f58518"
MAX_PLOT_BINS = 25
STATUS_COLOUR = {"drift": "#d62728", "warn": "#e6a700", "ok": "#2ca02c", "too_few": "#888"}


def report_paths(out_dir: Path, batch: Path) -> tuple[Path, Path]:
    """`<out_dir>/<batch file name without suffix>.json` and `.html`."""
    stem = Path(batch).name.split(".")[0] or "batch"
    return Path(out_dir) / f"{stem}.json", Path(out_dir) / f"{stem}.html"


def write_reports(report: dict[str, Any], json_path: Path, html_path: Path) -> None:
    page = render_html(report)  # render before writing anything
    io.write_json(report, json_path)
    with io.atomic_path(html_path) as tmp:
        tmp.write_text(page, encoding="utf-8")


def _num(value: Any, spec: str = ".3f") -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and spec == "p":
        return f"{value:.2g}"
    return format(value, spec) if isinstance(value, int | float) else escape(str(value))


def distribution_svg(result: dict[str, Any], width: int = 620) -> str:
    """Reference and batch shares per bin (numeric) or level (categorical), as grouped bars."""
    labels = result["bins"][:MAX_PLOT_BINS]
    ref, cur = result["reference_share"], result["batch_share"]
    label_w, bar_h, gap, top = 170, 9, 8, 24
    plot_w = width - label_w - 60
    scale = plot_w / max(max(ref[: len(labels)] + cur[: len(labels)]), 1e-9)
    height = top + len(labels) * (2 * bar_h + gap) + 4
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="distribution of {escape(result["column"])}">',
        '<rect width="100%" height="100%" fill="#fff"/>',  # readable on dark pages too
        f'<rect x="{label_w}" y="4" width="10" height="10" fill="{REFERENCE_COLOUR}"/>'
        f'<text x="{label_w + 14}" y="13" font-size="11">reference</text>'
        f'<rect x="{label_w + 90}" y="4" width="10" height="10" fill="{BATCH_COLOUR}"/>'
        f'<text x="{label_w + 104}" y="13" font-size="11">batch</text>',
    ]
    for i, label in enumerate(labels):
        y = top + i * (2 * bar_h + gap)
        parts.append(
            f'<text x="{label_w - 6}" y="{y + bar_h + 3}" font-size="11" '
            f'text-anchor="end">{escape(str(label)[:28])}</text>'
        )
        for j, (share, colour) in enumerate(((ref[i], REFERENCE_COLOUR), (cur[i], BATCH_COLOUR))):
            w = share * scale
            yy = y + j * bar_h
            parts.append(
                f'<rect x="{label_w}" y="{yy}" width="{w:.1f}" height="{bar_h - 1}" '
                f'fill="{colour}"><title>{escape(str(label))}: {share:.1%}</title></rect>'
                f'<text x="{label_w + w + 3:.1f}" y="{yy + bar_h - 1}" font-size="9">'
                f"{share:.1%}</text>"
            )
    if len(result["bins"]) > MAX_PLOT_BINS:
        parts.append(
            f'<text x="{label_w}" y="{height - 2}" font-size="10">'
            f"({len(result['bins']) - MAX_PLOT_BINS} smaller levels not shown)</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _status(status: str) -> str:
    colour = STATUS_COLOUR.get(status, "#888")
    return f'<span class="status" style="background:{colour}">{escape(status)}</span>'


def _detail(result: dict[str, Any]) -> str:
    if result["kind"] == "numeric":
        mean = result["mean"]
        return f"mean {_num(mean['reference'], '.4g')} → {_num(mean['batch'], '.4g')}"
    text = ""
    if result.get("unseen_levels"):
        text = "new: " + ", ".join(f"{k} ({v})" for k, v in result["unseen_levels"].items())
    if result.get("positive_rate"):
        rate = result["positive_rate"]
        text = f"positive rate {rate['reference']:.3f} → {rate['batch']:.3f}"
    return escape(text)


def _row(result: dict[str, Any], what: str) -> str:
    return (
        f"<tr><td>{escape(what)}</td><td><b>{escape(result['column'])}</b></td>"
        f"<td>{escape(result['kind'])}</td><td>{_num(result['psi'])}</td>"
        f"<td>{escape(result['test'])}</td><td>{_num(result['statistic'], '.4g')}</td>"
        f"<td>{_num(result['p_value'], 'p')}</td><td>{_status(result['status'])}</td>"
        f"<td>{_detail(result)}</td></tr>"
    )


def _performance(perf: dict[str, Any] | None) -> str:
    if perf is None:
        return "<p>The batch has no target column: no performance check.</p>"
    if "batch" not in perf:
        return f"<p>{_status(perf['status'])} {escape(perf.get('note', ''))}</p>"
    ref = perf.get("reference_test") or {}
    rows = "".join(
        f"<tr{' class=key' if name == perf['metric'] else ''}><td>{escape(name)}</td>"
        f"<td>{_num(ref.get(name), '.4f')}</td><td>{_num(value, '.4f')}</td></tr>"
        for name, value in perf["batch"].items()
    )
    metric = perf["metric"]
    change = ""
    if metric in ref:
        change = f": {perf['batch'][metric] - ref[metric]:+.4f} against the test split"
    return (
        f"<p>{_status(perf['status'])} {escape(metric)} on {perf['rows']} labelled rows"
        f"{change} (alert when worse by more than {perf.get('max_drop', '')}). "
        f"{escape(perf.get('note', ''))}</p>"
        "<table><tr><th>metric</th><th>test split</th><th>batch</th></tr>"
        f"{rows}</table>"
    )


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; max-width: 1100px; }
table { border-collapse: collapse; margin: .5rem 0 1.5rem; font-size: .9rem; }
th, td { border-bottom: 1px solid #ddd; padding: .25rem .6rem; text-align: left; }
tr.key td { font-weight: bold; }
.status { color: #fff; border-radius: 3px; padding: 0 .4rem; font-size: .8rem; }
.banner { padding: .6rem 1rem; border-radius: 4px; color: #fff; font-weight: bold; }
figure { margin: 0 0 1.5rem; } figcaption { font-weight: bold; margin-bottom: .3rem; }
code { background: #f3f3f3; padding: 0 .2rem; }
"""


def render_html(report: dict[str, Any]) -> str:
    """One page: verdict, performance, a table of every column sorted by drift, and plots."""
    status = report["status"]
    banner_colour = STATUS_COLOUR["drift"] if status == "alert" else STATUS_COLOUR["ok"]
    items = "".join(f"<li>{escape(a)}</li>" for a in report["alerts"])
    warns = "".join(f"<li>{escape(w)}</li>" for w in report["warnings"])
    table_rows = [_row(report["prediction"], "prediction")]
    if report.get("target"):
        table_rows.append(_row(report["target"], "target"))
    table_rows += [_row(r, "feature") for r in report["features"]]
    plotted = [("prediction", report["prediction"])]
    if report.get("target"):
        plotted.append(("target", report["target"]))
    plotted += [("feature", r) for r in report["features"]]
    figures = "".join(
        f"<figure><figcaption>{escape(what)} {escape(r['column'])} "
        f"(PSI {_num(r['psi'])}) {_status(r['status'])}</figcaption>{distribution_svg(r)}</figure>"
        for what, r in plotted
        if r["status"] in ("drift", "warn") or what == "prediction"
    )
    settings = report["settings"]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>tabpipe monitor: {escape(report["batch"])}</title><style>{STYLE}</style></head>
<body>
<h1>Monitor report</h1>
<p>Batch <code>{escape(report["batch"])}</code> ({report["rows"]["batch"]} rows) against
reference <code>{escape(report["reference"])}</code> ({report["rows"]["reference"]} rows);
model <code>{escape(report.get("model", ""))}</code>.</p>
<p class="banner" style="background:{banner_colour}">{escape(status.upper())}:
{len(report["alerts"])} alert(s), {len(report["warnings"])} warning(s)</p>
{f"<h2>Alerts</h2><ul>{items}</ul>" if items else ""}
{f"<h2>Warnings</h2><ul>{warns}</ul>" if warns else ""}
<h2>Performance</h2>
{_performance(report.get("performance"))}
<h2>Drift: the model's score, the target, then the features by severity and PSI</h2>
<p>A column drifts when PSI ≥ {settings["psi_alert"]} and its test's p-value is below
{settings["p_value"]} / {settings["tests"]} tests = {_num(settings["p_value_corrected"], "p")}
(Bonferroni); warn at PSI ≥ {settings["psi_warn"]} or on levels never seen in the reference.</p>
<table><tr><th></th><th>column</th><th>kind</th><th>PSI</th><th>test</th><th>statistic</th>
<th>p-value</th><th>status</th><th>detail</th></tr>
{"".join(table_rows)}
</table>
<h2>Distributions</h2>
<p>Share of rows per reference-quantile bin (numeric) or per level (categorical).</p>
{figures}
</body></html>
"""


# --- one monitor run: read the inputs, check, write the reports ---------------------------------


def newest_batch(path: Path) -> Path:
    """`path` itself, or for a directory its last CSV / Parquet file by name (date-stamped)."""
    from tabpipe.errors import PipelineError

    path = Path(path)
    if not path.is_dir():
        return path
    files = sorted(
        p for p in path.iterdir() if p.is_file() and p.suffix.lower() in (".csv", ".parquet")
    )
    if not files:
        raise PipelineError(f"{path} holds no .csv or .parquet batch", fix="put a batch there")
    return files[-1]


def run_monitor(batch_path: Path, reference_path: Path, out_dir: Path) -> dict[str, Any]:
    """Check one batch; write `<out_dir>/<batch>.json` and `.html` only when the check completes.

    Raises PipelineError (bad input: nothing is written) or drift.BatchTooSmall.
    """
    from tabpipe.config import load_params, load_section
    from tabpipe.core import drift
    from tabpipe.core.models import positive_scores
    from tabpipe.errors import PipelineError

    params = load_params()
    cfg = load_section("monitor", params=params)
    data_cfg = load_section("data", params=params)
    clean_cfg = load_section("clean", params=params)
    if not io.COLUMNS.exists():
        raise PipelineError(f"{io.COLUMNS} does not exist", fix="run the pipeline: `make run`")
    columns = io.read_json(io.COLUMNS)
    if columns.get("task", "binary") != "binary":
        raise PipelineError(
            f"{io.COLUMNS}: task '{columns['task']}': the monitor checks binary classifiers",
            fix="monitor a binary target, or extend tabpipe.core.drift for this task",
        )
    metrics_path = io.EVALUATE_LIVE_DIR / "metrics.json"
    if not metrics_path.exists():
        raise PipelineError(f"{metrics_path} does not exist", fix="run the pipeline: `make run`")
    test_metrics = io.read_json(metrics_path).get("test") or {}
    model = load_production_model()
    dropped = [str(c) for c in data_cfg.drop]

    batch_path = newest_batch(batch_path)
    reference_raw = io.read_table(reference_path)
    reference = drift.prepare_rows(
        reference_raw, columns, clean_cfg, where=f"reference {reference_path}", drop=dropped
    )
    if reference.target is None:
        reference_target_note = "the reference has no target: no target drift"
    else:
        reference_target_note = None
    levels = drift.reference_levels(reference.rows, columns["categorical"])
    where = str(batch_path)
    batch = drift.prepare_rows(
        io.read_table(batch_path), columns, clean_cfg, where=where, drop=dropped, levels=levels
    )
    try:
        report = drift.check_batch(
            reference,
            batch,
            columns,
            positive_scores(model, reference.rows),
            positive_scores(model, batch.rows),
            float(test_metrics.get("threshold", 0.5)),
            test_metrics,
            cfg,
        )
    except PipelineError as err:
        raise type(err)(f"{where}: {err.message}", fix=err.fix) from None
    report = {
        "batch": str(batch_path),
        "reference": str(reference_path),
        "model": str(io.MODEL),
        "model_md5": io.file_digest(io.MODEL, "md5"),
        **report,
    }
    if reference_target_note:
        report["notes"] = [reference_target_note]
    json_path, html_path = report_paths(out_dir, batch_path)
    write_reports(report, json_path, html_path)
    report["paths"] = {"json": str(json_path), "html": str(html_path)}
    return report


def load_production_model():
    """The inference pipeline the monitor scores with (the pipeline's model file)."""
    return io.load_model(io.MODEL)
