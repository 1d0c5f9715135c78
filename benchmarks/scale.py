"""Scale benchmark: the pipeline on data=synthetic at 100 thousand, 1 million, 10 million rows.

For each size, in a throw-away copy of the project with `data=synthetic` and that `n_rows`:
a cold `dvc repro` (each stage's wall time and peak resident memory, polled with psutil every
0.1 s), a run with nothing changed, a `model.*` change (`dvc exp run -S model.C=0.3`), and the
yardstick: the seven stages run in one Python process (`runpy`, one import of each library,
no DVC), timed and polled the same way. With --queue, six experiments queued and run with
`dvc queue start -j 1` and then `-j 2`. Results go to benchmarks/results/scale.json, merged
with the sizes measured before. Run by hand (`make benchmark-scale`), not in CI:

    python benchmarks/scale.py --rows 100000 1000000 --queue
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.dvc_repo import STAGES, copy_project, env  # noqa: E402

RESULTS = ROOT / "benchmarks/results/scale.json"
POLL_S = 0.1
_STAGE = re.compile(r"tabpipe\.stages\.(\w+)")


class Poller(threading.Thread):
    """Peak RSS of a process tree, per stage (from the command line of each child)."""

    def __init__(self, pid: int, progress: Path | None = None) -> None:
        super().__init__(daemon=True)
        self.progress = progress
        self.root = psutil.Process(pid)
        self.peak_total = 0
        self.stage_peak: dict[str, int] = {}
        self.stage_span: dict[str, list[float]] = {}
        self.done = threading.Event()

    def figures(self) -> dict:
        return {
            "peak_rss_mb": round(self.peak_total / 1e6),
            "stages": {
                s: {
                    "seconds": round(self.stage_span[s][1] - self.stage_span[s][0], 1),
                    "peak_rss_mb": round(self.stage_peak[s] / 1e6),
                }
                for s in STAGES
                if s in self.stage_span
            },
        }

    def run(self) -> None:
        polls = 0
        while not self.done.is_set():
            polls += 1
            if self.progress is not None and polls % 100 == 0:  # a long run's figures so far
                self.progress.write_text(json.dumps(self.figures(), indent=2) + "\n")
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            total = 0
            now = time.perf_counter()
            for proc in procs:
                try:
                    rss = proc.memory_info().rss
                    cmd = " ".join(proc.cmdline())
                except psutil.Error:
                    continue
                total += rss
                match = _STAGE.search(cmd)
                if match and "runpy" not in cmd:
                    stage = match.group(1)
                    self.stage_peak[stage] = max(self.stage_peak.get(stage, 0), rss)
                    span = self.stage_span.setdefault(stage, [now, now])
                    span[1] = now
            self.peak_total = max(self.peak_total, total)
            time.sleep(POLL_S)


def measured(args: list[str], cwd: Path, progress: Path | None = None) -> dict:
    """Run `args`, polling memory; wall time, peak RSS of the tree, per-stage figures."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        args, cwd=cwd, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    poller = Poller(proc.pid, progress)
    poller.start()
    out, _ = proc.communicate()
    elapsed = time.perf_counter() - start
    poller.done.set()
    poller.join()
    if proc.returncode != 0:
        raise SystemExit(f"{args} failed:\n{out[-4000:]}")
    return {"seconds": round(elapsed, 2), **poller.figures(), "output": out}


def configure(repo: Path, n_rows: int) -> None:
    """Make data=synthetic with n_rows the project's default, compose, commit."""
    config = repo / "conf/config.yaml"
    config.write_text(config.read_text().replace("- data: telco_churn", "- data: synthetic"))
    option = repo / "conf/data/synthetic.yaml"
    option.write_text(re.sub(r"n_rows: \d+", f"n_rows: {n_rows}", option.read_text()))
    subprocess.run(["tabpipe", "config", "compose"], cwd=repo, env=env(), check=True)
    subprocess.run(["git", "commit", "-qam", f"synthetic {n_rows}"], cwd=repo, check=True)


def one_process(repo: Path) -> dict:
    code = "import runpy\n" + "".join(
        f"runpy.run_module('tabpipe.stages.{s}', run_name='__main__')\n" for s in STAGES
    )
    return measured([sys.executable, "-c", code], repo)


# Other values for each run: the same ones again would come from the run cache, not be trained
C_VALUES = {1: "0.01,0.03,0.1,0.3,3,10", 2: "0.02,0.05,0.2,0.5,5,20"}


