"""Serving speed: HTTP latency and throughput, and batch scoring of a million rows.

Measures, against the trained model of the current directory (run `make run` first):
- single-record latency over HTTP (p50, p99 of sequential requests on one keep-alive
  connection, uvicorn started by `tabpipe serve` on 127.0.0.1),
- rows per second for requests of 1,000 records,
- batch scoring (`tabpipe predict`) of a 1,000,000-row Parquet file and a 1,000,000-row CSV
  file sampled from the default data: rows per second and the process's peak memory (RSS),
  with a 100,000-row file as well to show that memory does not grow with the file.
Writes benchmarks/results/serving.json and prints the README table. Run by hand on a quiet
machine (`make benchmark-serving`); not part of the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tabpipe import io  # noqa: E402
from tests.trained_project import running_server  # noqa: E402

RESULTS = ROOT / "benchmarks/results/serving.json"


def sample_rows(n: int, seed: int = 0) -> pd.DataFrame:
    """`n` raw rows drawn with replacement from the default data, with fresh ids."""
    raw = pd.read_parquet(io.RAW)
    rows = raw.sample(n=n, replace=True, random_state=seed).reset_index(drop=True)
    rows["rownames"] = np.arange(1, n + 1)
    return rows


def batch(path: Path, out: Path) -> dict[str, float]:
    """Score `path` with `tabpipe predict` in a fresh process: seconds, rows/s, peak RSS."""
    code = (
        "import resource, sys, time\n"
        "from tabpipe.cli import main\n"
        "t = time.perf_counter()\n"
        f"status = main(['predict', {str(path)!r}, {str(out)!r}, '--no-progress'])\n"
        "elapsed = time.perf_counter() - t\n"
        "print('RESULT', elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
        "sys.exit(status)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    line = next(x for x in result.stdout.splitlines() if x.startswith("RESULT"))
    _, seconds, rss_kb = line.split()
    rows = len(pd.read_parquet(out, columns=["probability"]))
    return {
        "rows": rows,
        "seconds": round(float(seconds), 2),
        "rows_per_second": round(rows / float(seconds)),
        "peak_rss_mb": round(int(rss_kb) / 1024),
    }


def http(url: str, single: int, batches: int) -> dict[str, float]:
    import httpx

    records = json.loads(
        sample_rows(1000, seed=1).drop(columns=["churn"]).to_json(orient="records")
    )
    with httpx.Client(base_url=url, timeout=60) as client:
        for record in records[:50]:  # warm up
            client.post("/predict", json=record).raise_for_status()
        latencies = []
        for i in range(single):
            body = records[i % len(records)]
            start = time.perf_counter()
            client.post("/predict", json=body).raise_for_status()
            latencies.append(time.perf_counter() - start)
        big = []
        for _ in range(batches):
            start = time.perf_counter()
            response = client.post("/predict", json=records)
            response.raise_for_status()
            big.append(time.perf_counter() - start)
            assert len(response.json()["predictions"]) == len(records)
    ms = np.array(latencies) * 1000
    return {
        "single_record_requests": single,
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "requests_of_1000_records": batches,
        "p50_ms_per_1000_records": round(float(np.median(big)) * 1000, 1),
        "rows_per_second_1000_record_requests": round(1000 / float(np.median(big))),
    }


def machine() -> dict[str, str | int]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cpus": os.cpu_count() or 0,
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--single", type=int, default=1000, help="single-record requests")
    parser.add_argument("--batches", type=int, default=20, help="requests of 1,000 records")
    args = parser.parse_args()
    if not io.MODEL.exists():
        raise SystemExit(f"{io.MODEL} does not exist: run `make run` first")

    results: dict = {"machine": machine()}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        big = sample_rows(args.rows)
        small = big.head(args.rows // 10)
        files = {
            "parquet_small": (tmp / "small.parquet", small),
            "parquet": (tmp / "big.parquet", big),
            "csv": (tmp / "big.csv", big),
        }
        for path, frame in files.values():
            if path.suffix == ".csv":
                frame.to_csv(path, index=False)
            else:
                frame.to_parquet(path, index=False)
        del big, small
        results["batch"] = {
            name: batch(path, tmp / f"{name}-scores.parquet") for name, (path, _) in files.items()
        }
        with running_server(ROOT, log_dir=tmp) as url:
            results["http"] = http(url, args.single, args.batches)

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    b, h = results["batch"], results["http"]
    print(json.dumps(results, indent=2))
    print()
    print("| measure | value |")
    print("|---|---|")
    print(f"| HTTP, one record per request: p50 / p99 | {h['p50_ms']} ms / {h['p99_ms']} ms |")
    print(
        f"| HTTP, 1,000 records per request | {h['rows_per_second_1000_record_requests']:,} rows/s "
        f"({h['p50_ms_per_1000_records']} ms per request) |"
    )
    for name, label in (("parquet", "Parquet"), ("csv", "CSV"), ("parquet_small", "Parquet")):
        r = b[name]
        print(
            f"| batch, {r['rows']:,}-row {label} file | {r['rows_per_second']:,} rows/s "
            f"({r['seconds']} s), peak RSS {r['peak_rss_mb']} MB |"
        )


if __name__ == "__main__":
    main()
