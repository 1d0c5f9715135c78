"""How good is the model the pipeline produces, and what does the search cost?

Runs in throw-away copies of the project (so the work tree is untouched), on this machine:

1. `dvc repro` with the committed defaults (tune=none): test ROC-AUC / PR-AUC, wall time.
2. `dvc exp run -S tune=bayesian` at its default budget, twice in two fresh copies: test metrics,
   CV mean, wall time, and whether the two runs agree bit for bit (best parameters, metrics,
   model hash), as the reproducibility target asks.
3. With `--sweep`: the README's 3x2 queue (`model=logistic_regression,hist_gradient_boosting,
   random_forest` x `balance=none,smote`) run with `dvc queue start -j 1` and with `-j 2`.
4. Each `--case "OVERRIDES"` (e.g. `--case model=linear_boost`) runs with tune=bayesian too.
5. Each `--data "OVERRIDES"` (Hydra overrides of an own-data option, e.g.
   `--data "data=csv data.path=/abs/table.csv data.target=price"`) runs the pipeline with
   tune=bayesian on that table too and reports its test metrics (RMSE for regression).

Writes benchmarks/results/tuning.json. Run by hand (`make benchmark-tuning`); not in CI.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.dvc_repo import copy_project, env  # noqa: E402

RESULTS = ROOT / "benchmarks/results/tuning.json"


def timed(args: list[str], cwd: Path) -> float:
    print("$", " ".join(shlex.quote(a) for a in args), flush=True)
    start = time.perf_counter()
    result = subprocess.run(args, cwd=cwd, env=env(), capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{args} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return round(elapsed, 1)


def outcome(repo: Path) -> dict:
    evaluate = json.loads((repo / "metrics/evaluate/metrics.json").read_text())["test"]
    train = json.loads((repo / "metrics/train/metrics.json").read_text())
    best = json.loads((repo / "metrics/train/best_params.json").read_text())
    model = hashlib.md5((repo / "models/model.skops").read_bytes()).hexdigest()
    keep = ("roc_auc", "pr_auc", "rmse", "mae", "r2", "f1_macro", "accuracy")
    return {
        "test": {k: v for k, v in evaluate.items() if k in keep},
        "cv": train.get("cv", {}),
        "trials": train.get("tune", {}).get("trials"),
        "best_params": best["tuned"],
        "model_md5": model,
    }


def run_case(tmp: Path, name: str, overrides: list[str]) -> dict:
    repo = copy_project(tmp / name, fast=False)
    timed(["dvc", "repro"], repo)  # the upstream stages, so the timing below is the search alone
    seconds = timed(["dvc", "exp", "run", *sum((["-S", o] for o in overrides), [])], repo)
    result = {"overrides": overrides, "seconds": seconds, **outcome(repo)}
    print(json.dumps(result, indent=2), flush=True)
    return result


def own_data(tmp: Path, tables: list[str]) -> list[dict]:
    """Each own-data table with the default settings, then with tune=bayesian."""
    out = []
    for index, overrides in enumerate(tables):
        extra = shlex.split(overrides)
        plain = run_case(tmp, f"data-{index}", extra)
        tuned = run_case(tmp, f"data-{index}-bayesian", [*extra, "tune=bayesian"])
        out.append({"overrides": extra, "default": plain, "bayesian": tuned})
    return out


def sweep(tmp: Path, jobs: int) -> dict:
    repo = copy_project(tmp / f"sweep-j{jobs}", fast=False)
    timed(["dvc", "repro"], repo)
    models = "model=logistic_regression,hist_gradient_boosting,random_forest"
    timed(["dvc", "exp", "run", "--queue", "-S", models, "-S", "balance=none,smote"], repo)
    load = round(os.getloadavg()[0], 2)  # other work on the machine slows both runs
    start = time.perf_counter()
    # not `timed`: the workers `queue start` leaves behind would hold a captured pipe open
    subprocess.run(
        ["dvc", "queue", "start", "-j", str(jobs)],
        cwd=repo,
        env=env(),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while True:
        status = subprocess.run(
            ["dvc", "queue", "status"], cwd=repo, env=env(), capture_output=True, text=True
        ).stdout
        if "Queued" not in status and "Running" not in status:
            break
        time.sleep(2)
    elapsed = round(time.perf_counter() - start, 1)
    if status.count("Success") != 6:
        raise SystemExit(f"the sweep with -j {jobs} did not succeed:\n{status}")
    print(f"3x2 sweep with -j {jobs}: {elapsed} s (load average at start {load})", flush=True)
    return {"seconds": elapsed, "load_average_at_start": load}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", action="store_true", help="also time the 3x2 queue, -j 1 vs 2")
    parser.add_argument("--data", action="append", default=[], help="own-data overrides")
    parser.add_argument(
        "--case", action="append", default=[], help="more overrides to run with tune=bayesian"
    )
    parser.add_argument(
        "--only-sweep", action="store_true", help="time the sweep only; keep the other results"
    )
    parser.add_argument(
        "--only-data", action="store_true", help="run the --data tables only; keep the rest"
    )
    args = parser.parse_args()
    if args.only_sweep or args.only_data:
        results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        with tempfile.TemporaryDirectory() as name:
            if args.only_sweep:
                results["sweep_3x2"] = {f"j{j}": sweep(Path(name), j) for j in (1, 2)}
            if args.only_data:
                results["own_data"] = own_data(Path(name), args.data)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        return
    results: dict = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        }
    }
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        default = copy_project(tmp / "default", fast=False)
        results["default"] = {"seconds_cold": timed(["dvc", "repro"], default), **outcome(default)}
        print(json.dumps(results["default"], indent=2), flush=True)
        first = run_case(tmp, "bayesian-1", ["tune=bayesian"])
        second = run_case(tmp, "bayesian-2", ["tune=bayesian"])
        same = {k: first[k] == second[k] for k in ("test", "cv", "best_params", "model_md5")}
        results["bayesian"] = {**first, "second_run_seconds": second["seconds"], "same": same}
        if args.data:
            results["own_data"] = own_data(tmp, args.data)
        for index, overrides in enumerate(args.case):
            results.setdefault("cases", []).append(
                run_case(tmp, f"case-{index}", [*shlex.split(overrides), "tune=bayesian"])
            )
        if args.sweep:
            results["sweep_3x2"] = {"j1": sweep(tmp, 1), "j2": sweep(tmp, 2)}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {RESULTS.relative_to(ROOT)}")
    b = results["bayesian"]
    print(
        f"default: test ROC-AUC {results['default']['test']['roc_auc']:.4f}; "
        f"tune=bayesian ({b['trials']} trials, {b['seconds']} s): test ROC-AUC "
        f"{b['test']['roc_auc']:.4f}, PR-AUC {b['test']['pr_auc']:.4f}; "
        f"two runs identical: {all(same.values())}"
    )


if __name__ == "__main__":
    main()
