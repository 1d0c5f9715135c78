"""tuning: search spaces from YAML, the four methods, reproducibility, the selection report."""

from __future__ import annotations

import itertools

import pytest

from tabpipe.core.tuning import (
    Param,
    applicable_space,
    best_trial,
    grid_values,
    parse_space,
    search,
    selection_report,
    trial_budget,
    trial_curve,
)
from tabpipe.errors import PipelineError

SPACE = {
    "C": ["float", 0.001, 100, "log"],
    "depth": ["int", 2, 8],
    "weights": ["choice", None, "balanced"],
}


def test_parse_space_reads_each_kind():
    c, depth, weights = parse_space(SPACE)
    assert (c.kind, c.low, c.high, c.log) == ("float", 0.001, 100.0, True)
    assert (depth.kind, depth.low, depth.high, depth.log) == ("int", 2, 8, False)
    assert isinstance(depth.low, int)
    assert (weights.kind, weights.choices) == ("choice", [None, "balanced"])


@pytest.mark.parametrize(
    "entry",
    [
        0.1,
        ["normal", 0, 1],
        ["float", 1, 0],
        ["float", 0, 1, "log"],
        ["float", 0, 1, "linear"],
        ["int", 1.5, 3],
        ["float", "a", 1],
        ["choice"],
    ],
)
def test_parse_space_names_a_bad_line(entry):
    with pytest.raises(PipelineError, match=r"model\._search_\.C"):
        parse_space({"C": entry})


def test_grid_values_span_each_range():
    grid = grid_values(parse_space(SPACE), points=3)
    assert grid["C"] == [0.001, pytest.approx(0.316228), 100.0]
    assert grid["depth"] == [2, 5, 8]
    assert grid["weights"] == [None, "balanced"]


def quadratic(params: dict) -> list[float]:
    """A deterministic score, best near C=1, depth=5, weights=balanced; two 'folds'."""
    import math

    value = -((math.log10(params["C"])) ** 2) - (params["depth"] - 5) ** 2 / 10
    value += 0.5 if params["weights"] == "balanced" else 0.0
    return [value - 0.01, value + 0.01]


def cfg(section, **values):
    return section("tune", **values)


def test_none_is_one_trial_with_the_configured_parameters(section):
    seen = []
    results = search([], lambda p: seen.append(p) or [0.8, 0.9], cfg(section), True)
    assert seen == [{}]
    assert len(results) == 1
    assert results[0].mean == pytest.approx(0.85)
    assert results[0].std == pytest.approx(0.05)


def test_grid_tries_every_combination_once(section):
    space = parse_space(SPACE)
    tried = []

    def evaluate(params):
        tried.append(tuple(params[k] for k in ("C", "depth", "weights")))
        return quadratic(params)

    results = search(space, evaluate, cfg(section, method="grid", grid_points=3), True, log=str)
    grid = grid_values(space, 3)
    assert sorted(tried, key=repr) == sorted(itertools.product(*grid.values()), key=repr)
    best = best_trial(results, True)
    assert best.params == {"C": grid["C"][1], "depth": 5, "weights": "balanced"}  # nearest C=1


@pytest.mark.parametrize("method", ["random", "bayesian"])
def test_a_seeded_search_gives_the_same_trials_every_time(section, method):
    space = parse_space(SPACE)
    settings = {"method": method, "n_trials": 12, "n_startup_trials": 5, "seed": 7}
    first = search(space, quadratic, cfg(section, **settings), True, log=str)
    second = search(space, quadratic, cfg(section, **settings), True, log=str)
    other = search(space, quadratic, cfg(section, **{**settings, "seed": 8}), True, log=str)
    assert len(first) == 12
    assert [r.params for r in first] == [r.params for r in second]
    assert best_trial(first, True).params == best_trial(second, True).params
    assert [r.params for r in first] != [r.params for r in other]


def test_bayesian_beats_random_on_a_smooth_score(section):
    space = parse_space(SPACE)
    settings = {"n_trials": 40, "n_startup_trials": 10, "seed": 0}
    tpe = search(space, quadratic, cfg(section, method="bayesian", **settings), True, log=str)
    rnd = search(space, quadratic, cfg(section, method="random", **settings), True, log=str)
    assert best_trial(tpe, True).mean >= best_trial(rnd, True).mean


def test_a_timeout_stops_the_search(section):
    import time

    def slow(params):
        time.sleep(0.05)
        return quadratic(params)

    results = search(
        parse_space(SPACE), slow, cfg(section, method="random", timeout_s=0.3), True, log=str
    )
    assert 1 <= len(results) < 20


def test_progress_is_printed_for_every_trial(section):
    lines = []
    search(
        parse_space(SPACE),
        quadratic,
        cfg(section, method="random", n_trials=3),
        True,
        log=lines.append,
    )
    assert len(lines) == 3
    assert lines[0].startswith("tune: trial 1/3") and "best" in lines[-1]


