"""The retraining loop's checks that need no registry: names, and what a labelled batch must be."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tabpipe.errors import PipelineError
from tabpipe.monitoring.retrain import batch_name, check_labelled_batch
from tests.dvc_repo import fast_params

COLUMNS = {
    "target": "churn",
    "positive_label": "Yes",
    "negative_label": "No",
    "id_columns": ["rownames"],
    "numeric": ["tenure"],
    "categorical": ["contract"],
}
RAW_COLUMNS = ["rownames", "churn", "tenure", "contract"]


@pytest.fixture
def repo(tmp_path):
    fast_params(tmp_path / "params.yaml")
    (tmp_path / "data/clean").mkdir(parents=True)
    (tmp_path / "data/clean/columns.json").write_text(json.dumps(COLUMNS))
    return tmp_path


def batch(**changes) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "rownames": [1, 2, 3],
            "churn": ["Yes", "No", "No"],
            "tenure": [1, 20, 40],
            "contract": ["Month-to-month", "One year", "Two year"],
        }
    )
    return frame.assign(**changes)


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("data/2025-06.parquet", "2025-06"),
        ("x/new batch (2).csv", "new-batch-2"),
        ("..csv", "batch"),
    ],
)
def test_batch_names_are_safe_file_and_experiment_names(path, name):
    assert batch_name(path) == name


def test_a_labelled_batch_with_the_raw_columns_passes(repo):
    check_labelled_batch(batch(), RAW_COLUMNS, "b.csv", repo)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (batch().drop(columns="churn"), r"columns differ .*missing churn"),
        (batch(extra=1), r"columns differ .*not in the training data extra"),
        (batch(churn=["Yes", None, "No"]), r"1 row\(s\) have no 'churn' label"),
        (batch(churn=["Yes", "Maybe", "No"]), r"label\(s\) training never saw: 'Maybe'"),
        (batch(tenure=["1", "x", "3"]), r"column 'tenure' holds text \('x'\)"),
    ],
)
def test_a_batch_that_cannot_train_is_refused_with_one_line(repo, frame, message):
    with pytest.raises(PipelineError, match=message) as err:
        check_labelled_batch(frame, RAW_COLUMNS, "b.csv", repo)
    assert str(err.value).startswith("b.csv: ") and "\n" not in str(err.value)
