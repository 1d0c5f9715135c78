"""`tabpipe report`: what a change did to the pipeline, as Markdown for a pull request.

Against a base revision: the test metrics before and after and any other metric that moved
(`dvc metrics diff`), the parameters that changed (`dvc params diff`), the stages that reran
and why (the two `dvc.lock` files compared), and the ROC, precision-recall, confusion and
calibration plots of both revisions rendered by `dvc plots diff` into `dvc_plots/`.
`dvc plots diff` has no Markdown output, so the report lists the rendered files; CI uploads
them as a workflow artifact.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tabpipe import io
from tabpipe.errors import PipelineError
from tabpipe.project import lockdiff
from tabpipe.project.ci import MARKER

REPORT = Path("report.md")
PLOTS_DIR = Path("dvc_plots")
HEADLINE_FILE = (io.EVALUATE_LIVE_DIR / "metrics.json").as_posix()
HEADLINE_PREFIX = "test."
WORKSPACE = "workspace"


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], capture_output=True, text=True)


def resolve_rev(rev: str) -> str:
    """`rev` if Git knows it; else `origin/<rev>` (a CI checkout has no local `main` branch)."""
    for candidate in (rev, f"origin/{rev}"):
        if _git("rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}").returncode == 0:
            return candidate
    raise PipelineError(
        f"Git revision '{rev}' does not exist here",
        fix="pass an existing commit, branch or tag: `make report BASE=HEAD~1`; "
        "in a shallow clone fetch the history first (`git fetch --unshallow`)",
    )


def short_sha(rev: str) -> str:
    out = _git("rev-parse", "--short", f"{rev}^{{commit}}")
    return out.stdout.strip() if out.returncode == 0 else "?"


def _dvc(args: list[str]) -> str:
    result = subprocess.run(["dvc", *args], capture_output=True, text=True)
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        raise PipelineError(
            f"`dvc {' '.join(args)}` failed: {lines[-1] if lines else 'no message'}",
            fix="run it by hand to see the details (`source .venv/bin/activate` first)",
        )
    return result.stdout


def _revs(base: str, head: str | None) -> list[str]:
    return [base] if head is None else [base, head]


# ------------------------------------------------------------------------------- formatting


def fmt(value: Any) -> str:
    """A metric value: 4 decimals for floats; text in backticks; — when absent."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return f"`{value}`" if value != "" else "`''`"


def fmt_param(value: Any) -> str:
    """Parameters as written in params.yaml (0.3, not 0.3000; 1e-05 stays readable)."""
    if isinstance(value, float):
        return repr(value)
    return fmt(value)


def fmt_change(old: Any, new: Any) -> str:
    numbers = (int, float)
    if isinstance(old, bool) or isinstance(new, bool):
        return ""
    if isinstance(old, numbers) and isinstance(new, numbers):
        delta = new - old
        if delta == 0:
            return "0"
        if isinstance(delta, int):
            return f"{delta:+d}"
        # a change too small for 4 decimals still shows which way it went
        return f"{delta:+.4f}" if abs(delta) >= 5e-5 else f"{delta:+.1e}"
    return ""


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


# ------------------------------------------------------------------------------- sections


def _key_order(path: str, head: str | None) -> list[str]:
    """Dotted keys of a JSON metrics file in the order the file lists them (roc_auc first)."""
    if head is None:
        text = Path(path).read_text(encoding="utf-8") if Path(path).exists() else ""
    else:
        shown = _git("show", f"{head}:{path}")
        text = shown.stdout if shown.returncode == 0 else ""
    try:
        data = json.loads(text) if text else {}
    except json.JSONDecodeError:
        return []
    return list(lockdiff.flatten(data, ""))


def headline(diff: dict) -> tuple[Any, Any] | None:
    """Test ROC-AUC (old, new), for the summary line."""
    entry = diff.get(HEADLINE_FILE, {}).get(f"{HEADLINE_PREFIX}roc_auc")
    return (entry.get("old"), entry.get("new")) if entry else None


def metrics_section(
    diff: dict, base_label: str, head_label: str, order: list[str] | None = None
) -> str:
    order = order or []
    rank = {key: i for i, key in enumerate(order)}
    headline, other = [], []
    for path in sorted(diff):
        for key in sorted(diff[path], key=lambda k: (rank.get(k, len(rank)), k)):
            entry = diff[path][key]
            old, new = entry.get("old"), entry.get("new")
            if path == HEADLINE_FILE and key.startswith(HEADLINE_PREFIX):
                headline.append(
                    [key.removeprefix(HEADLINE_PREFIX), fmt(old), fmt(new), fmt_change(old, new)]
                )
            elif old != new:
                other.append([f"`{path}`", key, fmt(old), fmt(new), fmt_change(old, new)])
    parts = ["### Metrics", "", f"Test split (`{HEADLINE_FILE}`):", ""]
    if headline:
        parts.append(table(["metric", base_label, head_label, "change"], headline))
    else:
        parts.append("No test metrics in either revision.")
    parts += ["", "Other metrics that changed:", ""]
    parts.append(
        table(["file", "metric", base_label, head_label, "change"], other) if other else "None."
    )
    return "\n".join(parts)


