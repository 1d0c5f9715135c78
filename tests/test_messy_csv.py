"""Messy CSVs: real files as spreadsheets and other tools write them, read or refused clearly."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pandas as pd
import pytest
import yaml

from tabpipe.config import load_section
from tabpipe.core import sources
from tabpipe.errors import PipelineError

N = 400
HINT = """`-S "data.sep=';'"`"""  # quoted for Hydra (`;` is its syntax) inside the shell's quotes
RNG = np.random.default_rng(0)
TABLE = pd.DataFrame(
    {
        "id": [f"c{i}" for i in range(N)],
        "ville": RNG.choice(["Zürich", "Genève", "Köln", "Besançon"], N),
        "montant": RNG.normal(1000, 300, N).round(2),
        "visites": RNG.integers(0, 9, N),
        "note": RNG.choice(["très bien; merci", "ok", "« pas mal », bof", 'dit "oui"'], N),
        "label": RNG.choice(["Oui", "Non"], N),
    }
)


def data(**values):
    return load_section("data", params={"data": {"target": "label", "source": "csv", **values}})


def read(path, **values) -> tuple[pd.DataFrame, sources.CsvDialect]:
    info: dict = {}
    frame = sources.load(data(path=str(path), **values), info)
    return frame, info["csv"]


def assert_same_table(frame: pd.DataFrame, table: pd.DataFrame = TABLE) -> None:
    assert list(frame.columns) == list(table.columns)
    pd.testing.assert_frame_equal(frame, table, check_dtype=False)
    assert frame["montant"].dtype == "float64"  # numbers, not text and not 100 times too large


# ----------------------------------------------------------------------------- detected


def test_a_european_spreadsheet_export(tmp_path):
    """Excel in French/German locale: ';', decimal comma, cp1252, CRLF, a euro sign."""
    table = TABLE.assign(ville=TABLE["ville"].where(TABLE.index % 7 > 0, "Fürth €"))
    path = tmp_path / "export.csv"
    path.write_bytes(
        table.to_csv(sep=";", decimal=",", index=False, lineterminator="\r\n").encode("cp1252")
    )
    frame, dialect = read(path)
    assert (dialect.sep, dialect.decimal, dialect.encoding) == (";", ",", "cp1252")
    assert dialect.detected == ("sep", "encoding", "decimal")
    assert_same_table(frame, table)


def test_decimal_comma_with_dot_thousands(tmp_path):
    """'1.234,50' is one thousand two hundred...: not 1.2345 and not 123450."""
    path = tmp_path / "amounts.csv"
    rows = ["id;betrag;label"] + [
        f"r{i};{i}.234,50;{'ja' if i % 2 else 'nein'}" for i in range(1, 9)
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    frame, dialect = read(path)
    assert (dialect.decimal, dialect.thousands) == (",", ".")
    assert frame["betrag"].tolist() == [i * 1000 + 234.5 for i in range(1, 9)]


@pytest.mark.parametrize(("sep", "name"), [("\t", "tab.tsv"), ("|", "pipe.txt"), (";", "semi.csv")])
def test_tab_pipe_and_semicolon(tmp_path, sep, name):
    path = tmp_path / name
    path.write_text(TABLE.to_csv(sep=sep, index=False), encoding="utf-8")
    frame, dialect = read(path)
    assert (dialect.sep, dialect.decimal, dialect.encoding) == (sep, ".", "utf-8")
    assert_same_table(frame)


def test_quoted_fields_with_delimiters_quotes_and_newlines(tmp_path):
    table = TABLE.assign(note=TABLE["note"].where(TABLE.index % 5 > 0, "deux\nlignes, ici"))
    path = tmp_path / "quoted.csv"
    table.to_csv(path, index=False, quoting=csv.QUOTE_MINIMAL)
    assert '"« pas mal », bof"' in path.read_text(encoding="utf-8")
    frame, dialect = read(path)
    assert (dialect.sep, dialect.quotechar) == (",", '"')
    assert_same_table(frame, table)


def test_utf8_with_a_byte_order_mark(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + TABLE.to_csv(sep=";", index=False).encode("utf-8"))
    frame, dialect = read(path)
    assert dialect.bom and dialect.encoding == "utf-8-sig"
    assert frame.columns[0] == "id"  # not '\ufeffid'
    assert_same_table(frame)


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252"])
def test_latin1_and_cp1252(tmp_path, encoding):
    table = TABLE
    if encoding == "cp1252":  # bytes 0x80-0x9f: the euro sign and typographic quotes
        table = TABLE.assign(note=TABLE["note"].replace("ok", "“ok” 5 €"))
    path = tmp_path / f"{encoding}.csv"
    path.write_bytes(table.to_csv(index=False).encode(encoding))
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")
    frame, dialect = read(path)
    # Latin-1 text without 0x80-0x9f decodes the same under cp1252, its superset
    assert dialect.encoding == "cp1252"
    assert_same_table(frame, table)


def test_a_non_utf8_byte_after_the_sniffed_sample_is_read_as_cp1252(tmp_path):
    lines = ["id,ville,label"] + [f"r{i},Paris,{'Oui' if i % 2 else 'Non'}" for i in range(6000)]
    lines.append("r6000,Besançon,Oui")
    path = tmp_path / "late.csv"
    path.write_bytes(("\n".join(lines) + "\n").encode("cp1252"))
    assert path.stat().st_size > sources.SNIFF_BYTES
    frame, dialect = read(path)
    assert dialect.encoding == "cp1252" and frame["ville"].iloc[-1] == "Besançon"


def test_a_url_csv_is_sniffed_like_a_file():
    content = TABLE.to_csv(sep=";", decimal=",", index=False).encode("cp1252")
    info: dict = {}
    frame = sources.read_csv(io.BytesIO(content), "data.url 'x'", data(), info)
    assert (info["csv"].sep, info["csv"].decimal) == (";", ",")
    assert_same_table(frame)


# ----------------------------------------------------------------------------- forced


def test_given_keys_win_over_detection(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(TABLE.to_csv(sep="|", index=False).encode("latin-1"))
    frame, dialect = read(path, sep="|", encoding="latin-1", decimal=".")
    assert dialect.detected == ()
    assert_same_table(frame)
    # the tab can be given as a word on the command line
    (tmp_path / "t.tsv").write_text(TABLE.to_csv(sep="\t", index=False), encoding="utf-8")
    frame, dialect = read(tmp_path / "t.tsv", sep="tab")
    assert dialect.sep == "\t" and dialect.detected == ("encoding", "decimal")


def test_a_wrong_encoding_given_is_named(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(TABLE.to_csv(index=False).encode("latin-1"))
    with pytest.raises(PipelineError, match=r"is not utf-8 text .*-S data\.encoding=cp1252"):
        read(path, encoding="utf-8")


# ----------------------------------------------------------------------------- refused


def test_one_column_names_the_likely_delimiter_and_the_key(tmp_path):
    path = tmp_path / "semi.csv"
    path.write_text(TABLE.drop(columns="note").to_csv(sep=";", index=False), encoding="utf-8")
    with pytest.raises(PipelineError) as err:
        read(path, sep=",")
    message = str(err.value)
    assert "parsed to one column ('id;ville;montant;visites;label')" in message
    assert "sep=',' (data.sep)" in message
    assert "looks separated by ';'" in message and HINT in message


def test_a_wrong_delimiter_that_breaks_the_parser_names_the_likely_one(tmp_path):
    """Commas inside the values of a ';' file: the parser fails before there is one column."""
    path = tmp_path / "semi.csv"
    path.write_text(TABLE.to_csv(sep=";", index=False), encoding="utf-8")
    with pytest.raises(PipelineError) as err:
        read(path, sep=",")
    message = str(err.value)
    assert "is not a readable CSV file with sep=',' (data.sep)" in message
    assert "header looks separated by ';'" in message and HINT in message
    assert "\n" not in message


def test_one_column_detected_names_the_likely_delimiter(tmp_path):
    path = tmp_path / "spaces.csv"
    path.write_text("id amount label\na 1.5 Yes\nb 2.5 No\n", encoding="utf-8")
    with pytest.raises(PipelineError, match=r"one column .*\(detected\).*looks separated by ' '"):
        read(path)


def test_a_single_column_file_is_refused(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("label\nYes\nNo\n", encoding="utf-8")
    with pytest.raises(PipelineError, match=r"no other delimiter shows .*target and at least one"):
        read(path)


def test_an_empty_file_is_refused(tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"\n\n")
    with pytest.raises(PipelineError, match=r"data\.path '.*empty\.csv' is empty"):
        read(tmp_path / "empty.csv")


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({"sep": ";;"}, r"data\.sep ';;' is not one character"),
        ({"decimal": ";"}, r"data\.decimal ';' is not a decimal mark"),
        ({"sep": ",", "decimal": ","}, r"data\.sep and data\.decimal are both ','"),
        ({"encoding": "klingon"}, r"data\.encoding 'klingon' is not an encoding"),
    ],
)
def test_bad_keys_are_refused_before_reading(tmp_path, values, match):
    path = tmp_path / "t.csv"
    TABLE.to_csv(path, index=False)
    with pytest.raises(PipelineError, match=match):
        sources.check(data(path=str(path), **values))


# ----------------------------------------------------------------------------- the stage


def test_fetch_reports_the_dialect_in_its_metrics_and_one_line(tmp_path, monkeypatch, capsys):
    from tabpipe.stages import fetch

    path = tmp_path / "export.csv"
    path.write_bytes(TABLE.to_csv(sep=";", decimal=",", index=False).encode("cp1252"))
    section = {"source": "csv", "path": str(path), "target": "label", "watch": str(path)}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"data": section}))
    monkeypatch.chdir(tmp_path)
    fetch.main()
    report = json.loads((tmp_path / "metrics/fetch.json").read_text())
    assert report["csv"] == {
        "sep": ";",
        "encoding": "cp1252",
        "decimal": ",",
        "thousands": None,
        "quotechar": '"',
        "bom": False,
        "detected": ["sep", "encoding", "decimal"],
    }
    lines = [x for x in capsys.readouterr().out.splitlines() if "CSV read with" in x]
    assert lines == [
        "fetch: CSV read with sep=';' decimal=',' encoding=cp1252 (detected: sep, encoding, "
        "decimal); force with -S data.sep=..."
    ]
    raw = pd.read_parquet(tmp_path / "data/raw/data.parquet")
    assert_same_table(raw)
