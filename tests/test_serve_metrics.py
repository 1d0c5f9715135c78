"""The HTTP service's /metrics (Prometheus' text format) and a bounded fuzz of request bodies.

The app runs in this process (FastAPI's TestClient), so hundreds of requests take seconds;
tests/test_serve.py covers the same app over real HTTP, and tests/soak.py under load.
"""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from tabpipe import io


@pytest.fixture(scope="module")
def app(trained_project):
    from tabpipe.serving.serve import create_app

    return create_app(root=trained_project)


@pytest.fixture(scope="module")
def client(app):
    from fastapi.testclient import TestClient

    # a 500 must come back as a status the test sees, not as an exception in the test
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="module")
def record(trained_project) -> dict:
    rows = pd.read_parquet(trained_project / io.split_path("test")).drop(columns="churn")
    row = rows.iloc[0]
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}


def scrape(client) -> dict[str, list]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = text_string_to_metric_families(response.text)
    return {family.name: family.samples for family in families}


def count(samples, name: str, **labels) -> float:
    return sum(
        s.value
        for s in samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def test_metrics_count_requests_by_path_and_status_and_time_them(app, record):
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        before = scrape(client)
        body = json.dumps(record, default=int)
        for _ in range(3):
            assert client.post("/predict", content=body).status_code == 200
        assert client.post("/predict", content=b"{not json").status_code == 422
        assert client.get("/health").status_code == 200
        assert client.get("/wp-admin/setup.php").status_code == 404
        after = scrape(client)

    def delta(family, name, **labels):
        now = count(after[family], name, **labels)
        return now - count(before.get(family, []), name, **labels)

    requests, total = "tabpipe_http_requests", "tabpipe_http_requests_total"
    assert delta(requests, total, path="/predict", method="POST", status="200") == 3
    assert delta(requests, total, path="/predict", method="POST", status="422") == 1
    assert delta(requests, total, path="/health", status="200") == 1
    assert delta(requests, total, path="other", status="404") == 1  # unknown paths: one label
    assert not any(s.labels["path"] == "/wp-admin/setup.php" for s in after[requests])
    latency = "tabpipe_http_request_duration_seconds"
    assert delta(latency, f"{latency}_count", path="/predict") == 4
    assert delta(latency, f"{latency}_sum", path="/predict") > 0
    inf_bucket = count(after[latency], f"{latency}_bucket", path="/predict", le="+Inf")
    assert inf_bucket == count(after[latency], f"{latency}_count", path="/predict")


def test_metrics_name_the_model_being_served(client):
    meta = client.get("/metadata").json()
    [sample] = scrape(client)["tabpipe_model_info"]
    assert sample.value == 1
    assert sample.labels["md5"] == meta["model"]["md5"]
    assert sample.labels["version"] == str(meta["model"].get("version") or "unregistered")
    assert sample.labels["artifact"] == meta["artifact"]


# ----------------------------------------------------------------------------- fuzz

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,  # the same examples on every run: a failure reproduces
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def records_like(record: dict):
    """A good record with up to three fields dropped or replaced by any JSON value, and at
    times an extra field: most are refused (422) and some are scored (200)."""

    @st.composite
    def build(draw):
        out = dict(record)
        for key in draw(st.lists(st.sampled_from(sorted(record)), max_size=3, unique=True)):
            if draw(st.booleans()):
                out[key] = draw(JSON)
            else:
                del out[key]
        if draw(st.integers(0, 4)) == 0:
            out.update(draw(st.dictionaries(st.text(max_size=8), SCALARS, min_size=1, max_size=2)))
        return out

    return build()


def assert_not_a_server_error(response) -> None:
    assert response.status_code < 500, response.text
    assert response.status_code in (200, 413, 422), response.text


@FUZZ
@given(body=st.binary(max_size=300))
def test_any_bytes_get_no_server_error(client, body):
    assert_not_a_server_error(client.post("/predict", content=body))


@FUZZ
@given(payload=JSON)
def test_any_json_value_gets_no_server_error(client, payload):
    assert_not_a_server_error(client.post("/predict", content=json.dumps(payload)))


def test_records_near_the_schema_get_no_server_error(client, record):
    statuses: list[int] = []

    @FUZZ
    @given(payload=records_like(record) | st.lists(records_like(record), max_size=4))
    def fuzz(payload):
        response = client.post("/predict", content=json.dumps(payload, default=int))
        assert_not_a_server_error(response)
        statuses.append(response.status_code)
        if response.status_code == 200:  # a record that passes is scored
            for prediction in response.json()["predictions"]:
                assert 0 <= prediction["probability"] <= 1

    fuzz()
    assert {200, 422} <= set(statuses)  # the fuzz reached the model, and its refusals
    errors = count(
        scrape(client)["tabpipe_http_requests"], "tabpipe_http_requests_total", status="500"
    )
    assert errors == 0