def params_section(diff: dict, base_label: str, head_label: str) -> str:
    rows = [
        [
            f"`{key}`" + ("" if path == "params.yaml" else f" ({path})"),
            fmt_param(v.get("old")),
            fmt_param(v.get("new")),
        ]
        for path in sorted(diff)
        for key, v in sorted(diff[path].items())
    ]
    body = table(["param", base_label, head_label], rows) if rows else "No parameter changed."
    return "### Parameters that changed\n\n" + body


def stages_section(changes: list[lockdiff.StageChange]) -> str:
    rows = [[f"`{c.stage}`", c.reason()] for c in changes]
    if not rows:
        body = "None: every stage's inputs and outputs are the same as in the base."
    else:
        body = table(["stage", "why (from the two dvc.lock files)"], rows)
    return "### Stages that reran\n\n" + body


def plots_section(files: dict[str, Path], html: Path | None) -> str:
    if html is None:
        return "### Plots\n\nNo plots declared in `dvc.yaml`."
    lines = [
        "### Plots",
        "",
        "Rendered by `dvc plots diff`, both revisions overlaid in each plot:",
        "",
        f"- `{html.as_posix()}`: all of them on one page (open it in a browser)",
    ]
    lines += [f"- `{path.as_posix()}`: {name} (Vega-Lite spec)" for name, path in files.items()]
    return "\n".join(lines)


def summary(metrics: dict, params: dict, changes: list[lockdiff.StageChange]) -> str:
    """One line for the reviewer in a hurry."""
    parts = []
    auc = headline(metrics)
    if auc is not None:
        old, new = auc
        change = fmt_change(old, new)
        parts.append(
            f"test ROC-AUC {fmt(old)} → {fmt(new)}"
            + (f" ({change})" if change not in ("", "0") else "")
        )
    n_params = sum(len(v) for v in params.values())
    parts.append(f"{n_params} parameter{'s' if n_params != 1 else ''} changed")
    ran = [c.stage for c in changes if not c.removed]
    parts.append(f"stages rerun: {', '.join(ran)}" if ran else "no stage reran")
    return "**" + "; ".join(parts) + "**"


# ------------------------------------------------------------------------------- plots


def declared_plots(dvc_yaml: Path = Path("dvc.yaml")) -> list[str]:
    """Names of the top-level plots in dvc.yaml (ROC, Precision-Recall, ...), in order."""
    data = yaml.safe_load(dvc_yaml.read_text(encoding="utf-8")) or {}
    names = []
    for entry in data.get("plots") or []:
        names.extend(entry if isinstance(entry, dict) else [entry])
    return [str(n) for n in names]


def _finite(value: Any) -> Any:
    """Replace NaN and infinities (dvclive's ROC threshold) so the spec is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def render_plots(
    base: str, head: str | None, out_dir: Path = PLOTS_DIR
) -> tuple[dict[str, Path], Path | None]:
    """`dvc plots diff` of the declared plots into out_dir: index.html plus one spec per plot."""
    names = declared_plots()
    if not names:
        return {}, None
    # remove only what an earlier report wrote: --plots-dir may name a directory with other files
    (out_dir / "index.html").unlink(missing_ok=True)
    shutil.rmtree(out_dir / "vega", ignore_errors=True)
    revs = _revs(base, head)
    _dvc(["plots", "diff", *revs, "--targets", *names, "-o", str(out_dir)])
    shown = json.loads(_dvc(["plots", "diff", *revs, "--targets", *names, "--json"]))
    files = {}
    for name in names:
        for i, plot in enumerate(shown.get("data", {}).get(name) or []):
            if plot.get("type") != "vega":
                continue
            slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", name) + (f"-{i}" if i else "")
            path = out_dir / "vega" / f"{slug}.json"
            io.write_json(_finite(plot["content"]), path)
            files[name] = path
    return files, out_dir / "index.html"


# ------------------------------------------------------------------------------- report


def build(base: str, head: str | None = None, plots_dir: Path = PLOTS_DIR) -> str:
    """The report as Markdown. `head` None means the workspace (what `dvc repro` just wrote)."""
    base = resolve_rev(base)
    if head is not None:
        head = resolve_rev(head)
    revs = _revs(base, head)
    metrics = json.loads(_dvc(["metrics", "diff", *revs, "--all", "--json"]) or "{}")
    params = json.loads(_dvc(["params", "diff", *revs, "--json"]) or "{}")
    changes = lockdiff.compare(lockdiff.load(base), lockdiff.load(head))
    files, html = render_plots(base, head, plots_dir)
    head_name = f"{WORKSPACE} at HEAD" if head is None else head
    title = (
        f"## Pipeline report: `{base}` ({short_sha(base)}) → "
        f"{head_name} ({short_sha(head or 'HEAD')})"
    )
    base_label, head_label = f"`{base}`", WORKSPACE if head is None else f"`{head}`"
    sections = [
        MARKER,
        title,
        summary(metrics, params, changes),
        metrics_section(metrics, base_label, head_label, _key_order(HEADLINE_FILE, head)),
        params_section(params, base_label, head_label),
        stages_section(changes),
        plots_section(files, html),
    ]
    return "\n\n".join(sections) + "\n"


def write(
    base: str, head: str | None = None, output: Path = REPORT, plots_dir: Path = PLOTS_DIR
) -> str:
    """Build the report and write it to `output` atomically; returns the text."""
    text = build(base, head, plots_dir)
    with io.atomic_path(output) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return text
