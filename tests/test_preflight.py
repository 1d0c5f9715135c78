"""The check stage's logic: every section of params.yaml checked before any stage runs."""

from __future__ import annotations

import copy

import pytest
import yaml

from tabpipe.core.preflight import changed_sections, check_params
from tabpipe.errors import PipelineError
from tests.dvc_repo import PROJECT

PARAMS = yaml.safe_load((PROJECT / "params.yaml").read_text())


def with_values(**dotted) -> dict:
    params = copy.deepcopy(PARAMS)
    for key, value in dotted.items():
        section, _, name = key.partition("__")
        if name:
            params[section][name] = value
        else:
            params[section] = value
    return params


def test_the_default_config_passes_and_every_section_is_checked():
    checked = check_params(PARAMS)
    assert set(checked) == {
        "data", "clean", "split", "featurize", "tune", "cv", "evaluate", "scale",
        "balance", "model",
    }  # fmt: skip


def test_only_changed_sections_are_checked_again():
    changed = with_values(model___trials_=10)
    assert changed_sections(changed, PARAMS) == {"model"}
    assert check_params(changed, previous=PARAMS) == ["data", "model"]


@pytest.mark.parametrize(
    ("values", "parts"),
    [
        ({"model__C": "abc"}, ["model.C", "'abc'"]),
        ({"model__bogus": 1}, ["unknown key model.bogus"]),
        ({"balance__k_neighbours": 3}, ["balance.k_neighbours"]),
        ({"tune__n_trials": -1}, ["tune.n_trials=-1", "at least one trial"]),
        ({"tune__n_trials": 0}, ["tune.n_trials=0"]),
        ({"tune__method": "annealing"}, ["tune.method 'annealing'"]),
        ({"tune__timeout_s": -5}, ["tune.timeout_s=-5"]),
        ({"split__test_size": 1.2}, ["split.test_size=1.2"]),
        ({"split__bogus": 1}, ["split.bogus"]),
        ({"split__test_size": "a fifth"}, ["split.test_size"]),
        ({"cv__folds": 1}, ["cv.folds=1"]),
        ({"cv__strategy": "random"}, ["cv.strategy 'random'"]),
        ({"cv__metric": "accuracy_score"}, ["cv.metric 'accuracy_score'"]),
        ({"evaluate__threshold_metric": "f2"}, ["evaluate.threshold_metric 'f2'"]),
        ({"featurize__numeric_impute": "zero"}, ["featurize.numeric_impute 'zero'"]),
        ({"featurize__bins": 1}, ["featurize.bins=1"]),
        ({"clean__max_classes": 1}, ["clean.max_classes=1"]),
        ({"task": "ranking"}, ["task", "'ranking'"]),
        ({"data__source": "excel"}, ["data.source 'excel'"]),
        ({"data__target": "???"}, ["data.target must be set"]),
    ],
)
def test_a_bad_value_is_named_before_any_stage_runs(values, parts):
    with pytest.raises(PipelineError) as err:
        check_params(with_values(**values), previous=PARAMS)
    for part in parts:
        assert part in str(err.value), str(err.value)


def test_a_missing_data_file_is_named_before_dvc_hashes_it(tmp_path):
    params = with_values(
        data__source="csv", data__path=str(tmp_path / "nope.csv"), data__watch="nope"
    )
    with pytest.raises(PipelineError, match=r"data.path '.*nope.csv' does not exist"):
        check_params(params, previous=params)  # data is checked even when unchanged


def test_a_url_source_needs_http_and_a_known_format():
    with pytest.raises(PipelineError, match="not an http"):
        check_params(with_values(data__source="url", data__url="ftp://host/t.csv"))
    with pytest.raises(PipelineError, match="cannot tell the format"):
        check_params(with_values(data__source="url", data__url="http://host/table"))


def test_a_header_only_table_and_an_empty_target_say_so():
    import pandas as pd

    from tabpipe.core.cleaning import decide_task

    with pytest.raises(PipelineError, match="a header but no rows"):
        decide_task(pd.Series([], name="churn", dtype="str"), "auto", 10)
    with pytest.raises(PipelineError, match="target 'churn' is empty in all 3 rows"):
        decide_task(pd.Series([None] * 3, name="churn", dtype=object), "auto", 10)


def test_an_unknown_key_names_the_plus_fix():
    from tabpipe.project import conf_sync

    with pytest.raises(PipelineError) as err:
        conf_sync.composed(["model.bogus=1"], conf_dir=PROJECT / "conf")
    assert "there is no key model.bogus" in str(err.value)
    assert "`-S +model.bogus=1`" in str(err.value)
