"""`tabpipe report`: what a change did to the pipeline, as Markdown for a pull request.

Against a base revision: the test metrics before and after and any other metric that moved
(`dvc metrics diff`), the parameters that changed (`dvc params diff`), the stages that reran
and why (the two `dvc.lock` files compared), and the ROC, precision-recall, confusion and
calibration plots of both revisions, overlaid, rendered offline by `tabpipe plots`
(`tabpipe.project.plots`) into `dvc_plots/`: a page that draws without network and one PNG per
plot. The report shows the PNGs as `<img>` tags with paths relative to the project root; CI
publishes them and rewrites the links (`tabpipe ci publish-plots`, docs/plots.md).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tabpipe import io
from tabpipe.errors import PipelineError
from tabpipe.project import lockdiff, plots
from tabpipe.project.ci import MARKER

REPORT = Path("report.md")
PLOTS_DIR = plots.PLOTS_DIR
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


IMAGE_WIDTH = 420  # CSS pixels per image in the comment: two side by side


def plots_section(rendered: plots.Rendered | None) -> str:
    """The plots as images (both revisions overlaid), then the page and the specs."""
    if rendered is None:
        return "### Plots\n\nNo plots declared in `dvc.yaml`."
    revs = " and ".join(f"`{r}`" for r in rendered.revisions)
    images = " ".join(
        f'<img src="{png.as_posix()}" alt="{name}" width="{IMAGE_WIDTH}">'
        for name, png in rendered.png.items()
    )
    lines = [
        "### Plots",
        "",
        f"{revs} overlaid in each plot, rendered offline from `dvc.yaml`'s plots "
        "(`tabpipe plots`):",
        "",
        images,
        "",
        f"- `{rendered.page.as_posix()}`: all of them on one page that draws offline "
        "(interactive; CI: artifact `dvc-plots`)",
    ]
    lines += [
        f"- `{path.as_posix()}`: {name} (Vega-Lite spec)" for name, path in rendered.specs.items()
    ]
    if rendered.left_out:
        lines.append(
            "- not drawn (no data for this task): " + ", ".join(f"`{n}`" for n in rendered.left_out)
        )
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


def render_plots(base: str, head: str | None, out_dir: Path = PLOTS_DIR) -> plots.Rendered | None:
    """`tabpipe plots` of base and head (the workspace when None) into out_dir."""
    if not plots.declared_plots():
        return None
    return plots.render(_revs(base, head) if head is not None else [base], out_dir)


# ------------------------------------------------------------------------------- report


def build(base: str, head: str | None = None, plots_dir: Path = PLOTS_DIR) -> str:
    """The report as Markdown. `head` None means the workspace (what `dvc repro` just wrote)."""
    base = resolve_rev(base)
    if head is not None:
        head = resolve_rev(head)
    revs = _revs(base, head)
    metrics = json.loads(plots.run_dvc(["metrics", "diff", *revs, "--all", "--json"]) or "{}")
    params = json.loads(plots.run_dvc(["params", "diff", *revs, "--json"]) or "{}")
    changes = lockdiff.compare(
        lockdiff.load(base), lockdiff.load(head), order=lockdiff.pipeline_order()
    )
    rendered = render_plots(base, head, plots_dir)
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
        plots_section(rendered),
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
