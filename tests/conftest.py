"""Small in-memory fixtures shared by the unit tests (no files, no DVC)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tabpipe import config

PROJECT = Path(__file__).resolve().parents[1]
CONF_DIR = PROJECT / "conf"


@pytest.fixture
def section():
    """Build one typed config section from its schema: `section("split", test_size=0.3)`."""

    def build(name: str, **values):
        return config.load_section(name, params={name: values})

    return build


@pytest.fixture
def messy_churn() -> pd.DataFrame:
    """A raw churn-like table with the usual mess.

    Row c5 appears twice, spelled differently but equal once tidied; c6 has no label.
    Labels differ in case and spaces; charges are text with spaces, '$', ',' and one blank.
    After cleaning: 7 rows, 2 'Yes' (c1, c2) and 5 'No'.
    """
    return pd.DataFrame(
        {
            "customerID": ["c1", "c2", "c3", "c4", "c5", "c5", "c6", "c7", "c8"],
            "Monthly Charges": [
                " 29.85",
                "56.95",
                "$1,053.50",
                "",
                "42.30",
                " 42.30",
                "70.70",
                "99.65",
                "20",
            ],
            "Contract": [
                "Month-to-month",
                "month-to-month ",
                "Two year",
                "Two  year",
                "One year",
                "one year",
                "Month-to-month",
                None,
                "Two year",
            ],
            "SeniorCitizen": [0, 1, 0, 0, 1, 1, 0, 0, 0],
            "Churn": ["Yes", " yes", "No", "No", "No", "no", None, "NO", "No"],
        }
    )


@pytest.fixture
def imbalanced() -> tuple[pd.DataFrame, pd.Series]:
    """40 majority (0) and 10 minority (1) training rows of numeric features.

    The classes live in separate ranges (minority charges 80-120, majority 20-60), so a
    synthetic row built from anything but minority rows would show. One majority charge is NaN.
    """
    rng = np.random.default_rng(7)
    n0, n1 = 40, 10
    X = pd.DataFrame(
        {
            "tenure": np.concatenate([rng.integers(1, 30, n0), rng.integers(40, 72, n1)]),
            "charges": np.concatenate([rng.uniform(20, 60, n0), rng.uniform(80, 120, n1)]),
        }
    ).astype({"tenure": "int64"})
    X.loc[3, "charges"] = np.nan
    y = pd.Series([0] * n0 + [1] * n1, name="churn")
    return X, y


@pytest.fixture(scope="session")
def trained_project(tmp_path_factory) -> Path:
    """A project trained with the fast fixed model (data/, models/, metrics/): this worker's copy
    of the one the session builds once (tests/prepared.py, kind "trained")."""
    from tests.prepared import clone

    return clone("trained", tmp_path_factory.mktemp("trained") / "project", tmp_path_factory)[0]


# The slowest files (minutes each, measured with `--durations`), run first: `make test` hands
# whole files to two workers in this order (--dist loadfile --no-loadscope-reorder), so a long
# file never starts last and keeps one worker busy alone. A file too long for that is split in
# two (tests/test_own_data_files_dvc.py). The first two files need
# different prepared projects (tests/prepared.py), so neither worker waits for the other's build.
LONGEST_FIRST = (
    "test_docs_commands.py",
    "test_own_data_dvc.py",
    "test_own_data_files_dvc.py",
    "test_reproducible_env.py",
    "test_pipeline_dvc.py",
    "test_failed_runs_dvc.py",
    "test_tuning_resume_dvc.py",
    "test_retrain_dvc.py",
    "test_registry.py",
    "test_report.py",
    "test_train_stage.py",
    "test_remote.py",
    "test_ray_tuning.py",
    "test_browser.py",
    "test_onnx_export.py",
    "test_ci.py",
    "test_fetch_interrupt_dvc.py",
    "test_stage_errors.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the other files keep their order
