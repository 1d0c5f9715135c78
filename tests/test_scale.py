"""Large-table decisions: the memory check and the switches above a size (no files)."""

from __future__ import annotations

import pandas as pd
import pytest
from imblearn.over_sampling import SMOTE, RandomOverSampler
from omegaconf import OmegaConf

from tabpipe.config import ScaleConfig
from tabpipe.core import scale
from tabpipe.errors import PipelineError

GIB = 1024**3


def test_the_memory_check_names_both_figures_and_a_size_that_fits():
    needed = scale.estimate_bytes(50_000_000, 21)
    with pytest.raises(PipelineError) as err:
        scale.check_memory(50_000_000, 21, available=8 * GIB, where="data.n_rows=50000000")
    message = str(err.value)
    assert scale.gib(needed) in message and "8.0 GiB is available" in message
    fits = int(message.split("use at most about ")[1].split(" rows")[0].replace(",", ""))
    assert scale.estimate_bytes(fits, 21) <= 8 * GIB < scale.estimate_bytes(fits + 1000, 21)


def test_a_table_that_fits_passes_and_the_estimate_grows_with_the_table():
    assert scale.check_memory(1000, 21, available=8 * GIB, where="x") == scale.estimate_bytes(
        1000, 21
    )
    assert scale.estimate_bytes(2_000_000, 21) > scale.estimate_bytes(1_000_000, 21)


def test_smote_becomes_random_over_sampling_above_the_threshold_only():
    smote = SMOTE(sampling_strategy=0.5, random_state=3)
    same, note = scale.large_data_sampler(smote, 1000, 5000)
    assert same is smote and note is None
    swapped, note = scale.large_data_sampler(smote, 6000, 5000)
    assert isinstance(swapped, RandomOverSampler)
    assert swapped.sampling_strategy == 0.5 and swapped.random_state == 3
    assert "6,000 training rows > scale.max_smote_rows=5,000" in note
    assert scale.large_data_sampler(smote, 10**9, None) == (smote, None)  # null: off
    ros = RandomOverSampler()
    assert scale.large_data_sampler(ros, 10**9, 10)[0] is ros  # not a neighbour search


def scale_cfg(**values):
    return OmegaConf.merge(OmegaConf.structured(ScaleConfig), values)


def test_the_model_switches_above_the_threshold_and_keeps_the_search_space():
    big = {"_target_": "sklearn.ensemble.HistGradientBoostingClassifier", "random_state": 1}
    cfg = scale_cfg(large_data_rows=100, large_data_model=big)
    logistic = {"_target_": "sklearn.linear_model.LogisticRegression", "_search_": {"C": []}}
    assert scale.large_data_model(logistic, 100, cfg) == (logistic, None)
    model, note = scale.large_data_model(logistic, 101, cfg)
    assert model["_target_"] == big["_target_"] and model["_search_"] == {"C": []}
    assert "LogisticRegression replaced by" in note
    already = {**big, "max_iter": 50}
    assert scale.large_data_model(already, 10**6, cfg) == (already, None)


def test_cross_validation_samples_keep_the_class_shares_and_the_order():
    rows = pd.DataFrame({"x": range(1000), "y": [1 if i % 10 == 0 else 0 for i in range(1000)]})
    assert scale.cv_sample_size(1000, 2000) is None
    assert scale.cv_sample_size(1000, None) is None
    n = scale.cv_sample_size(1000, 200)
    sample = scale.sample_rows(rows, "y", n, seed=0, stratify=True)
    assert len(sample) == 200 and sample["y"].sum() == 20
    assert sample["x"].is_monotonic_increasing
    again = scale.sample_rows(rows, "y", n, seed=0, stratify=True)
    pd.testing.assert_frame_equal(sample, again)
