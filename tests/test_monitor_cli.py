"""`tabpipe simulate-batch` and `tabpipe monitor` on the real trained pipeline, through the CLI.

The pipeline's stages run once (without DVC) in a temporary directory on the default data; the
four simulated batches (fixed seeds) then go through the monitor as a scheduler would run it:
(a) unchanged raises no alert (exit 0), (b) to (d) alert naming the right column (exit 1).
Bad batches get one line, their own exit status, and leave earlier reports alone. The first
batch goes through a new `python -m tabpipe.cli` process; the others through the same
cli.main in this process, whose status that process exits with.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pandas as pd
import pytest

from tabpipe import cli
from tests.dvc_repo import env
from tests.trained_project import working_directory

pytestmark = pytest.mark.slow

SEED = 7


def tabpipe(args: list[str], cwd: Path, process: bool = False) -> subprocess.CompletedProcess:
    """`tabpipe ARGS` in `cwd`: its status and output. In this process (cli.main, whose status
    `python -m tabpipe.cli` exits with) unless `process`: a new interpreter costs 3 s here."""
    command = [sys.executable, "-m", "tabpipe.cli", *args]
    if process:
        return subprocess.run(command, cwd=cwd, env=env(), capture_output=True, text=True)
    out, err = io.StringIO(), io.StringIO()
    with working_directory(cwd), redirect_stdout(out), redirect_stderr(err):
        status = cli.main(args)
    return subprocess.CompletedProcess(command, status, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def trained(trained_project, tmp_path_factory) -> Path:
    """A directory where every stage has run on the default data (no DVC needed): a copy of
    the session's trained project (tests/conftest.py), as the monitor writes beside it."""
    return Path(shutil.copytree(trained_project, tmp_path_factory.mktemp("monitor") / "trained"))


@pytest.fixture(scope="module")
def batches(trained) -> dict[str, Path]:
    out, cwd = {}, os.getcwd()
    os.chdir(trained)  # in-process: quicker than a new interpreter per batch
    try:
        for kind in ("unchanged", "shift", "category", "churn"):
            assert cli.main(["simulate-batch", "--kind", kind, "--seed", str(SEED)]) == 0
            out[kind] = trained / f"data/batches/{kind}-seed{SEED}.parquet"
    finally:
        os.chdir(cwd)
    return out


def monitored(
    trained: Path, batch: Path, process: bool = False
) -> tuple[subprocess.CompletedProcess, dict]:
    result = tabpipe(["monitor", "--batch", str(batch)], trained, process)
    report_path = trained / "reports/monitor" / f"{batch.name.split('.')[0]}.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    return result, report


def test_simulated_batches_look_like_raw_rows(trained, batches):
    raw = pd.read_parquet(trained / "data/raw/data.parquet")
    test = pd.read_parquet(trained / "data/split/test.parquet")
    unchanged = pd.read_parquet(batches["unchanged"])
    assert unchanged.columns.tolist() == raw.columns.tolist()
    assert set(unchanged["churn"]) <= {"Yes", "No"}
    assert set(unchanged["rownames"]) <= set(test["rownames"])  # drawn from the held-out rows
    churn = pd.read_parquet(batches["churn"])
    rate = (test["churn"] == 1).mean()
    assert (churn["churn"] == "Yes").mean() == pytest.approx(2 * rate, abs=0.01)


def test_unchanged_batch_raises_no_alert(trained, batches):
    result, report = monitored(trained, batches["unchanged"], process=True)  # as cron would
    assert result.returncode == 0, result.stdout + result.stderr
    assert report["status"] == "ok" and report["alerts"] == []
    assert result.stdout.startswith("monitor: OK")
    perf = report["performance"]  # labelled: the evaluate metrics, beside the test split's
    test_metrics = json.loads((trained / "metrics/evaluate/metrics.json").read_text())["test"]
    assert perf["reference_test"] == test_metrics and perf["batch"]["threshold"] == pytest.approx(
        test_metrics["threshold"]
    )
    assert perf["status"] == "ok"


@pytest.mark.parametrize(
    ("kind", "prefix", "column"),
    [
        ("shift", "feature", "monthly_charges"),
        ("category", "feature", "contract"),
        ("churn", "target", "churn"),
    ],
)
def test_changed_batches_alert_naming_the_column(trained, batches, kind, prefix, column):
    result, report = monitored(trained, batches[kind])
    assert result.returncode == 1, result.stdout + result.stderr
    assert report["status"] == "alert"
    assert report["alerts"][0].startswith(f"{prefix} '{column}'")
    assert f"alert: {prefix} '{column}'" in result.stdout
    if prefix == "feature":
        assert report["features"][0]["column"] == column  # the table is sorted by drift
        drifted = [r["column"] for r in report["features"] if r["status"] == "drift"]
        assert drifted == [column]
    else:
        rate = report["target"]["positive_rate"]
        assert rate["batch"] == pytest.approx(2 * rate["reference"], rel=0.1)
    if kind == "category":
        assert report["features"][0]["unseen_levels"] == {"Three year": pytest.approx(100, rel=0.3)}
    html = (trained / "reports/monitor" / f"{kind}-seed{SEED}.html").read_text()
    assert f'aria-label="distribution of {column}"' in html


def test_a_directory_means_its_newest_batch(trained, batches, tmp_path):
    folder = tmp_path / "incoming"
    folder.mkdir()
    shutil.copy(batches["shift"], folder / "2025-01-01.parquet")
    shutil.copy(batches["unchanged"], folder / "2025-02-01.parquet")
    result = tabpipe(["monitor", "--batch", str(folder), "--out", str(tmp_path / "r")], trained)
    assert result.returncode == 0 and "2025-02-01.parquet" in result.stdout
    assert (tmp_path / "r/2025-02-01.html").exists()


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("spoil", "status", "words"),
    [
        (lambda b: b.drop(columns="tenure"), 2, "columns differ from the training data's"),
        (lambda b: b.head(0), 2, "the batch is empty (0 rows)"),
        (lambda b: b.head(120), 3, "120 rows, fewer than monitor.min_rows=200"),
        (lambda b: b.assign(churn="Maybe"), 2, "label(s) training never saw: 'Maybe'"),
    ],
)
def test_bad_batches_get_one_line_an_exit_status_and_keep_the_report(
    trained, batches, tmp_path, monkeypatch, capsys, spoil, status, words
):
    batch = tmp_path / "daily.parquet"
    good = pd.read_parquet(batches["unchanged"])
    good.to_parquet(batch)
    out = tmp_path / "reports"
    monkeypatch.chdir(trained)  # in-process: quicker than a new interpreter per case
    assert cli.main(["monitor", "--batch", str(batch), "--out", str(out)]) == 0
    before = {p.name: md5(p) for p in out.iterdir()}
    capsys.readouterr()

    spoil(good).to_parquet(batch)
    assert cli.main(["monitor", "--batch", str(batch), "--out", str(out)]) == status
    captured = capsys.readouterr()
    [line] = captured.err.strip().splitlines()
    assert words in line and str(batch) in line and "Fix: " in line
    assert line.startswith("no verdict: [monitor]" if status == 3 else "error: [monitor]")
    assert captured.out == ""
    assert {p.name: md5(p) for p in out.iterdir()} == before  # nothing overwritten


def test_a_crash_is_an_error_not_an_alert(trained, tmp_path, monkeypatch, capsys):
    batch = tmp_path / "junk.parquet"
    batch.write_text("not parquet")
    monkeypatch.chdir(trained)
    assert cli.main(["monitor", "--batch", str(batch)]) == cli.EXIT_ERROR
    assert "is not readable" in capsys.readouterr().err
