"""Why the default loses to the linear baseline on some quality-benchmark tables (issue 16).

For each table named, on the pipeline's own split files of the last `benchmarks/quality.py` run
(benchmarks/.anchors/splits/<table>/), this fits the benchmark's five-line linear baseline
(benchmarks/anchors.py's `linear`, in the project's venv: it needs only scikit-learn) twice:

- on the training split alone, the rows the pipeline's select and train fit on today;
- on training + validation, the rows the benchmark gives every anchor;

and scores both on the same test rows, with a bootstrap of the test rows (paired: the same
resamples for both) for the spread a test split of that size leaves. It prints these beside
what select chose and each family's cross-validated score (from quality.json).

    python benchmarks/quality_losses.py --tables wells,ad_data

Writes nothing: its figures go into benchmarks/results/quality_notes.md by hand.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import metrics

ROOT = Path(__file__).resolve().parents[1]
SPLITS = ROOT / "benchmarks/.anchors/splits"
REPORT_JSON = ROOT / "benchmarks/results/quality.json"
BOOTSTRAP = 2000
SEED = 42


def anchors_module():
    spec = importlib.util.spec_from_file_location("anchors", ROOT / "benchmarks/anchors.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def frames(split: Path, parts: tuple[str, ...]) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(split / f"{p}.parquet") for p in parts], ignore_index=True)


def positive_proba(anchors, columns: dict, fit: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    target = columns["target"]
    keep = [*columns["numeric"], *columns["categorical"]]
    fit, test = fit.copy(), test.copy()
    for column in columns["categorical"]:
        fit[column] = fit[column].astype(object)
        test[column] = test[column].astype(object)
    _, proba, classes, _, _ = anchors.linear("binary", columns, fit[keep], fit[target], test[keep])
    return proba[:, list(classes).index(1)]


def paired_bootstrap(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """The standard deviation of ROC-AUC(a) and of ROC-AUC(a) - ROC-AUC(b) over bootstrap
    resamples of the test rows, and the share of resamples where a is below b."""
    rng = np.random.default_rng(SEED)
    single, diffs = [], []
    for _ in range(BOOTSTRAP):
        idx = rng.integers(0, len(y), len(y))
        if len(set(y[idx])) < 2:
            continue
        auc_a = metrics.roc_auc_score(y[idx], a[idx])
        single.append(auc_a)
        diffs.append(auc_a - metrics.roc_auc_score(y[idx], b[idx]))
    diffs = np.asarray(diffs)
    return float(np.std(single)), float(np.std(diffs)), float(np.mean(diffs < 0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", required=True, help="comma-separated binary table names")
    args = parser.parse_args()
    anchors = anchors_module()
    report = {t["name"]: t for t in json.loads(REPORT_JSON.read_text())["tables"]}
    for name in args.tables.split(","):
        split = SPLITS / name
        if not (split / "columns.json").exists():
            sys.exit(f"{name}: no split files in {split}: run quality.py --only pipeline first")
        columns = json.loads((split / "columns.json").read_text())
        test = pd.read_parquet(split / "test.parquet")
        y = test[columns["target"]].to_numpy()
        on_train = positive_proba(anchors, columns, frames(split, ("train",)), test)
        on_both = positive_proba(anchors, columns, frames(split, ("train", "val")), test)
        auc_train = metrics.roc_auc_score(y, on_train)
        auc_both = metrics.roc_auc_score(y, on_both)
        sd_auc, sd_diff, below = paired_bootstrap(y, on_both, on_train)
        row = report.get(name, {})
        run, scores = row.get("pipeline", {}), row.get("scores", {})
        print(f"{name}: {len(y)} test rows, {int(y.sum())} positive")
        print(
            f"  select chose {run.get('family')} + {run.get('balancing')} "
            f"(CV {run.get('cv_score')}); each family's best CV: {run.get('family_best')}"
        )
        print(
            f"  test ROC-AUC: default {scores.get('pipeline')}, linear anchor (train + val) "
            f"{scores.get('linear')}"
        )
        print(
            f"  linear baseline refitted here: train only {auc_train:.4f}, train + val "
            f"{auc_both:.4f} (difference {auc_both - auc_train:+.4f})"
        )
        print(
            f"  bootstrap of the test rows ({BOOTSTRAP}): sd of one ROC-AUC {sd_auc:.4f}; "
            f"sd of the paired difference {sd_diff:.4f}; train + val below train only in "
            f"{100 * below:.0f} % of resamples"
        )


if __name__ == "__main__":
    main()
