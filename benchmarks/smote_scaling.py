"""How the balance step's time grows with the rows: SMOTE-NC against random over-sampling.

Runs `tabpipe.core.balancing.resample` (what the balance stage and every CV fold run) on synthetic
training rows (`data=synthetic` defaults: 14 numeric, 6 categorical columns, 5 % positives)
at growing sizes; writes benchmarks/results/smote_scaling.json. This is what
`scale.max_smote_rows` is chosen from. Run by hand:

    python benchmarks/smote_scaling.py --rows 50000 100000 200000 400000
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from imblearn.over_sampling import SMOTE, RandomOverSampler

from tabpipe.core.balancing import resample
from tabpipe.core.synthetic import TARGET, Spec, frame

RESULTS = Path(__file__).resolve().parent / "results/smote_scaling.json"


def seconds(X, y, sampler, categorical: list[str]) -> float:
    start = time.perf_counter()
    resample(X, y, sampler, categorical)
    return round(time.perf_counter() - start, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[50_000, 100_000, 200_000, 400_000])
    args = parser.parse_args()
    table = frame(Spec(n_rows=max(args.rows)))
    categorical = [c for c in table.columns if c.startswith("cat_")]
    out = []
    for n in sorted(args.rows):
        X, y = table.drop(columns=TARGET).iloc[:n], table[TARGET].iloc[:n]
        row = {
            "rows": n,
            "smotenc_s": seconds(X, y, SMOTE(sampling_strategy=0.5, random_state=42), categorical),
            "random_over_s": seconds(
                X, y, RandomOverSampler(sampling_strategy=0.5, random_state=42), categorical
            ),
        }
        out.append(row)
        print(row, flush=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
