"""The model over HTTP: FastAPI, served by uvicorn (`make serve`).

The request model is generated from the training schema (column roles from columns.json,
labels from the fitted encoder), so a wrong type, a missing field, an unknown column or a
category the model never saw gets a 422 that names the field. Validated records go through
the same `Scorer` as batch scoring (tabpipe.serving.predict), so the two cannot drift apart.
The model is loaded once, when the app is built. `GET /metrics` serves Prometheus' text format:
requests by path and status, a latency histogram by path, and the model's version.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from tabpipe import io
from tabpipe.serving.predict import InputSchema, Scorer, load_scorer, prepare

MAX_BODY_BYTES = 4 * 2**20
MAX_RECORDS = 10_000


def _label_normalizer(known: list[str]):
    """Map a label to its training spelling (strip, collapse spaces, ignore case) as `clean` did."""
    spelling = {k.casefold(): k for k in known}

    def normalize(value: Any) -> Any:
        if value is None or isinstance(value, float) and math.isnan(value):
            return None
        if isinstance(value, bool):
            return value  # let the Literal reject it: a flag is not a category
        if isinstance(value, int | float):
            value = str(value)
        if isinstance(value, str):
            text = " ".join(value.split())
            return spelling.get(text.casefold(), text) if text else None
        return value

    return normalize


def request_model(schema: InputSchema):
    """A pydantic model of one input record, generated from the training schema."""
    from pydantic import BeforeValidator, ConfigDict, Field, create_model

    fields: dict[str, Any] = {}
    for i, column in enumerate(schema.id_columns):
        fields[f"id_{i}"] = (
            str | int | None,
            Field(default=None, alias=column, description="id column: passed through"),
        )
    for i, column in enumerate(schema.features):
        if column in schema.numeric:
            kind = Annotated[float, Field(allow_inf_nan=False)] | None
            info = Field(alias=column, description="number (null: missing)")
        else:
            known = schema.categories.get(column)
            if known:
                kind = Annotated[
                    Literal[tuple(known)] | None, BeforeValidator(_label_normalizer(known))
                ]
            else:
                kind = str | None
            info = Field(alias=column, description="category (null: missing)")
        fields[f"f_{i}"] = (kind, info)
    return create_model(
        "Record",
        __config__=ConfigDict(extra="forbid", populate_by_name=False),
        **fields,
    )


def _errors(err) -> list[dict[str, Any]]:
    """pydantic's errors located from `body` (then the record's index in a list), JSON-safe."""
    out = []
    for item in err.errors(include_url=False, include_context=False):
        item["loc"] = ("body", *item["loc"])
        value = item.get("input")
        if isinstance(value, dict | list):
            item.pop("input")  # the whole record: the field named in `loc` says enough
        elif isinstance(value, float) and not math.isfinite(value):
            item["input"] = str(value)  # e.g. 1e999; JSON has no Infinity
        out.append(item)
    return out


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _plain(value: Any) -> Any:
    """NumPy scalars to Python ones (floats stay exact: JSON keeps every digit of a repr)."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