def queue(repo: Path, jobs: int) -> float:
    """Six queued `model.C` experiments run with `dvc queue start -j jobs`; seconds."""
    run = lambda *a: subprocess.run(a, cwd=repo, env=env(), check=True, capture_output=True)  # noqa: E731
    run("dvc", "exp", "run", "--queue", "-S", f"model.C={C_VALUES[jobs]}")
    start = time.perf_counter()
    run("dvc", "queue", "start", "-j", str(jobs))
    while True:
        status = subprocess.run(
            ["dvc", "queue", "status"], cwd=repo, env=env(), capture_output=True, text=True
        ).stdout
        if not re.search(r"\b(Queued|Running)\b", status):
            break
        time.sleep(1)
    elapsed = time.perf_counter() - start
    if "Failed" in status:
        raise SystemExit(f"a queued experiment failed:\n{status}")
    run("dvc", "exp", "remove", "--all-commits")
    return round(elapsed, 1)


def bench(
    n_rows: int,
    with_queue: bool,
    cold_only: bool = False,
    queue_only: bool = False,
    noop_only: bool = False,
):
    with tempfile.TemporaryDirectory() as tmp:
        repo = copy_project(Path(tmp) / "repo", fast=False)
        shutil.rmtree(repo / "metrics", ignore_errors=True)
        configure(repo, n_rows)
        progress = RESULTS.with_name(f"scale_{n_rows}_progress.json")
        cold = measured(["dvc", "repro"], repo, progress)
        progress.unlink(missing_ok=True)
        assert len(re.findall(r"Running stage", cold.pop("output"))) == 7
        if cold_only:
            return {"rows": n_rows, "cold_dvc_repro": cold}
        if queue_only:
            j1, j2 = queue(repo, 1), queue(repo, 2)
            return {"j1": j1, "j2": j2, "speedup": round(j1 / j2, 2), "load": os.getloadavg()}
        noop = min(measured(["dvc", "repro"], repo)["seconds"] for _ in range(3))
        if noop_only:
            return {"rows": n_rows, "cold_dvc_repro": cold, "noop_dvc_repro_s": noop}
        change = measured(["dvc", "exp", "run", "-S", "model.C=0.3"], repo)
        change.pop("output")
        subprocess.run(["git", "checkout", "--", "."], cwd=repo, check=True)
        mono = one_process(repo)
        notes = [line for line in mono.pop("output").splitlines() if "scale." in line]
        result = {
            "rows": n_rows,
            "cold_dvc_repro": cold,
            "noop_dvc_repro_s": noop,
            "model_change_exp_run": change,
            "one_process": mono,
            "cold_over_one_process": round(cold["seconds"] / mono["seconds"], 3),
            "large_data_notes": notes,
        }
        if with_queue:
            j1, j2 = queue(repo, 1), queue(repo, 2)
            result["queue_six_experiments_s"] = {"j1": j1, "j2": j2, "speedup": round(j1 / j2, 2)}
        return result


def machine() -> dict:
    cpu = platform.processor()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"model name\s*:\s*(.+)", cpuinfo.read_text())
        cpu = found.group(1).strip() if found else cpu
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": round(psutil.virtual_memory().total / 1e9, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    parser.add_argument("--queue", action="store_true", help="also -j 1 vs -j 2 (smallest size)")
    parser.add_argument("--cold-only", action="store_true", help="only the cold `dvc repro`")
    parser.add_argument(
        "--noop-only", action="store_true", help="the cold `dvc repro`, then a no-op run"
    )
    parser.add_argument(
        "--queue-only", action="store_true", help="only the queue (after a cold run, smallest size)"
    )
    args = parser.parse_args()
    if args.queue_only:
        n_rows = min(args.rows)
        result = bench(n_rows, True, queue_only=True)
        results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"sizes": {}}
        results["queue_six_experiments_s"] = {"rows": n_rows, **result}
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        print(json.dumps(result, indent=2))
        return
    for i, n_rows in enumerate(sorted(args.rows)):
        result = bench(n_rows, args.queue and i == 0, args.cold_only, noop_only=args.noop_only)
        result["taken"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        # read again: another size may have been measured meanwhile by a second run
        results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"sizes": {}}
        results["machine"] = machine()
        results["sizes"][str(n_rows)] = result
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        print(json.dumps(result, indent=2), flush=True)


if __name__ == "__main__":
    main()
