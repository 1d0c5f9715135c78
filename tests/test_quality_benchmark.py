"""The quality benchmark's scoring rules (benchmarks/quality.py): ties, signs, targets."""

from __future__ import annotations

import importlib.util
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