def test_rejected_parameters_fail_the_trial_not_the_search(section):
    def picky(params):
        if params["depth"] > 5:
            raise ValueError("depth too large for this estimator")
        return quadratic(params)

    results = search(
        parse_space(SPACE), picky, cfg(section, method="random", n_trials=15), True, log=str
    )
    failed = [r for r in results if r.state == "failed"]
    assert failed and all("depth too large" in r.error for r in failed)
    assert best_trial(results, True).params["depth"] <= 5


def test_every_trial_failing_stops_the_stage(section):
    def broken(params):
        raise ValueError("bad")

    with pytest.raises(PipelineError, match="every trial failed"):
        search(parse_space(SPACE), broken, cfg(section, method="random", n_trials=2), True, log=str)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"method": "hyperband"}, "unknown tune.method 'hyperband'"),
        ({"method": "random", "n_trials": None}, "needs tune.n_trials or tune.timeout_s"),
    ],
)
def test_bad_tune_settings_name_the_key(section, values, message):
    with pytest.raises(PipelineError, match=message):
        search(parse_space(SPACE), quadratic, cfg(section, **values), True, log=str)


def test_a_search_needs_a_space(section):
    with pytest.raises(PipelineError, match="the model has no _search_ section"):
        search([], quadratic, cfg(section, method="bayesian", n_trials=3), True)


def test_lower_is_better_metrics_are_minimised(section):
    space = [Param("x", "float", -3.0, 3.0)]
    results = search(
        space,
        lambda p: [abs(p["x"] - 1.0)],
        cfg(section, method="grid", grid_points=7),
        greater_is_better=False,
        log=str,
    )
    assert best_trial(results, False).params == {"x": 1.0}
    curve = trial_curve(results, False)
    assert [row["trial"] for row in curve] == list(range(1, 8))
    assert all(a["best"] >= b["best"] for a, b in itertools.pairwise(curve))  # never worse


def test_selection_report_ranks_every_trial_and_shows_the_winner(section):
    results = search(
        parse_space(SPACE), quadratic, cfg(section, method="random", n_trials=5), True, log=str
    )
    winner = best_trial(results, True)
    report = selection_report(results, True, "roc_auc", {"tune": "random"}, {"C": 0.5, "tol": 1e-4})
    table = [line for line in report.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert len(table) == 5
    scores = [float(line.split("|")[3]) for line in table]
    assert scores == sorted(scores, reverse=True)
    assert table[0].split("|")[2].strip() == str(winner.number + 1)
    assert "| C | 0.5 |" in report and "- tune: random" in report


@pytest.mark.parametrize("method", ["random", "bayesian"])
def test_without_n_trials_a_search_takes_the_models_budget(section, method):
    filled, note = trial_budget(cfg(section, method=method, n_trials=None), {"_trials_": 7})
    assert filled.n_trials == 7 and "7 trials (model._trials_)" in note
    results = search(parse_space(SPACE), quadratic, filled, True, log=str)
    assert len(results) == 7


@pytest.mark.parametrize(
    "values",
    [
        {"method": "bayesian", "n_trials": 3},  # the user's number wins
        {"method": "bayesian", "n_trials": None, "timeout_s": 5},  # so does a clock budget
        {"method": "grid", "n_trials": None},  # a grid without n_trials is the whole grid
        {"method": "none"},
    ],
)
def test_an_explicit_budget_or_another_method_keeps_tune_as_it_is(section, values):
    tune = cfg(section, **values)
    filled, note = trial_budget(tune, {"_trials_": 7})
    assert filled is tune and note is None


@pytest.mark.parametrize(
    ("model", "message"),
    [({}, "needs tune.n_trials or tune.timeout_s"), ({"_trials_": 0}, "model._trials_ is 0")],
)
def test_a_missing_or_bad_model_budget_names_the_key(section, model, message):
    with pytest.raises(PipelineError, match=message):
        trial_budget(cfg(section, method="bayesian", n_trials=None), model)


def test_a_regressor_standing_in_for_a_classifier_searches_what_it_takes():
    space = parse_space(SPACE)
    kept, skipped = applicable_space(space, {"C", "depth"}, "Stand-in", stand_in=True)
    assert [p.name for p in kept] == ["C", "depth"] and skipped == ["weights"]


def test_a_space_with_nothing_for_the_stand_in_regressor_fails_with_a_fix():
    space = parse_space(
        {"C": ["float", 0.1, 10, "log"], "class_weight": ["choice", None, "balanced"]}
    )
    with pytest.raises(
        PipelineError, match=r"none of C, class_weight applies to Ridge.*model=ridge"
    ):
        applicable_space(space, {"alpha", "random_state"}, "Ridge", stand_in=True)


def test_a_parameter_the_chosen_model_lacks_is_named():
    with pytest.raises(PipelineError, match=r"model._search_.weights: Model has no parameter"):
        applicable_space(parse_space(SPACE), {"C", "depth"}, "Model", stand_in=False)
    assert applicable_space([], {"C"}, "Model", stand_in=False) == ([], [])
