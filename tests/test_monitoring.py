"""Monitoring's pure functions on small in-memory tables: statistics, cleaning, verdicts, report."""

from __future__ import annotations

import re
import xml.dom.minidom

import numpy as np
import pandas as pd
import pytest

from tabpipe.core import drift
from tabpipe.core.incoming import append_batches, batch_files
from tabpipe.errors import PipelineError
from tabpipe.monitoring.monitor import render_html, report_paths, write_reports

COLUMNS = {
    "target": "churn",
    "positive_label": "Yes",
    "negative_label": "No",
    "id_columns": ["customer_id"],
    "numeric": ["charges"],
    "categorical": ["contract"],
}


@pytest.fixture
def cfg(section):
    return section("monitor", min_rows=50)


@pytest.fixture
def clean_cfg(section):
    return section("clean")


def table(n: int, seed: int, shift: float = 1.0, churn_rate: float = 0.25, levels=None):
    """Raw-looking rows: charges ~ N(60, 15) * shift, three contract levels, Yes/No churn."""
    rng = np.random.default_rng(seed)
    levels = levels or {"Month-to-month": 0.5, "One year": 0.3, "Two year": 0.2}
    return pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "charges": rng.normal(60, 15, n) * shift,
            "contract": rng.choice(list(levels), size=n, p=list(levels.values())),
            "churn": np.where(rng.random(n) < churn_rate, "Yes", "No"),
        }
    )


def prepared(frame, clean_cfg, **kwargs):
    return drift.prepare_rows(frame, COLUMNS, clean_cfg, where="batch.csv", **kwargs)


def check(reference, batch, cfg, clean_cfg, scores=None):
    ref, cur = prepared(reference, clean_cfg), prepared(batch, clean_cfg)
    ref_scores = ref.rows["charges"].to_numpy() / 200
    cur_scores = cur.rows["charges"].to_numpy() / 200 if scores is None else scores
    return drift.check_batch(ref, cur, COLUMNS, ref_scores, cur_scores, 0.3, None, cfg)


# --- statistics ---------------------------------------------------------------------------------


def test_psi_is_zero_for_equal_shares_and_grows_with_the_shift():
    same = drift.psi(np.array([50, 30, 20]), np.array([100, 60, 40]))
    assert same == pytest.approx(0.0, abs=1e-12)
    small = drift.psi(np.array([50, 30, 20]), np.array([45, 33, 22]))
    large = drift.psi(np.array([50, 30, 20]), np.array([10, 30, 60]))
    assert 0 < small < 0.1 < 0.2 < large


def test_numeric_bins_are_the_reference_quantiles():
    reference = pd.Series(np.arange(1000, dtype=float))
    result = drift.numeric_drift("x", reference, reference.sample(300, random_state=0), 10, 50)
    assert len(result["bins"]) == 10  # deciles of the reference, no missing bin
    assert result["reference_share"] == pytest.approx([0.1] * 10, abs=0.002)
    assert result["p_value"] > 0.05 and result["psi"] < 0.1


def test_numeric_shift_is_significant_and_large():
    rng = np.random.default_rng(0)
    reference = pd.Series(rng.normal(60, 15, 3000))
    result = drift.numeric_drift("x", reference, reference.sample(500) * 1.2, 10, 50)
    assert result["p_value"] < 1e-10 and result["psi"] > 0.2
    assert result["mean"]["batch"] > result["mean"]["reference"]


def test_missing_values_get_their_own_bin():
    reference = pd.Series([1.0, 2.0, 3.0, 4.0] * 50)
    batch = pd.Series([1.0, 2.0, np.nan, np.nan] * 50)
    result = drift.numeric_drift("x", reference, batch, 4, 50)
    assert result["bins"][-1] == drift.MISSING
    assert result["batch_share"][-1] == pytest.approx(0.5)


def test_categorical_drift_counts_levels_never_seen_in_the_reference():
    reference = pd.Series(["a"] * 300 + ["b"] * 200)
    batch = pd.Series(["a"] * 150 + ["b"] * 100 + ["new"] * 50)
    result = drift.categorical_drift("c", reference, batch, 50)
    assert result["unseen_levels"] == {"new": 50}
    assert result["bins"] == ["a", "b", "new"]
    assert result["reference_share"][-1] == 0 and result["batch_share"][-1] == pytest.approx(
        1 / 6, abs=1e-6
    )
    assert result["p_value"] < 1e-6 and result["psi"] > 0.2


