"""Batch scoring: the training cleaning on raw rows, schema checks, rejects, chunks."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tabpipe import io
from tabpipe.errors import PipelineError
from tabpipe.serving.predict import describe, load_scorer, predict_file, rejects_path


@pytest.fixture(scope="module")
def scorer(trained_project):
    return load_scorer(trained_project)


@pytest.fixture(scope="module")
def test_rows(trained_project) -> pd.DataFrame:
    return pd.read_parquet(trained_project / io.split_path("test"))


def expected(scorer, rows: pd.DataFrame) -> np.ndarray:
    return scorer.pipeline.predict_proba(rows[scorer.schema.features])[:, 1]


def test_scores_the_test_split_like_the_in_memory_pipeline(scorer, test_rows, tmp_path):
    out = tmp_path / "scores.csv"
    source = tmp_path / "test.parquet"
    test_rows.to_parquet(source, index=False)
    summary = predict_file(source, out, scorer)
    scores = pd.read_csv(out)
    assert list(scores.columns) == ["rownames", "probability", "label"]
    assert summary.scored == len(test_rows) and summary.rejected == 0
    assert scores["rownames"].tolist() == test_rows["rownames"].tolist()
    assert np.array_equal(scores["probability"].to_numpy(), expected(scorer, test_rows))
    labels = np.where(scores["probability"] >= scorer.threshold, "Yes", "No")
    assert (scores["label"] == labels).all()
    assert "0 rejected" in describe(summary)
    assert pd.read_csv(rejects_path(out)).empty


def messy(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows as a careless export writes them: other column names, text numbers, odd labels."""
    out = rows.drop(columns=["churn"]).copy()
    out["contract"] = out["contract"].str.upper().str.replace(" ", "  ") + " "
    out["monthly_charges"] = " $" + out["monthly_charges"].map(repr)
    return out.rename(columns={"monthly_charges": "Monthly Charges", "tenure": "Tenure "})


def test_raw_rows_get_the_training_cleaning(scorer, test_rows, tmp_path):
    source = tmp_path / "raw.csv"
    messy(test_rows).to_csv(source, index=False)  # the target is absent: that is allowed
    out = tmp_path / "scores.parquet"
    summary = predict_file(source, out, scorer)
    scores = pd.read_parquet(out)
    assert summary.rejected == 0
    assert np.array_equal(scores["probability"].to_numpy(), expected(scorer, test_rows))


def test_bad_rows_go_to_the_rejects_file_with_their_reason(scorer, test_rows, tmp_path):
    rows = test_rows.head(50).drop(columns=["churn"]).astype({"tenure": "object"})
    rows.loc[3, "tenure"] = "twelve"
    rows.loc[7, "contract"] = "Three year"
    rows.loc[9, "total_charges"] = np.nan  # missing is fine: training imputed it
    source, out = tmp_path / "rows.csv", tmp_path / "scores.csv"
    rows.to_csv(source, index=False)
    summary = predict_file(source, out, scorer)
    assert (summary.scored, summary.rejected) == (48, 2)
    assert summary.kinds == {"not a number": 1, "unseen category": 1}
    rejects = pd.read_csv(rejects_path(out))
    assert rejects["row"].tolist() == [3, 7]
    assert rejects["reason"][0] == "tenure: 'twelve' is not a number"
    assert rejects["reason"][1].startswith("contract: unseen category 'Three year' (known: ")
    assert rejects["rownames"].tolist() == rows.loc[[3, 7], "rownames"].tolist()
    assert "2 rejected" in describe(summary) and "unseen category: 1" in describe(summary)
    assert rows.loc[9, "rownames"] in pd.read_csv(out)["rownames"].tolist()


def test_a_missing_column_stops_before_anything_is_written(scorer, test_rows, tmp_path):
    source, out = tmp_path / "rows.parquet", tmp_path / "scores.csv"
    test_rows.drop(columns=["tenure", "contract"]).to_parquet(source, index=False)
    out.write_text("earlier output\n")
    with pytest.raises(PipelineError, match=r"missing column\(s\) tenure, contract"):
        predict_file(source, out, scorer)
    assert out.read_text() == "earlier output\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.parquet", "scores.csv"]


def test_chunks_give_the_same_rows_and_scores(scorer, test_rows, tmp_path):
    source = tmp_path / "test.parquet"
    test_rows.to_parquet(source, index=False)
    whole, chunked = tmp_path / "whole.parquet", tmp_path / "chunked.parquet"
    predict_file(source, whole, scorer)
    predict_file(source, chunked, scorer, chunk_rows=100)
    a, b = pd.read_parquet(whole), pd.read_parquet(chunked)
    assert a["rownames"].tolist() == b["rownames"].tolist()
    assert (a["label"] == b["label"]).all()
    # a linear model's dot product may round its last bit differently in a smaller BLAS call
    assert np.allclose(a["probability"], b["probability"], rtol=0, atol=1e-15)


def test_the_command_prints_one_line_and_exit_status_1_on_bad_input(trained_project, tmp_path):
    missing = tmp_path / "absent.csv"
    result = subprocess.run(
        [sys.executable, "-m", "tabpipe.cli", "predict", str(missing), str(tmp_path / "o.csv")],
        cwd=trained_project,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: [predict] {missing} does not exist. Fix: give the path of a CSV or Parquet file"
    ]


def test_a_chunk_with_every_row_rejected_still_gives_a_valid_file(scorer, test_rows, tmp_path):
    rows = test_rows.head(12).drop(columns=["churn"]).astype({"tenure": "str"})
    rows.loc[:3, "tenure"] = "unknown"  # the whole first chunk of 4
    source, out = tmp_path / "rows.parquet", tmp_path / "scores.parquet"
    rows.to_parquet(source, index=False)
    summary = predict_file(source, out, scorer, chunk_rows=4)
    assert (summary.scored, summary.rejected) == (8, 4)
    scores = pd.read_parquet(out)
    assert scores["rownames"].tolist() == rows["rownames"].tolist()[4:]
    assert scores["probability"].between(0, 1).all()
