"""Time the pipeline the way users run it, in a throw-away copy of the project.

Measures: a cold `dvc repro` (no cache, no outputs), a run with nothing changed, a `model.*`
change (`dvc exp run -S model.C=0.3`), and the same seven steps in one Python process (the
yardstick for DVC's and the start-up overhead). Writes benchmarks/results/speed.json.
Run by hand (`make benchmark`) on a quiet machine; not part of the tests.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.dvc_repo import copy_project, env  # noqa: E402

STAGE_MODULES = ["fetch", "clean", "split", "balance", "featurize", "train", "evaluate"]


def timed(args: list[str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run(args, cwd=cwd, env=env(), capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{args} failed:\n{result.stdout}\n{result.stderr}")
    return elapsed, result.stdout


def stage_times(repo: Path) -> dict[str, float]:
    out = {}
    for stage in STAGE_MODULES:
        out[stage], _ = timed([sys.executable, "-m", f"tabpipe.stages.{stage}"], repo)
    return out


def in_one_process(repo: Path) -> float:
    code = "import runpy, time; t=time.perf_counter()\n" + "".join(
        f"runpy.run_module('tabpipe.stages.{s}', run_name='__main__')\n" for s in STAGE_MODULES
    )
    elapsed, _ = timed([sys.executable, "-c", code], repo)
    return elapsed


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        repo = copy_project(Path(tmp) / "repo", fast=False)
        shutil.rmtree(repo / "metrics", ignore_errors=True)
        cold, out = timed(["dvc", "repro"], repo)
        assert len(re.findall(r"Running stage", out)) == 7, out
        noop = min(timed(["dvc", "repro"], repo)[0] for _ in range(3))
        status = min(timed(["dvc", "status"], repo)[0] for _ in range(3))
        model_change, out = timed(["dvc", "exp", "run", "-S", "model.C=0.3"], repo)
        subprocess.run(["git", "checkout", "--", "."], cwd=repo, check=True)
        per_stage = stage_times(repo)
        monolith = in_one_process(repo)
    results = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "seconds": {
            "cold_dvc_repro": round(cold, 2),
            "noop_dvc_repro": round(noop, 2),
            "dvc_status": round(status, 2),
            "model_change_exp_run": round(model_change, 2),
            "model_change_share_of_cold": round(model_change / cold, 3),
            "seven_stages_one_process": round(monolith, 2),
            "per_stage_script": {k: round(v, 2) for k, v in per_stage.items()},
        },
    }
    path = ROOT / "benchmarks/results/speed.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
