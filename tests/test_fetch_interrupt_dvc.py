"""Ctrl-C and SIGTERM in the middle of a URL download in fetch, through `dvc repro`.

A slow http.server on 127.0.0.1 trickles a CSV file; the signal goes to the run's process
group (as Ctrl-C in a terminal does) once the download has started. The run must stop
without a traceback, leave no temporary file and no DVC lock behind, and the next run (the
server now fast) must fetch the whole table.
"""

from __future__ import annotations

import http.server
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.dvc_repo import copy_project, env, run

pytestmark = pytest.mark.slow

TABLE = pd.DataFrame(
    {
        "id": [f"c{i}" for i in range(300)],
        "tenure": [i % 40 for i in range(300)],
        "churn": ["Yes" if i % 4 == 0 else "No" for i in range(300)],
    }
)
CONTENT = TABLE.to_csv(index=False).encode()


class Trickle(http.server.BaseHTTPRequestHandler):
    """Serves CONTENT; while `slow` is set, 32 bytes every 50 ms (about 20 s in all)."""

    slow = threading.Event()
    started = threading.Event()

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", str(len(CONTENT)))
        self.end_headers()
        step = 32 if self.slow.is_set() else len(CONTENT)
        try:
            for start in range(0, len(CONTENT), step):
                self.wfile.write(CONTENT[start : start + step])
                self.wfile.flush()
                self.started.set()
                if self.slow.is_set():
                    time.sleep(0.05)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client was interrupted

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/table.csv"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def repo(tmp_path_factory, server) -> Path:
    """The project with data=url on the slow server, committed (a failed stage restores it)."""
    root = copy_project(tmp_path_factory.mktemp("fetch_interrupt"))
    run(
        ["tabpipe", "config", "compose", "data=url", f"data.url='{server}'", "data.target=churn"],
        root,
    )
    run(["git", "commit", "-qam", "data=url"], root)
    return root


def leftovers(root: Path) -> list[str]:
    """Temporary files of tabpipe's atomic writes, anywhere in the project."""
    return [str(p.relative_to(root)) for p in root.rglob("*.tmp")]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_download_leaves_nothing_and_the_next_run_fetches(repo, sig):
    Trickle.slow.set()
    Trickle.started.clear()
    proc = subprocess.Popen(
        ["dvc", "repro", "--no-run-cache", "fetch"],
        cwd=repo,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, signalled as a terminal would
    )
    try:
        deadline = time.monotonic() + 120
        while not Trickle.started.wait(timeout=0.2):
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, "fetch never started the download"
        time.sleep(0.5)  # well inside the download (about 20 s long)
        assert proc.poll() is None
        os.killpg(proc.pid, sig)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0, out
    assert "Traceback" not in out, out
    # SIGTERM reaches DVC too, which may exit before the stage's own line is printed
    assert f"error: [fetch] interrupted ({sig.name})" in out or sig == signal.SIGTERM, out
    assert leftovers(repo) == []
    assert not (repo / "data/raw/data.parquet").exists()  # no half-written table
    Trickle.slow.clear()
    again = run(["dvc", "repro", "--no-run-cache", "fetch"], repo)  # DVC's lock was released
    assert "fetch: url: 300 rows x 3 columns" in again.stdout, again.stdout
    pd.testing.assert_frame_equal(pd.read_parquet(repo / "data/raw/data.parquet"), TABLE)
    assert leftovers(repo) == []
    run(["git", "reset", "-q", "--hard", "HEAD"], repo)  # the next case starts as committed
    (repo / "data/raw/data.parquet").unlink()