# Request paths counted by name; any other path is counted as "other", so a scanner probing
# random URLs cannot grow the number of time series without bound.
PATHS = ("/predict", "/health", "/metadata", "/metrics", "/docs", "/openapi.json")
# Latency buckets (seconds): a single record takes ~25 ms here, a 10,000-record batch ~1 s.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Telemetry:
    """Prometheus metrics of one app, in a registry of their own (not the process' global one)."""

    def __init__(self, info: dict[str, str]) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter(
            "tabpipe_http_requests",
            "HTTP requests answered, by path, method and status code",
            ("path", "method", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "tabpipe_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response, by path",
            ("path",),
            buckets=BUCKETS,
            registry=self.registry,
        )
        model = Gauge(
            "tabpipe_model_info",
            "The model being served (always 1; the labels say which)",
            tuple(info),
            registry=self.registry,
        )
        model.labels(**info).set(1)

    def exposition(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Pure ASGI middleware that counts and times every HTTP request, errors included."""

    def __init__(self, app, telemetry: Telemetry) -> None:
        self.app, self.telemetry = app, telemetry

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"] if scope["path"] in PATHS else "other"
        status = 500  # until a response starts: an exception that escapes is a 500

        async def sending(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        start = time.perf_counter()
        try:
            await self.app(scope, receive, sending)
        finally:
            self.telemetry.latency.labels(path).observe(time.perf_counter() - start)
            self.telemetry.requests.labels(path, scope["method"], str(status)).inc()


def create_app(
    scorer: Scorer | None = None,
    root: Path = Path("."),
    max_body_bytes: int = MAX_BODY_BYTES,
    max_records: int = MAX_RECORDS,
) -> FastAPI:
    """The FastAPI app, with the model loaded now (once) rather than per request."""
    import pandas as pd
    from pydantic import TypeAdapter, ValidationError

    from tabpipe.serving.model_card import facts

    scorer = scorer or load_scorer(root)
    schema = scorer.schema
    record = request_model(schema)
    one = TypeAdapter(record)
    many = TypeAdapter(list[record])
    info = facts(root)
    test = (info.get("metrics") or {}).get("test", {})
    version = info["model"].get("version")
    record_schema = record.model_json_schema(by_alias=True)
    metadata = {
        "artifact": info["artifact"],
        "model": info["model"],
        "data": info["data"],
        "metrics": {"test": test},
        "threshold": scorer.threshold,
        "class_weights": scorer.class_weights,
        "labels": {"positive": schema.positive_label, "negative": schema.negative_label},
        "input_schema": record_schema,
        "limits": {"max_body_bytes": max_body_bytes, "max_records": max_records},
    }

    app = FastAPI(
        title=f"{info['artifact']} scoring service",
        version=str(version or "unregistered"),
        description="Scores rows like the training data; see GET /metadata for the schema.",
    )
    telemetry = Telemetry(
        {
            "artifact": str(info["artifact"]),
            "version": str(version or "unregistered"),
            "md5": str(info["model"].get("md5") or ""),
        }
    )
    app.state.telemetry = telemetry
    app.add_middleware(MetricsMiddleware, telemetry=telemetry)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        body, content_type = telemetry.exposition()
        return Response(body, media_type=content_type)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "model_loaded": True, "version": version}

    @app.get("/metadata")
    def get_metadata() -> dict[str, Any]:
        return metadata

    body_schema = {
        "oneOf": [
            {"$ref": "#/components/schemas/Record"},
            {"type": "array", "items": {"$ref": "#/components/schemas/Record"}},
        ]
    }

    @app.post(
        "/predict",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": body_schema}},
                "description": "one record, or a list of records",
            }
        },
        responses={413: {"description": "body too large"}, 422: {"description": "invalid input"}},
    )
    async def predict(request: Request) -> JSONResponse:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_body_bytes:
            raise HTTPException(413, f"request body is larger than {max_body_bytes} bytes")
        body = bytearray()
        async for part in request.stream():
            body += part
            if len(body) > max_body_bytes:
                raise HTTPException(413, f"request body is larger than {max_body_bytes} bytes")
        try:
            payload = json.loads(body, parse_constant=_refuse_constant)
        except ValueError as err:
            raise RequestValidationError(
                [{"type": "json_invalid", "loc": ("body",), "msg": f"body is not JSON: {err}"}]
            ) from None
        single = isinstance(payload, dict)
        if not single and not isinstance(payload, list):
            raise RequestValidationError(
                [
                    {
                        "type": "model_type",
                        "loc": ("body",),
                        "msg": "body must be a JSON object (one record) or an array of records",
                    }
                ]
            )
        if not single and len(payload) > max_records:
            raise HTTPException(413, f"{len(payload)} records; at most {max_records} per request")
        try:
            records = [one.validate_python(payload)] if single else many.validate_python(payload)
        except ValidationError as err:
            raise RequestValidationError(_errors(err)) from None
        frame = pd.DataFrame(
            [r.model_dump(by_alias=True) for r in records],
            columns=[*schema.id_columns, *schema.features],
        )
        prepared = prepare(frame, schema)
        if len(prepared.rejected):
            raise RequestValidationError(
                [
                    {
                        "type": "value_error",
                        "msg": reason,
                        "loc": ("body", *(() if single else (int(i),)), reason.split(":", 1)[0]),
                    }
                    for i, reason in prepared.rejected.items()
                ]
            )
        result = scorer.score(prepared.rows)
        predictions = [
            {k: _plain(v) for k, v in row.items()} for row in result.to_dict(orient="records")
        ]
        content = {"version": version, "threshold": scorer.threshold, "predictions": predictions}
        return JSONResponse(content)

    original_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = original_openapi()
            components = spec.setdefault("components", {}).setdefault("schemas", {})
            documented = record.model_json_schema(
                by_alias=True, ref_template="#/components/schemas/{model}"
            )
            components.update(documented.pop("$defs", {}))
            components["Record"] = documented
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi
    return app


def run(
    host: str = "127.0.0.1",
    port: int = 8000,
    log_level: str = "info",
    max_body_bytes: int = MAX_BODY_BYTES,
) -> None:
    """Build the app (loading the model) and serve it with uvicorn until interrupted."""
    import uvicorn

    app = create_app(max_body_bytes=max_body_bytes)
    print(
        f"serve: {io.MODEL} on http://{host}:{port} (docs: http://{host}:{port}/docs)", flush=True
    )
    uvicorn.run(app, host=host, port=port, log_level=log_level)
