"""A killed search resumes from its finished trials and ends as an uninterrupted one.

The search writes each finished trial to a journal (tabpipe.io.tuning_log_storage, in a
temporary folder here); an `evaluate` that raises KeyboardInterrupt at trial k stands for
Ctrl-C. The resumed search must replay trials 0..k-1 without scoring them again, ask only the
rest, and give exactly the trials, scores and winner of a search that was never interrupted.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tabpipe import io
from tabpipe.core.tuning import (
    TrialLog,
    _optuna_search,
    best_trial,
    local_scorer,
    parse_space,
    search,
    search_key,
)

SPACE = parse_space(
    {
        "C": ["float", 0.001, 100, "log"],
        "depth": ["int", 2, 8],
        "weights": ["choice", None, "balanced"],
    }
)


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)  # .tabpipe/tuning/ is relative to the project
    return tmp_path


def trial_log(key: str) -> TrialLog:
    return TrialLog(key, str(io.tuning_log_path(key)), lambda: io.tuning_log_storage(key))


def flat_score(params: dict) -> list[float]:
    """Deterministic, best near C=1, depth=5, weights=balanced; two 'folds'."""
    value = -(math.log10(params["C"]) ** 2) - (params["depth"] - 5) ** 2 / 10
    value += 0.5 if params["weights"] == "balanced" else 0.0
    return [value - 0.01, value + 0.01]


class Scorer:
    """`score`, counting its calls; raises KeyboardInterrupt on call `stop_at` (Ctrl-C)."""

    def __init__(self, score, stop_at: int | None = None) -> None:
        self.score, self.stop_at, self.seen = score, stop_at, []

    def __call__(self, params: dict) -> list[float]:
        if self.stop_at is not None and len(self.seen) == self.stop_at:
            raise KeyboardInterrupt
        self.seen.append(dict(params))
        return self.score(params)


def outcome(results) -> list[tuple]:
    return [(r.number, r.params, r.scores, r.state, r.error) for r in results]


def interrupted_then_resumed(space, score, cfg, stop_at: int, key: str = "k", batch=None):
    """Run until trial `stop_at` is being scored, interrupt, run again: (results, the second
    run's scorer, its lines)."""

    def run(scorer, lines):
        if batch is None:
            return search(space, scorer, cfg, True, log=lines.append, trial_log=trial_log(key))
        scored = local_scorer(scorer)
        return _optuna_search(space, scored, batch, cfg, True, "s", lines.append, trial_log(key))

    with pytest.raises(KeyboardInterrupt):
        run(Scorer(score, stop_at), [])
    scorer, lines = Scorer(score), []
    return run(scorer, lines), scorer, lines


@pytest.mark.parametrize(
    ("method", "stop_at"), [("bayesian", 3), ("bayesian", 9), ("random", 5), ("grid", 7)]
)
def test_a_resumed_flat_search_equals_an_uninterrupted_one(section, method, stop_at):
    cfg = section("tune", method=method, n_trials=14, n_startup_trials=4, seed=3)
    plain = search(SPACE, flat_score, cfg, True, log=lambda _: None)  # no log at all
    resumed, scorer, lines = interrupted_then_resumed(SPACE, flat_score, cfg, stop_at)

    assert outcome(resumed) == outcome(plain)
    assert best_trial(resumed, True) == best_trial(plain, True)
    # only the trials not finished before the interrupt were scored again
    assert scorer.seen == [r.params for r in plain[stop_at:]]
    where = io.tuning_log_path("k")
    assert lines[0] == (
        f"select: resuming the search: {stop_at} of 14 trials finished earlier ({where})"
    )
    assert lines[1].startswith(f"tune: trial {stop_at + 1}/14")


def auto_space():
    """model=auto's conditional space: two families, two balancings, warm starts first."""
    from tabpipe.core.auto import ConditionalSpace, family_space, warm_starts

    families = {
        "logistic_regression": {
            "_target_": "sklearn.linear_model.LogisticRegression",
            "C": 1.0,
            "_search_": {"C": ["float", 0.01, 10, "log"]},
        },
        "hist_gradient_boosting": {
            "_target_": "sklearn.ensemble.HistGradientBoostingClassifier",
            "max_iter": 30,
            "_search_": {
                "learning_rate": ["float", 0.03, 0.3, "log"],
                "max_depth": ["int", 2, 5],
            },
        },
    }
    balancings = ["none", "class_weight"]
    spaces = {name: family_space(name, cfg, True) for name, cfg in families.items()}
    return ConditionalSpace(spaces, balancings, warm_starts(families, spaces, balancings, "binary"))


def auto_score(params: dict) -> list[float]:
    """A score for each family's values (the balancing adds a little)."""
    if params["family"] == "logistic_regression":
        value = 0.8 - 0.02 * math.log10(params["logistic_regression.C"]) ** 2
    else:
        rate = params["hist_gradient_boosting.learning_rate"]
        value = (
            0.82
            - 0.5 * (rate - 0.1) ** 2
            - 0.01 * abs(params["hist_gradient_boosting.max_depth"] - 4)
        )
    value += 0.005 if params["balancing"] == "class_weight" else 0.0
    return [value - 0.002, value + 0.002]


@pytest.mark.parametrize("stop_at", [1, 3, 8])  # inside the warm starts, after, later
def test_a_resumed_model_auto_search_equals_an_uninterrupted_one(section, stop_at):
    space = auto_space()
    assert len(space.warm) == 3
    cfg = section("tune", method="bayesian", n_trials=12, n_startup_trials=5, seed=42)
    plain = search(space, auto_score, cfg, True, log=lambda _: None)
    resumed, scorer, lines = interrupted_then_resumed(space, auto_score, cfg, stop_at)

    assert outcome(resumed) == outcome(plain)
    assert best_trial(resumed, True) == best_trial(plain, True)
    # warm starts scored before the interrupt are not asked again; the others come first
    assert scorer.seen == [r.params for r in plain[stop_at:]]
    assert all(r.params.items() >= w.items() for r, w in zip(resumed, space.warm, strict=False))
    assert f"resuming the search: {stop_at} of 12 trials" in lines[0]


def test_batches_resume_whole_and_the_log_holds_each_trial_once(section):
    """On Ray, TPE asks a batch knowing only the batches before it: a batch that was cut short
    in the log is dropped and asked again whole, and its trials are not written twice."""
    cfg = section("tune", method="bayesian", n_trials=12, n_startup_trials=3, seed=5)
    scored = local_scorer(flat_score)
    plain = _optuna_search(SPACE, scored, 4, cfg, True, "s", lambda _: None)

    # interrupted while scoring the second batch: the log holds the first batch only
    resumed, scorer, lines = interrupted_then_resumed(SPACE, flat_score, cfg, 6, batch=4)
    assert outcome(resumed) == outcome(plain)
    assert "resuming the search: 4 of 12 trials" in lines[0]
    assert scorer.seen == [r.params for r in plain[4:]]

    # a log cut in the middle of a batch (6 of 12 trials written): trials 4 and 5 are dropped
    full = io.tuning_log_path("full")
    _optuna_search(SPACE, scored, 4, cfg, True, "s", lambda _: None, trial_log("full"))
    lines = full.read_text(encoding="utf-8").splitlines(keepends=True)
    trial_lines = [i for i, line in enumerate(lines) if '"op_code":4,' in line]
    assert len(trial_lines) == 12
    full.write_text("".join(lines[: trial_lines[6]]), encoding="utf-8")
    shown = []
    scorer = Scorer(flat_score)
    again = _optuna_search(
        SPACE, local_scorer(scorer), 4, cfg, True, "s", shown.append, trial_log("full")
    )
    assert outcome(again) == outcome(plain)
    assert "resuming the search: 4 of 12 trials" in shown[0]
    assert scorer.seen == [r.params for r in plain[4:]]
    text = full.read_text(encoding="utf-8")
    assert text.count('"op_code":4,') == 12  # trials 4 and 5 were not written a second time


def test_another_key_does_not_replay(section):
    cfg = section("tune", method="bayesian", n_trials=8, n_startup_trials=3, seed=3)
    with pytest.raises(KeyboardInterrupt):
        search(SPACE, Scorer(flat_score, 5), cfg, True, log=str, trial_log=trial_log("old"))
    scorer, lines = Scorer(flat_score), []
    search(SPACE, scorer, cfg, True, log=lines.append, trial_log=trial_log("new"))
    assert len(scorer.seen) == 8
    assert not any("resuming" in line for line in lines)
    assert io.tuning_log_path("old").exists()  # left for its own search, never read by another


def test_the_key_changes_with_anything_that_decides_the_trials():
    base = {
        "params": {"tune": {"method": "bayesian", "n_trials": 20, "seed": 42}, "cv": {"folds": 5}},
        "rows": "a" * 64,
        "code": "c" * 64,
    }
    key = search_key(base)
    reordered = {"code": base["code"], "rows": base["rows"], "params": base["params"]}
    assert search_key(reordered) == key
    changed = [
        {**base, "params": {**base["params"], "tune": {**base["params"]["tune"], "seed": 7}}},
        {**base, "params": {**base["params"], "tune": {**base["params"]["tune"], "n_trials": 6}}},
        {**base, "params": {**base["params"], "cv": {"folds": 3}}},
        {**base, "rows": "b" * 64},
        {**base, "code": "d" * 64},
    ]
    keys = {search_key(parts) for parts in changed}
    assert key not in keys and len(keys) == len(changed)
    assert io.tuning_log_path(key) != io.tuning_log_path(search_key(changed[0]))


def test_the_code_digest_is_stable_and_covers_the_package():
    assert io.code_digest() == io.code_digest()
    assert len(io.code_digest()) == 64


def test_a_search_stopped_by_the_clock_keeps_no_log(section):
    cfg = section("tune", method="random", timeout_s=0.2, seed=3)
    search(SPACE, flat_score, cfg, True, log=str, trial_log=trial_log("clock"))
    assert not io.tuning_log_path("clock").exists()


def test_an_unreadable_log_is_started_again(section):
    cfg = section("tune", method="random", n_trials=4, seed=3)
    path = io.tuning_log_path("broken")
    path.parent.mkdir(parents=True)
    path.write_text('{"op_code": 0, "study_na\n{"op_code": 4}\n', encoding="utf-8")
    scorer, lines = Scorer(flat_score), []
    search(SPACE, scorer, cfg, True, log=lines.append, trial_log=trial_log("broken"))
    assert len(scorer.seen) == 4 and not any("resuming" in line for line in lines)


def test_removing_a_log_removes_its_folders_once_empty(section):
    cfg = section("tune", method="random", n_trials=2, seed=3)
    for key in ("one", "two"):
        search(SPACE, flat_score, cfg, True, log=str, trial_log=trial_log(key))
    io.remove_tuning_log("one")
    assert not io.tuning_log_path("one").exists() and io.tuning_log_path("two").exists()
    io.remove_tuning_log("two")
    assert not Path(".tabpipe").exists()
