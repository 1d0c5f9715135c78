"""The quality benchmark's scoring rules (benchmarks/quality.py): ties, signs, targets."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[1] / "benchmarks/quality.py"
spec = importlib.util.spec_from_file_location("quality_benchmark", PATH)
quality = importlib.util.module_from_spec(spec)
spec.loader.exec_module(quality)


def table(task: str, pipeline, linear, flaml, autogluon=None) -> dict:
    scores = {"pipeline": pipeline, "linear": linear, "flaml": flaml, "autogluon": autogluon}
    return {"task": task, "scores": scores}


def test_advantage_is_positive_when_the_default_is_better():
    assert quality.advantage("binary", 0.85, 0.80) == pytest.approx(0.05)
    # lower RMSE is better: 90 against 100 saves 10 % of the anchor's error
    assert quality.advantage("regression", 90.0, 100.0) == pytest.approx(0.10)
    assert quality.advantage("regression", 110.0, 100.0) == pytest.approx(-0.10)
    assert quality.advantage("binary", None, 0.8) is None


@pytest.mark.parametrize(
    ("task", "default", "anchor", "expected"),
    [
        ("binary", 0.8015, 0.8000, "tie"),  # within 0.002
        ("binary", 0.8030, 0.8000, "win"),
        ("multiclass", 0.700, 0.7025, "loss"),
        ("regression", 100.4, 100.0, "tie"),  # within 0.5 % of the anchor's RMSE
        ("regression", 101.0, 100.0, "loss"),
        ("regression", 99.0, 100.0, "win"),
        ("binary", None, 0.8, "loss"),  # a failed pipeline run loses
        ("binary", 0.8, None, None),  # no anchor score: not counted
    ],
)
def test_outcome(task, default, anchor, expected):
    assert quality.outcome(task, default, anchor) == expected


def test_summary_counts_and_targets():
    tables = [
        table("binary", 0.80, 0.80, 0.79),  # tie with linear, win over FLAML
        table("binary", 0.90, 0.85, 0.91),  # loss to FLAML by 0.01
        table("multiclass", 0.70, 0.60, 0.70),
        table("regression", 95.0, 100.0, 100.0),  # 5 % better than both
    ]
    s = quality.summarise(tables)
    assert (s["linear"]["win"], s["linear"]["tie"], s["linear"]["loss"]) == (3, 1, 0)
    assert (s["flaml"]["win"], s["flaml"]["tie"], s["flaml"]["loss"]) == (2, 1, 1)
    assert s["flaml"]["mean_advantage"] == pytest.approx((0.01 - 0.01 + 0 + 0.05) / 4, abs=1e-4)
    assert s["autogluon"]["tables"] == 0
    assert s["targets"] == {
        "not_below_linear_on_every_table": True,
        "not_below_flaml_on_3_of_4": True,
        "mean_advantage_to_flaml_not_negative": True,
    }
    tables.append(table("binary", None, 0.7, 0.7))  # a failed run: a loss to every anchor
    s = quality.summarise(tables)
    assert s["linear"]["loss"] == 1
    assert s["targets"]["not_below_linear_on_every_table"] is False
    assert s["targets"]["not_below_flaml_on_3_of_4"] is False  # 3 of 5


def test_cache_key_names_rows_anchor_and_budget():
    assert quality.cache_key("abc", "flaml", 60.0) == "abc|flaml|60s"
    assert quality.cache_key("abc", "linear", None) == "abc|linear|none"
    assert quality.cache_key("abc", "flaml", 60.0) != quality.cache_key("abd", "flaml", 60.0)


def test_failure_line_prefers_the_stage_line():
    output = "\n".join(
        [
            "Running stage 'balance':",
            "Traceback (most recent call last):",
            "error: [balance] sampling_strategy=0.5 is below the current ratio. Fix: balance=none",
            "ERROR: failed to reproduce 'balance': failed to run: python -m tabpipe.stages.balance",
        ]
    )
    assert quality.failure_line(output).startswith("error: [balance] sampling_strategy")
    traceback = "Traceback (most recent call last):\nValueError: bad input\nERROR: failed"
    assert quality.failure_line(traceback) == "ValueError: bad input"
    assert quality.failure_line("") == "(no output)"


def test_refit_loaded_only_refits_warned_runs():
    warned, quiet = {"scores": {}, "warning": "load 3.1"}, {"scores": {}}
    assert quality.refit(warned, "loaded") and not quality.refit(quiet, "loaded")
    assert quality.refit(quiet, "all") and not quality.refit(warned, None)


def test_replace_between_rewrites_only_the_marked_block():
    start, end = quality.README_START, quality.README_END
    text = f"# title\n\n{start}\nold table\n{end}\n\n## next\n"
    assert quality.replace_between(text, "new table\n") == (
        f"# title\n\n{start}\nnew table\n{end}\n\n## next\n"
    )
    assert quality.replace_between("no markers\n", "x\n") is None
    assert quality.replace_between(f"{end}\n{start}\n", "x\n") is None  # wrong order
    assert quality.replace_between(f"{start}\n{start}\n{end}\n", "x\n") is None  # twice


def report_of(tables: list[dict]) -> dict:
    return {
        "machine": {"date": "2026-12-03 16:00 UTC"},
        "tables": tables,
        "summary": quality.summarise(tables),
    }


def test_readme_block_counts_and_targets_come_from_the_summary():
    tables = [
        table("binary", 0.80, 0.80, 0.79),
        table("binary", 0.90, 0.85, 0.91),
        table("regression", 95.0, 100.0, 100.0),
    ]
    block = quality.readme_block(report_of(tables))
    assert "3 public tables (2 binary, 0 multiclass, 1 regression)" in block
    assert "| linear baseline | 3 | 2 | 1 | 0 |" in block  # tables, wins, ties, losses
    assert "| FLAML, 60 s | 3 | 2 | 0 | 1 |" in block
    assert "+5.0 %" in block  # the regression table saves 5 % of FLAML's RMSE
    assert "on 3 of 4 tables **not met**" in block  # 2 of 3 against FLAML
    assert "every table **met**" in block
    # the README's command test runs every fenced block: the summary must not contain one
    assert "```" not in block


def test_the_readme_summary_is_what_the_committed_results_give():
    report = json.loads(quality.REPORT_JSON.read_text())
    text = quality.README.read_text(encoding="utf-8")
    assert quality.replace_between(text, quality.readme_block(report)) == text, (
        "README.md's quality block is stale: python benchmarks/quality.py --only report"
    )


def test_chose_and_run_notes_name_what_select_picked_and_what_is_missing():
    assert quality.chose({"family": "lightgbm", "balancing": "none"}) == "lightgbm + none"
    assert quality.chose({}) == "–"
    tables = [
        {"name": "a", "pipeline": {"family": "ridge", "run_at": "2026-12-03 16:01 UTC"}},
        {"name": "b", "pipeline": {"run_at": "2026-12-02 10:00 UTC"}},
    ]
    notes = quality.run_notes(tables)[0]
    assert "run on 2026-12-02, 2026-12-03" in notes
    assert "not recorded for 1 of 2 tables (b)" in notes


def test_param_line_names_auto_not_a_candidates_target():
    auto = "model:\n  candidates:\n    lr:\n      _target_: sklearn.X\nbalance:\n  k: 1\n"
    assert quality._param_line(auto, "model") == "auto"
    assert quality._param_line(auto, "balance") is None
    fixed = "model:\n  _target_: lightgbm.LGBMClassifier\n  n_estimators: 10\n"
    assert quality._param_line(fixed, "model") == "lightgbm.LGBMClassifier"


@pytest.mark.parametrize(
    ("task", "interval", "expected"),
    [
        ("binary", [0.004, 0.03], "win"),
        ("binary", [-0.03, -0.004], "loss"),
        ("multiclass", [-0.01, 0.02], None),  # within what the test split leaves to chance
        ("regression", [-0.06, -0.01], "win"),  # a smaller RMSE than the anchor's
        ("regression", [0.01, 0.05], "loss"),
    ],
)
def test_a_clear_outcome_needs_an_interval_that_excludes_zero(task, interval, expected):
    assert quality.clear_outcome(task, interval) == expected


def test_paired_intervals_compare_the_same_resampled_rows(tmp_path, monkeypatch):
    import numpy as np
    import pandas as pd

    monkeypatch.setattr(quality, "SPLITS", tmp_path)
    monkeypatch.setattr(quality, "BOOTSTRAP", 200)
    split = tmp_path / "t"
    split.mkdir()
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    pd.DataFrame({"y": y}).to_parquet(split / "test.parquet")
    (split / "columns.json").write_text(json.dumps({"target": "y", "task": "binary"}))
    good = np.clip(0.7 * y + rng.uniform(0, 0.3, 300), 0, 1)  # ranks every row right
    noisy = rng.uniform(size=300)
    for name, p in (("pipeline", good), ("linear", noisy), ("flaml", good)):
        record = {"classes": [0, 1], "predictions": np.column_stack([1 - p, p]).tolist()}
        (split / f"{name}.json").write_text(json.dumps(record))
    intervals = quality.paired_intervals("t", "binary")
    assert set(intervals) == {"linear", "flaml"}  # no AutoGluon file: no interval
    assert intervals["linear"][0] > 0.3  # a clear win over noise
    assert intervals["flaml"] == [0.0, 0.0]  # the same predictions: no difference at all
    assert quality.paired_intervals("absent", "binary") == {}


def test_the_pipelines_multiclass_labels_use_its_class_weights():
    import numpy as np

    y = np.array(["a", "a", "b", "c", "c"])
    proba = np.array([[0.6, 0.1, 0.3], [0.5, 0.1, 0.4]] + [[0.2, 0.7, 0.1]] + [[0.6, 0.0, 0.4]] * 2)
    argmax = quality.metric_of("multiclass", y, proba, ["a", "b", "c"])
    weighted = quality.metric_of("multiclass", y, proba, ["a", "b", "c"], [1.0, 1.0, 1.6])
    # argmax never says "c"; with "c" weighted 1.6 the two "c" rows are right (and one "a")
    assert argmax == pytest.approx((2 / 3 + 1.0 + 0.0) / 3)
    assert weighted == pytest.approx((2 / 3 + 1.0 + 0.8) / 3)