def test_too_few_rows_for_a_test_is_not_a_verdict(cfg):
    result = drift.numeric_drift("x", pd.Series(np.arange(500.0)), pd.Series([1.0] * 10), 10, 50)
    assert result["p_value"] is None
    assert drift.judge(result, cfg, 0.05) == "too_few"


@pytest.mark.parametrize(
    ("psi", "p_value", "status"),
    [
        (0.5, 1e-9, "drift"),
        (0.5, 0.2, "ok"),  # large but not significant: noise in a small batch
        (0.01, 1e-9, "ok"),  # significant but negligible: a large batch sees anything
        (0.15, 1e-9, "warn"),
    ],
)
def test_a_column_drifts_only_when_large_and_significant(cfg, psi, p_value, status):
    assert drift.judge({"psi": psi, "p_value": p_value}, cfg, 0.01) == status


def test_performance_alerts_when_the_metric_drops_beyond_the_tolerance(section):
    perf_cfg = section("monitor").performance
    rng = np.random.default_rng(1)
    y = pd.Series(rng.integers(0, 2, 400).astype(float))
    good = np.clip(y.to_numpy() * 0.6 + rng.random(400) * 0.5, 0, 1)
    ok = drift.performance(y, good, 0.5, {"roc_auc": 0.9}, perf_cfg)
    assert ok["status"] == "ok" and ok["batch"]["roc_auc"] > 0.9
    noise = rng.random(400)
    bad = drift.performance(y, noise, 0.5, {"roc_auc": 0.9}, perf_cfg)
    assert bad["status"] == "alert" and bad["drop"] == pytest.approx(0.9 - bad["batch"]["roc_auc"])
    one_class = drift.performance(pd.Series([1.0] * 10), noise[:10], 0.5, None, perf_cfg)
    assert one_class["status"] == "too_few"


# --- cleaning new rows --------------------------------------------------------------------------


def test_new_rows_are_cleaned_like_training(clean_cfg):
    raw = pd.DataFrame(
        {
            "Customer ID": [1, 2, 3],
            "Charges": ["$1,050.5", " 20", ""],
            "Contract": ["one  year", "Two year ", None],
            "Churn": ["yes", "No", None],
        }
    )
    levels = {"contract": ["Month-to-month", "One year", "Two year"]}
    out = prepared(raw, clean_cfg, levels=levels)
    assert out.rows.columns.tolist() == ["customer_id", "charges", "contract"]
    assert out.rows["charges"].tolist()[:2] == [1050.5, 20.0] and np.isnan(out.rows["charges"][2])
    assert out.rows["contract"].tolist()[:2] == ["One year", "Two year"]
    assert out.target.tolist()[:2] == [1.0, 0.0] and np.isnan(out.target[2])


def test_an_already_cleaned_table_passes_unchanged(clean_cfg):
    frame = pd.DataFrame(
        {"customer_id": [1, 2], "charges": [1.0, 2.0], "contract": ["a", "b"], "churn": [1, 0]}
    )
    out = prepared(frame, clean_cfg)
    assert out.target.tolist() == [1.0, 0.0]


def test_a_batch_without_the_target_is_unlabelled(clean_cfg):
    assert prepared(table(60, 0).drop(columns="churn"), clean_cfg).target is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.drop(columns="charges"), r"columns differ .*\(missing charges\)"),
        (lambda t: t.assign(extra=1), r"columns differ .*not in training: extra"),
        (lambda t: t.head(0), r"batch is empty \(0 rows\)"),
        (lambda t: t.assign(churn="Maybe"), r"label\(s\) training never saw: 'Maybe'"),
        (
            lambda t: t.assign(charges=["12", "abc"] * (len(t) // 2)),
            r"column 'charges' holds text \('abc'\)",
        ),
    ],
)
def test_bad_batches_fail_with_one_line_naming_the_problem(clean_cfg, change, message):
    with pytest.raises(PipelineError, match=message) as err:
        prepared(change(table(60, 0)), clean_cfg)
    assert str(err.value).startswith("batch.csv: ") and "\n" not in str(err.value)


# --- the whole check ----------------------------------------------------------------------------


def test_an_unchanged_batch_raises_no_alert(cfg, clean_cfg):
    report = check(table(3000, 0), table(500, 1), cfg, clean_cfg)
    assert report["status"] == "ok" and report["alerts"] == []
    assert report["settings"]["tests"] == 4  # two features, the score and the target


