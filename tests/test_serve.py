"""The HTTP service over real HTTP (uvicorn in a subprocess on 127.0.0.1), and the skew test."""

from __future__ import annotations

import json
import math
import shutil

import httpx
import numpy as np
import pandas as pd
import pytest

from tabpipe import io
from tabpipe.serving.predict import load_scorer, predict_file
from tests.trained_project import running_server


@pytest.fixture(scope="module")
def served(trained_project, tmp_path_factory):
    """A copy of the trained project, so a test may take files away from under the server."""
    root = tmp_path_factory.mktemp("served") / "project"
    shutil.copytree(trained_project, root)
    return root


@pytest.fixture(scope="module")
def server(served):
    with running_server(served, "--max-body-bytes", str(2 * 2**20)) as url:
        yield url


@pytest.fixture(scope="module")
def test_rows(trained_project) -> pd.DataFrame:
    return pd.read_parquet(trained_project / io.split_path("test"))


def records(rows: pd.DataFrame) -> list[dict]:
    """Rows as JSON records (NaN -> null), without the target."""
    out = json.loads(rows.drop(columns=["churn"]).to_json(orient="records", double_precision=15))
    # to_json rounds to 15 digits: put the exact floats back so every path sees the same numbers
    for record, (_, row) in zip(out, rows.iterrows(), strict=True):
        for key, value in record.items():
            if isinstance(value, float):
                record[key] = None if math.isnan(row[key]) else float(row[key])
    return out


def post(url: str, body, **kwargs) -> httpx.Response:
    if isinstance(body, bytes | str):
        return httpx.post(f"{url}/predict", content=body, timeout=30, **kwargs)
    return httpx.post(f"{url}/predict", json=body, timeout=30, **kwargs)


def test_health_metadata_and_docs(server, trained_project):
    assert httpx.get(f"{server}/health").json()["status"] == "ok"
    meta = httpx.get(f"{server}/metadata").json()
    metrics = json.loads((trained_project / io.EVALUATE_METRICS).read_text())
    assert meta["threshold"] == metrics["test"]["threshold"]
    assert meta["class_weights"] is None  # binary: the threshold decides
    assert meta["metrics"]["test"] == metrics["test"]
    assert meta["model"]["md5"] and meta["artifact"] == "churn-model"
    assert {"raw_md5", "source"} <= set(meta["data"])
    schema = meta["input_schema"]
    assert set(schema["required"]) == set(load_scorer(trained_project).schema.features)
    contract = schema["properties"]["contract"]["anyOf"][0]
    assert contract["enum"] == ["Month-to-month", "One year", "Two year"]
    assert httpx.get(f"{server}/docs").status_code == 200
    spec = httpx.get(f"{server}/openapi.json").json()
    assert "Record" in spec["components"]["schemas"]
    assert "/predict" in spec["paths"]


def test_one_record_or_a_list(server, test_rows):
    rows = records(test_rows.head(3))
    one = post(server, rows[0])
    assert one.status_code == 200, one.text
    [prediction] = one.json()["predictions"]
    assert prediction["rownames"] == rows[0]["rownames"]
    assert 0 <= prediction["probability"] <= 1 and prediction["label"] in ("Yes", "No")
    many = post(server, rows).json()["predictions"]
    assert [p["rownames"] for p in many] == [r["rownames"] for r in rows]


def errors(response: httpx.Response) -> dict[tuple, str]:
    assert response.status_code == 422, response.text
    return {tuple(e["loc"]): e["type"] for e in response.json()["detail"]}


def test_bad_requests_get_422_naming_the_field(server, test_rows):
    good = records(test_rows.head(2))
    wrong_type = dict(good[0], tenure="twelve")
    assert errors(post(server, wrong_type)) == {("body", "tenure"): "float_parsing"}
    missing = {k: v for k, v in good[0].items() if k != "contract"}
    assert errors(post(server, [good[1], missing])) == {("body", 1, "contract"): "missing"}
    unknown = dict(good[0], bogus_column=1)
    assert errors(post(server, unknown)) == {("body", "bogus_column"): "extra_forbidden"}
    unseen = dict(good[0], contract="Three year")
    assert errors(post(server, unseen)) == {("body", "contract"): "literal_error"}
    assert errors(post(server, b"{not json")) == {("body",): "json_invalid"}
    assert errors(post(server, b'"a string"')) == {("body",): "model_type"}
    # labels are tidied as in training before they are checked
    tidy = dict(good[0], contract="  month-TO-month ")
    assert post(server, tidy).status_code == 200


def test_oversized_bodies_are_refused(server, test_rows):
    record = records(test_rows.head(1))[0]
    big = json.dumps([record] * 5000).encode()  # about 3 MB, over the 2 MB limit
    response = post(server, big)
    assert response.status_code == 413
    assert "larger than 2097152 bytes" in response.json()["detail"]


def test_same_rows_same_probabilities_in_memory_batch_and_http(
    server, trained_project, test_rows, tmp_path
):
    """No train/serve skew: each path cleans and scores the rows identically, to the last bit.

    All three score the 1,409 rows in one call: a linear model's BLAS dot product can round its
    last bit differently for another number of rows, which is arithmetic, not skew.
    """
    scorer = load_scorer(trained_project)
    in_memory = scorer.pipeline.predict_proba(test_rows.drop(columns=["churn"]))[:, 1]

    source, out = tmp_path / "test.parquet", tmp_path / "scores.parquet"
    test_rows.to_parquet(source, index=False)
    predict_file(source, out, scorer)
    batch = pd.read_parquet(out)["probability"].to_numpy()

    response = post(server, records(test_rows))
    assert response.status_code == 200, response.text
    http = np.array([p["probability"] for p in response.json()["predictions"]])

    assert np.array_equal(batch, in_memory)
    assert np.array_equal(http, in_memory)
    # and one record at a time, as a client calls it
    for i in (0, 11, 500):
        single = post(server, records(test_rows.iloc[[i]])[0]).json()["predictions"][0]
        alone = scorer.pipeline.predict_proba(test_rows.drop(columns=["churn"]).iloc[[i]])[0, 1]
        assert single["probability"] == alone


def test_the_model_is_loaded_once_at_start_up(server, served, test_rows):
    model = served / io.MODEL
    moved = model.rename(model.with_suffix(".moved"))
    try:
        response = post(server, records(test_rows.head(2)))
    finally:
        moved.rename(model)
    assert response.status_code == 200
