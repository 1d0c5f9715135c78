"""A trained project in a temporary directory, built in-process (no DVC): for serving tests.

The stages run in this Python process against a copy of params.yaml, so the directory holds
what `make run` leaves behind (data/, models/, metrics/) in about 6 s. stage_in_process runs
one stage that way for any test that only needs its outputs.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.dvc_repo import PROJECT, STAGES


@contextlib.contextmanager
def working_directory(path: Path):
    before = Path.cwd()
    os.chdir(path)
    try:
        yield path
    finally:
        os.chdir(before)


def build_project(dest: Path, params: Path = PROJECT / "params.yaml") -> Path:
    shutil.copy2(params, dest / "params.yaml")
    shutil.copytree(PROJECT / "schemas", dest / "schemas", dirs_exist_ok=True)  # data.schema
    for stage in STAGES:
        result = stage_in_process(stage, dest)
        assert result.returncode == 0, result.stderr
    return dest


def stage_in_process(stage: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run `python -m tabpipe.stages.<stage>` in `cwd`, but in this process: its status, what
    it printed. A new interpreter pays the stage's imports (2-5 s) every time; this pays them
    once per test process. For stages a test only needs to have run: a claim about how a stage
    process ends (its status, one line on stderr) runs the real command."""
    out, err = io.StringIO(), io.StringIO()
    status = 0
    with working_directory(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            importlib.import_module(f"tabpipe.stages.{stage}").main()
        except SystemExit as stop:  # stage_main's exit on a PipelineError or an interrupt
            status = stop.code if isinstance(stop.code, int) else 1
    args = [sys.executable, "-m", f"tabpipe.stages.{stage}"]
    return subprocess.CompletedProcess(args, status, out.getvalue(), err.getvalue())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_server(root: Path, *extra: str, timeout: float = 90.0, log_dir: Path | None = None):
    """`tabpipe serve` on 127.0.0.1 and a free port, in a subprocess; yields its base URL."""
    import httpx

    port = free_port()
    log = open(Path(log_dir or root) / f"serve-{port}.log", "w")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tabpipe.cli",
            "serve",
            "--port",
            str(port),
            "--log-level",
            "warning",
            *extra,
        ],
        cwd=root,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise AssertionError(f"server exited: {Path(log.name).read_text()}")
            try:
                if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("server did not answer /health in time")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
