"""How high can test ROC-AUC go on the default split? Models the pipeline does not ship, too.

Scores a range of models and feature sets on the committed Telco split (data/split/, so run
`make run` first): 5-fold stratified CV on the training split, then a fit on the training
split (and on train + validation) scored once on the test split. No resampling (SMOTE changed
CV ROC-AUC by less than 0.002 in either direction). Ensembles average the members' rank
scores. Writes benchmarks/results/quality_ceiling.json. Run by hand; not in CI.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.chdir(ROOT)
RESULTS = ROOT / "benchmarks/results/quality_ceiling.json"


def candidates(columns: dict, featurize) -> dict:
    """name -> factory of an unfitted scikit-learn pipeline (cleaned columns -> scores)."""
    from lightgbm import LGBMClassifier
    from omegaconf import OmegaConf
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, SplineTransformer, StandardScaler

    from tabpipe.core.features import build_transformer
    from tabpipe.core.zoo import LinearBoostClassifier

    numeric, categorical = columns["numeric"], columns["categorical"]
    continuous = columns["continuous"]

    def features(bins):
        cfg = OmegaConf.merge(featurize, {"bins": bins})
        return build_transformer(cfg, numeric, categorical, 42, "binary", continuous)

    def splines():  # cubic B-splines of the continuous columns (not exportable to ONNX)
        spline = SplineTransformer(n_knots=4, knots="quantile")
        flags = [c for c in numeric if c not in continuous]
        return ColumnTransformer(
            [
                ("spline", make_pipeline(SimpleImputer(strategy="median"), spline), continuous),
                ("flags", SimpleImputer(strategy="median"), flags),
                (
                    "categorical",
                    make_pipeline(
                        SimpleImputer(strategy="most_frequent"),
                        OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                    ),
                    categorical,
                ),
            ]
        )

    def logistic(C=1.0):
        return LogisticRegression(C=C, max_iter=3000, random_state=42)

    def lightgbm():
        return LGBMClassifier(
            n_estimators=400,
            learning_rate=0.01,
            num_leaves=8,
            min_child_samples=50,
            subsample=0.8,
            subsample_freq=1,
            colsample_bytree=0.7,
            random_state=42,
            n_jobs=1,
            verbose=-1,
        )

    return {
        "logistic (default)": lambda: make_pipeline(features(None), logistic()),
        "logistic + bins": lambda: make_pipeline(features(10), logistic()),
        "logistic + bins, C=0.1": lambda: make_pipeline(features(10), logistic(0.1)),
        "logistic + splines, C=0.1": lambda: make_pipeline(
            splines(), StandardScaler(), logistic(0.1)
        ),
        "linear_boost": lambda: make_pipeline(
            features(None), LinearBoostClassifier(random_state=42)
        ),
        "lightgbm, slow learning": lambda: make_pipeline(features(None), lightgbm()),
        "hist_gradient_boosting, slow learning": lambda: make_pipeline(
            features(None),
            HistGradientBoostingClassifier(
                learning_rate=0.03,
                max_iter=300,
                max_leaf_nodes=8,
                min_samples_leaf=50,
                l2_regularization=1.0,
                random_state=42,
            ),
        ),
    }


def main() -> None:
    from scipy.stats import rankdata
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from tabpipe import io
    from tabpipe.config import load_section

    warnings.filterwarnings("ignore", category=UserWarning)
    columns = io.read_json(io.COLUMNS)
    target, features = columns["target"], columns["numeric"] + columns["categorical"]
    train, val, test = (io.read_parquet(io.split_path(s)) for s in ("train", "val", "test"))
    factories = candidates(columns, load_section("featurize"))
    folds = StratifiedKFold(5, shuffle=True, random_state=42)
    results = []
    for rows_name, rows in (("train", train), ("train + val", pd.concat([train, val]))):
        X, y = rows[features], rows[target]
        out_of_fold, on_test = {}, {}
        for name, factory in factories.items():
            out_of_fold[name] = cross_val_predict(
                factory(), X, y, cv=folds, method="predict_proba"
            )[:, 1]
            on_test[name] = factory().fit(X, y).predict_proba(test[features])[:, 1]
        ensembles = [(n,) for n in factories] + list(
            itertools.combinations(
                ["logistic + splines, C=0.1", "linear_boost", "lightgbm, slow learning"], 2
            )
        )
        ensembles.append(("logistic + splines, C=0.1", "linear_boost", "lightgbm, slow learning"))
        for members in ensembles:
            oof = np.mean([rankdata(out_of_fold[m]) for m in members], axis=0)
            scores = np.mean([rankdata(on_test[m]) for m in members], axis=0)
            row = {
                "model": " + ".join(members) if len(members) > 1 else members[0],
                "fitted_on": rows_name,
                "out_of_fold_roc_auc": round(float(roc_auc_score(y, oof)), 4),
                "test_roc_auc": round(float(roc_auc_score(test[target], scores)), 4),
            }
            results.append(row)
            scored = f"{row['out_of_fold_roc_auc']:.4f} {row['test_roc_auc']:.4f}"
            print(f"{row['fitted_on']:12s} {scored}  {row['model']}", flush=True)
    best = max(results, key=lambda r: r["test_roc_auc"])
    where = f"{best['model']}, fitted on {best['fitted_on']}"
    print(f"best test ROC-AUC: {best['test_roc_auc']:.4f} ({where})")
    RESULTS.write_text(json.dumps({"test_rows": len(test), "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
