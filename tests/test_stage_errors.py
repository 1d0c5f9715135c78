"""Bad input through the real stage entry points: one line, exit 1, earlier outputs intact."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.dvc_repo import env, fast_params
from tests.trained_project import stage_in_process


def run_stage(stage: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", f"tabpipe.stages.{stage}"],
        cwd=cwd,
        env=env(),
        capture_output=True,
        text=True,
    )


def digest(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def make_workdir(tmp_path: Path) -> Path:
    """A working directory with params.yaml and a small raw table (40 rows, 25 % positive)."""
    fast_params(tmp_path / "params.yaml")
    set_params(tmp_path, "data", schema=None)  # the Telco schema does not fit this small table
    rows = 40
    raw = pd.DataFrame(
        {
            "rownames": range(rows),
            "churn": ["Yes" if i % 4 == 0 else "No" for i in range(rows)],
            "tenure": [i % 13 for i in range(rows)],
            "monthly_charges": [20.0 + 1.5 * i for i in range(rows)],
            "contract": ["Month-to-month", "One year", "Two year", "One year"] * (rows // 4),
        }
    )
    (tmp_path / "data/raw").mkdir(parents=True)
    raw.to_parquet(tmp_path / "data/raw/data.parquet", index=False)
    return tmp_path


@pytest.fixture
def workdir(tmp_path) -> Path:
    return make_workdir(tmp_path)


@pytest.fixture(scope="module")
def featurized(tmp_path_factory) -> Path:
    """The small table run through clean, split, select, balance and featurize once (in this
    process: only their outputs are needed)."""
    path = make_workdir(tmp_path_factory.mktemp("featurized"))
    set_params(path, "balance", k_neighbors=1)  # select's folds hold 2-4 positive rows
    for stage in ("clean", "split", "select", "balance", "featurize"):
        assert stage_in_process(stage, path).returncode == 0, stage
    return path


def set_params(workdir: Path, section: str, **values) -> None:
    path = workdir / "params.yaml"
    params = yaml.safe_load(path.read_text())
    params[section].update(values)
    path.write_text(yaml.safe_dump(params))


def assert_one_line_error(result: subprocess.CompletedProcess, *parts: str) -> str:
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for part in parts:
        assert part in lines[0], lines[0]
    return lines[0]


def test_missing_target_column_names_stage_file_key_and_fix(workdir):
    assert stage_in_process("clean", workdir).returncode == 0
    before = digest(workdir / "data/clean/data.parquet")
    set_params(workdir, "data", target="churned")
    line = assert_one_line_error(
        run_stage("clean", workdir),
        "error: [clean]",
        "data/raw/data.parquet",
        "'churned'",
        "data.target",
        "Fix:",
    )
    assert "rownames, churn, tenure" in line  # lists the columns to choose from
    assert digest(workdir / "data/clean/data.parquet") == before  # earlier output intact


def test_single_class_target(workdir):
    raw = pd.read_parquet(workdir / "data/raw/data.parquet")
    raw.assign(churn="No").to_parquet(workdir / "data/raw/data.parquet", index=False)
    assert_one_line_error(
        run_stage("clean", workdir), "error: [clean]", "data/raw/data.parquet", "only one class"
    )


def test_too_few_minority_rows_for_smote(workdir):
    set_params(workdir, "balance", k_neighbors=1)  # select's folds hold 2-4 positive rows
    for stage in ("clean", "split", "select"):
        assert stage_in_process(stage, workdir).returncode == 0, stage
    # the chosen balancing, as select would write it for -S balance.k_neighbors=8: the
    # training split has 8 positive rows
    choice = json.loads((workdir / "data/select/balance.json").read_text())
    choice["balance"]["k_neighbors"] = 8
    (workdir / "data/select/balance.json").write_text(json.dumps(choice))
    assert_one_line_error(
        run_stage("balance", workdir),
        "error: [balance]",
        "data/split/train.parquet",
        "balance.k_neighbors=8",
        "-S balance.k_neighbors=7",
        "balance=random_over",
    )
    assert not (workdir / "data/balanced/train.parquet").exists()


@pytest.mark.parametrize(
    ("stage", "section", "values", "key"),
    [
        ("split", "split", {"bogus": 1}, "split.bogus"),
        ("split", "split", {"test_size": "a fifth"}, "split.test_size"),
        ("select", "model", {"bogus": 1}, "model.bogus"),
        ("select", "balance", {"k_neighbours": 3}, "balance.k_neighbours"),
    ],
)
def test_unknown_or_mistyped_config_key_is_named(featurized, tmp_path, stage, section, values, key):
    workdir = Path(shutil.copytree(featurized, tmp_path / "work"))
    set_params(workdir, section, **values)
    assert_one_line_error(run_stage(stage, workdir), f"error: [{stage}]", "params.yaml", key)


SYNTHETIC = dict(
    source="synthetic",
    target="target",
    id_columns=[],
    n_numeric=4,
    n_categorical=2,
    positive_rate=0.1,
    signal=1.0,
    seed=1,
)


def test_a_synthetic_table_too_large_for_memory_is_refused_before_any_work(workdir):
    import psutil

    from tabpipe.core.scale import BYTES_PER_CELL

    raw = workdir / "data/raw/data.parquet"
    before = digest(raw)
    # a size whose estimate is twice the machine's whole memory
    rows = 2 * psutil.virtual_memory().total // (7 * BYTES_PER_CELL)
    set_params(workdir, "data", **SYNTHETIC, n_rows=int(rows))
    result = run_stage("fetch", workdir)
    line = assert_one_line_error(result, "[fetch]", f"data.n_rows={rows}", "is available")
    assert "need an estimated" in line and "use at most about" in line
    assert digest(raw) == before  # nothing generated, the earlier output intact


def test_a_small_synthetic_table_is_streamed_to_the_raw_file(workdir):
    set_params(workdir, "data", **SYNTHETIC, n_rows=1000)
    result = run_stage("fetch", workdir)
    assert result.returncode == 0, result.stderr
    raw = pd.read_parquet(workdir / "data/raw/data.parquet")
    assert raw.shape == (1000, 7)
    report = yaml.safe_load((workdir / "metrics/fetch.json").read_text())
    assert report == {"rows": 1000, "columns": 7}


def test_above_max_smote_rows_the_balance_stage_says_it_over_samples_at_random(workdir):
    set_params(workdir, "balance", k_neighbors=1)  # select's folds hold 2-4 positive rows
    for stage in ("clean", "split", "select"):
        assert stage_in_process(stage, workdir).returncode == 0
    set_params(workdir, "scale", max_smote_rows=10)
    result = run_stage("balance", workdir)
    assert result.returncode == 0, result.stderr
    assert "replaced by RandomOverSampler" in result.stdout
    report = yaml.safe_load((workdir / "metrics/balance.json").read_text())
    assert report["resampler"] == "RandomOverSampler"
    assert "scale.max_smote_rows=10" in report["large_data"]