def test_a_shifted_feature_is_named_and_sorted_first(cfg, clean_cfg):
    report = check(table(3000, 0), table(500, 1, shift=1.3), cfg, clean_cfg)
    assert report["status"] == "alert"
    assert report["features"][0]["column"] == "charges"
    assert report["features"][0]["status"] == "drift"
    assert any(a.startswith("feature 'charges'") for a in report["alerts"])


def test_a_new_category_level_is_named(cfg, clean_cfg):
    levels = {"Month-to-month": 0.4, "One year": 0.2, "Two year": 0.2, "Three year": 0.2}
    report = check(table(3000, 0), table(500, 1, levels=levels), cfg, clean_cfg)
    contract = next(r for r in report["features"] if r["column"] == "contract")
    assert contract["status"] == "drift" and contract["unseen_levels"]["Three year"] > 50
    assert any("feature 'contract'" in a and "Three year" in a for a in report["alerts"])


def test_a_changed_churn_rate_is_a_target_alert(cfg, clean_cfg):
    report = check(table(3000, 0), table(500, 1, churn_rate=0.5), cfg, clean_cfg)
    assert report["target"]["status"] == "drift"
    assert any(a.startswith("target 'churn'") for a in report["alerts"])


def test_prediction_drift_is_checked_on_the_scores(cfg, clean_cfg):
    batch = table(500, 1)
    report = check(table(3000, 0), batch, cfg, clean_cfg, scores=np.full(len(batch), 0.9))
    assert report["prediction"]["status"] == "drift"
    assert any(a.startswith("prediction 'score'") for a in report["alerts"])


def test_a_batch_below_the_floor_gets_no_verdict(cfg, clean_cfg):
    with pytest.raises(drift.BatchTooSmall, match=r"49 rows, fewer than monitor.min_rows=50"):
        check(table(3000, 0), table(49, 1), cfg, clean_cfg)


# --- the report ---------------------------------------------------------------------------------


def test_html_report_is_self_contained_and_plots_the_drifted_feature(cfg, clean_cfg):
    report = check(table(3000, 0), table(500, 1, shift=1.3), cfg, clean_cfg)
    report |= {"batch": "b.csv", "reference": "train.parquet", "model": "models/model.joblib"}
    page = render_html(report)
    assert "<script" not in page and not re.search(r"(src|href)=\"?https?:", page)
    svgs = re.findall(r"<svg.*?</svg>", page, flags=re.S)
    assert any('aria-label="distribution of charges"' in svg for svg in svgs)
    for svg in svgs:
        xml.dom.minidom.parseString(svg)  # well-formed
    rows = re.findall(r"<tr><td>feature</td><td><b>(\w+)</b>", page)
    assert rows == [r["column"] for r in report["features"]] and rows[0] == "charges"


def test_reports_are_named_after_the_batch_and_written_together(tmp_path, cfg, clean_cfg):
    report = check(table(3000, 0), table(500, 1), cfg, clean_cfg)
    report |= {"batch": "b.csv", "reference": "r", "model": "m"}
    json_path, html_path = report_paths(tmp_path, tmp_path / "2025-01-31.batch.parquet")
    assert json_path.name == "2025-01-31.json" and html_path.name == "2025-01-31.html"
    write_reports(report, json_path, html_path)
    assert json_path.exists() and html_path.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left


# --- incoming batches (fetch) -------------------------------------------------------------------


def test_incoming_batches_are_appended_with_the_source_types():
    raw = table(10, 0).assign(tenure=np.arange(10, dtype="int64"))
    batch = table(5, 1).assign(tenure=np.arange(5, dtype="float64"))[list(raw.columns)[::-1]]
    out = append_batches(raw, [("b.parquet", batch)])
    assert len(out) == 15 and out.columns.tolist() == raw.columns.tolist()
    assert out["tenure"].dtype == "int64"


def test_an_incoming_batch_with_other_columns_is_refused():
    raw = table(10, 0)
    with pytest.raises(PipelineError, match=r"b.parquet: its columns differ .*missing charges"):
        append_batches(raw, [("b.parquet", raw.drop(columns="charges"))])


def test_an_incoming_batch_must_be_tracked_by_dvc(tmp_path):
    (tmp_path / "README.md").write_text("x")
    table(5, 0).to_parquet(tmp_path / "b.parquet")
    with pytest.raises(PipelineError, match=r"b.parquet is not tracked by DVC.*dvc add"):
        batch_files(tmp_path)
    (tmp_path / "b.parquet.dvc").write_text("outs: []\n")
    assert batch_files(tmp_path) == [tmp_path / "b.parquet"]
    assert batch_files(tmp_path / "absent") == []
