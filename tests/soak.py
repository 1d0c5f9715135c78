"""Soak the HTTP service: concurrent clients against uvicorn on 127.0.0.1 for a fixed time.

Run by hand (about 70 s with the defaults; not part of `make test`):

    python -m tests.soak                       # 8 clients, 60 s, a freshly trained project
    python -m tests.soak --clients 8 --seconds 60 --root .   # the workspace's own model

Each client is a thread with its own keep-alive connection that posts one record of the test
split per request (every 20th request is a batch of 50). Any status other than 200, any
transport error and any timeout counts as an error. At the end the script compares the
service's own `/metrics` counts with what the clients sent, prints a JSON summary and exits 1
if there was any error.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

from tabpipe import io
from tests.trained_project import build_project, running_server

BATCH_EVERY, BATCH_SIZE = 20, 50


def records(root: Path) -> list[dict]:
    rows = pd.read_parquet(root / io.split_path("test")).drop(columns="churn")
    out = json.loads(rows.to_json(orient="records", double_precision=15))
    return [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
        for r in out
    ]


def client(url: str, bodies: list[bytes], batch: bytes, stop: float, seed: int, out: dict) -> None:
    import httpx

    latencies, errors, sent = [], [], 0
    rng = np.random.default_rng(seed)
    with httpx.Client(base_url=url, timeout=10.0) as http:
        while time.monotonic() < stop:
            sent += 1
            body = batch if sent % BATCH_EVERY == 0 else bodies[rng.integers(len(bodies))]
            start = time.perf_counter()
            try:
                response = http.post(
                    "/predict", content=body, headers={"content-type": "application/json"}
                )
                if response.status_code != 200:
                    errors.append(f"HTTP {response.status_code}: {response.text[:200]}")
            except httpx.HTTPError as err:
                errors.append(f"{type(err).__name__}: {err}")
            latencies.append(time.perf_counter() - start)
    out.update(latencies=latencies, errors=errors, sent=sent)


def served_count(url: str) -> float:
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "tabpipe_http_requests_total" and s.labels["path"] == "/predict"
    )


def soak(root: Path, clients: int, seconds: float) -> dict:
    rows = records(root)
    bodies = [json.dumps(r).encode() for r in rows]
    batch = json.dumps(rows[:BATCH_SIZE]).encode()
    with running_server(root, log_dir=Path(tempfile.gettempdir())) as url:
        before = served_count(url)
        results = [{} for _ in range(clients)]
        stop = time.monotonic() + seconds
        threads = [
            threading.Thread(target=client, args=(url, bodies, batch, stop, i, results[i]))
            for i in range(clients)
        ]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        served = served_count(url) - before
    latencies = np.array([x for r in results for x in r["latencies"]])
    errors = [e for r in results for e in r["errors"]]
    sent = sum(r["sent"] for r in results)
    return {
        "clients": clients,
        "seconds": round(elapsed, 1),
        "requests": sent,
        "errors": len(errors),
        "first_errors": errors[:5],
        "requests_per_s": round(sent / elapsed, 1),
        "p50_ms": round(float(np.percentile(latencies, 50)) * 1000, 1),
        "p99_ms": round(float(np.percentile(latencies, 99)) * 1000, 1),
        "max_ms": round(float(latencies.max()) * 1000, 1),
        "served_by_metrics": int(served),
        "batch_every": BATCH_EVERY,
        "batch_size": BATCH_SIZE,
        "machine": f"{platform.processor() or platform.machine()}, {platform.python_version()}",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--root", type=Path, help="a trained project (default: train one now)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.root.resolve() if args.root else build_project(Path(tmp))
        summary = soak(root, args.clients, args.seconds)
    print(json.dumps(summary, indent=2))
    ok = summary["errors"] == 0 and summary["served_by_metrics"] == summary["requests"]
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
