"""cleaning: how values are written is repaired; column roles and the target encoding."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tabpipe.core.cleaning import (
    clean_table,
    normalize_column_names,
    normalize_labels,
    normalize_name,
    numbers_from_text,
)
from tabpipe.errors import PipelineError


@pytest.fixture
def clean_cfg(section):
    return section("clean")


def churn_data(section, **values):
    return section("data", **{"target": "Churn", "id_columns": ["customerID"], **values})


# ------------------------------------------------------------------------------ column names


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Monthly Charges ", "monthly_charges"),
        ("TotalCharges", "total_charges"),
        ("customerID", "customer_id"),
        ("Senior-Citizen", "senior_citizen"),
        ("tenure", "tenure"),
        ("  --  ", "column"),
        (3, "3"),
    ],
)
def test_normalize_name(raw, expected):
    assert normalize_name(raw) == expected


def test_normalize_name_is_idempotent():
    for raw in ["Monthly Charges ", "TotalCharges", "customerID", "a_b_2"]:
        once = normalize_name(raw)
        assert normalize_name(once) == once


def test_colliding_names_get_numbered_suffixes_and_keep_their_values():
    frame = pd.DataFrame(
        [[1, 2, 3, 4]], columns=["Total Charges", "TotalCharges", "total_charges", "x"]
    )
    out = normalize_column_names(frame)
    assert list(out.columns) == ["total_charges", "total_charges_2", "total_charges_3", "x"]
    assert out.iloc[0].tolist() == [1, 2, 3, 4]


def test_a_suffix_never_takes_the_name_of_another_column():
    # 'a b' and 'A B' collide; the second must not become 'a_b_2', which a third column owns
    frame = pd.DataFrame([[1, 2, 3]], columns=["a b", "A B", "a_b_2"])
    out = normalize_column_names(frame)
    assert out.columns.is_unique
    assert out.columns[0] == "a_b"
    assert out.columns[2] == "a_b_2"
    assert out.iloc[0].tolist() == [1, 2, 3]


# ---------------------------------------------------------------------------- numbers_from_text


def test_numbers_from_text_strips_spaces_separators_and_currency():
    series = pd.Series(
        [" 1,234.50", "$12", "7 ", "€3", "-4", "50%"], index=[10, 11, 12, 13, 14, 15]
    )
    out = numbers_from_text(series)
    assert out is not None
    assert out.dtype == "float64"
    assert out.index.tolist() == series.index.tolist()
    assert out.tolist() == [1234.5, 12.0, 7.0, 3.0, -4.0, 50.0]


def test_numbers_from_text_turns_blanks_and_missing_into_nan():
    out = numbers_from_text(pd.Series(["1", "", "   ", None], dtype=object))
    assert out is not None
    assert out.iloc[0] == 1.0
    assert out.iloc[1:].isna().all()


@pytest.mark.parametrize(
    "values",
    [
        ["12", "twelve"],  # one real word: the column is text
        ["1", "2", "3 years"],
        ["", "  ", None],  # nothing to parse
    ],
)
def test_numbers_from_text_leaves_text_columns_alone(values):
    assert numbers_from_text(pd.Series(values, dtype=object)) is None


def test_numbers_from_text_ignores_columns_that_are_already_numbers():
    assert numbers_from_text(pd.Series([1, 2, 3])) is None
    assert numbers_from_text(pd.Series([True, False])) is None


# ----------------------------------------------------------------------------- normalize_labels


def test_labels_differing_in_case_and_spaces_become_the_commonest_spelling():
    series = pd.Series([" yes", "Yes", "YES", "Yes", "no  ", "no", "No", "Two  year", "two year"])
    out = normalize_labels(series).tolist()
    # 'Yes' (2) beats 'yes' and 'YES' (1 each); 'no' (2) beats 'No' (1); spaces are collapsed
    assert out == ["Yes", "Yes", "Yes", "Yes", "no", "no", "no", "Two year", "Two year"]


def test_normalize_labels_keeps_missing_values_missing():
    out = normalize_labels(pd.Series(["a", None, "  ", "A"], dtype=object))
    assert out.isna().tolist() == [False, True, True, False]
    assert out.iloc[0] == out.iloc[3]


# ---------------------------------------------------------------------------------- clean_table


def test_clean_table_tidies_values_and_drops_duplicates_and_unlabelled_rows(
    messy_churn, section, clean_cfg
):
    result = clean_table(messy_churn, churn_data(section, positive_label="Yes"), clean_cfg)
    frame = result.frame
    assert frame["customer_id"].tolist() == ["c1", "c2", "c3", "c4", "c5", "c7", "c8"]
    assert frame["monthly_charges"].dtype == "float64"
    assert frame["monthly_charges"].iloc[2] == 1053.5
    assert math.isnan(frame["monthly_charges"].iloc[3])
    assert frame["contract"].iloc[:5].tolist() == [
        "Month-to-month",
        "Month-to-month",
        "Two year",
        "Two year",
        "One year",
    ]
    assert frame.index.tolist() == list(range(7))


def test_clean_table_report_counts(messy_churn, section, clean_cfg):
    report = clean_table(messy_churn, churn_data(section), clean_cfg).report
    assert report["rows_in"] == 9
    assert report["dropped_missing_target"] == 1
    assert report["dropped_duplicates"] == 1
    assert report["rows_out"] == 7
    assert report["numbers_from_text"] == ["monthly_charges"]
    assert report["missing_values"] == {"monthly_charges": 1, "contract": 1}


def test_duplicates_are_kept_when_switched_off(messy_churn, section):
    cfg = section("clean", drop_duplicates=False)
    result = clean_table(messy_churn, churn_data(section), cfg)
    assert result.report["rows_out"] == 8
    assert result.frame["customer_id"].tolist().count("c5") == 2


def test_clean_table_column_roles(messy_churn, section, clean_cfg):
    columns = clean_table(messy_churn, churn_data(section), clean_cfg).columns
    assert columns["target"] == "churn"
    assert columns["id_columns"] == ["customer_id"]
    assert columns["numeric"] == ["monthly_charges", "senior_citizen"]
    assert columns["continuous"] == ["monthly_charges"]  # senior_citizen is 0/1
    assert columns["categorical"] == ["contract"]


def test_forced_categorical_and_dropped_columns(messy_churn, section, clean_cfg):
    data = churn_data(section, categorical=["SeniorCitizen"], drop=["Monthly Charges"])
    result = clean_table(messy_churn, data, clean_cfg)
    assert "monthly_charges" not in result.frame.columns
    assert result.columns["numeric"] == []
    assert result.columns["categorical"] == ["contract", "senior_citizen"]


def test_id_columns_are_not_parsed_as_numbers(section, clean_cfg):
    raw = pd.DataFrame({"id": ["007", "010", "011"], "x": [1.0, 2.0, 3.0], "y": ["a", "b", "b"]})
    result = clean_table(raw, section("data", target="y", id_columns=["id"]), clean_cfg)
    assert result.frame["id"].tolist() == ["007", "010", "011"]


@pytest.mark.parametrize(
    ("positive", "expected"), [("Yes", [1, 1, 0, 0, 0, 0, 0]), ("No", [0, 0, 1, 1, 1, 1, 1])]
)
def test_positive_label_is_encoded_as_one(messy_churn, section, clean_cfg, positive, expected):
    result = clean_table(messy_churn, churn_data(section, positive_label=positive), clean_cfg)
    assert result.frame["churn"].dtype == "int64"
    assert result.frame["churn"].tolist() == expected
    assert result.columns["positive_label"] == positive
    assert result.columns["negative_label"] == ("No" if positive == "Yes" else "Yes")


@pytest.mark.parametrize(
    ("labels", "minority"), [(["a", "b", "b", "b"], "a"), (["a", "a", "a", "b"], "b")]
)
def test_default_positive_label_is_the_minority_class(section, clean_cfg, labels, minority):
    raw = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": labels})
    result = clean_table(raw, section("data", target="y"), clean_cfg)
    assert result.columns["positive_label"] == minority
    assert result.frame["y"].tolist() == [int(label == minority) for label in labels]


def test_a_target_written_as_digits_keeps_its_labels(section, clean_cfg):
    raw = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "Exited": ["1", "0", " 0", "0"]})
    result = clean_table(raw, section("data", target="Exited", positive_label="1"), clean_cfg)
    assert result.frame["exited"].tolist() == [1, 0, 0, 0]
    assert (result.columns["positive_label"], result.columns["negative_label"]) == ("1", "0")


def test_without_numbers_from_text_charges_stay_a_text_column(messy_churn, section):
    result = clean_table(
        messy_churn, churn_data(section), section("clean", numbers_from_text=False)
    )
    assert "monthly_charges" in result.columns["categorical"]
    assert result.frame["monthly_charges"].iloc[0] == "29.85"  # stripped, still text


def test_without_normalize_labels_text_stays_as_written(section):
    raw = pd.DataFrame({"contract": ["Two year", "two  year "], "y": ["Yes", "No"]})
    result = clean_table(raw, section("data", target="y"), section("clean", normalize_labels=False))
    assert result.frame["contract"].tolist() == ["Two year", "two  year "]


# ------------------------------------------------------------------------------------- errors


def test_missing_target_column_is_named(messy_churn, section, clean_cfg):
    with pytest.raises(PipelineError, match=r"target column 'Exited' \(data\.target\)") as err:
        clean_table(messy_churn, churn_data(section, target="Exited"), clean_cfg)
    assert "Churn" in str(err.value)  # lists the columns there are


def test_a_single_class_is_refused(messy_churn, section, clean_cfg):
    raw = messy_churn.assign(Churn="No")
    with pytest.raises(PipelineError, match=r"target 'churn' has only one class \(No\)"):
        clean_table(raw, churn_data(section), clean_cfg)


@pytest.mark.parametrize("key", ["id_columns", "drop"])
def test_unknown_id_or_drop_column_is_named(messy_churn, section, clean_cfg, key):
    data = churn_data(section, **{key: ["customerID", "Gender"]})
    with pytest.raises(PipelineError, match=rf"data\.{key} names columns not in the table: gender"):
        clean_table(messy_churn, data, clean_cfg)


def test_a_positive_label_that_is_not_a_class_is_refused(messy_churn, section, clean_cfg):
    with pytest.raises(
        PipelineError, match=r"data\.positive_label 'Maybe' is not a label of 'churn' \(No, Yes\)"
    ):
        clean_table(messy_churn, churn_data(section, positive_label="Maybe"), clean_cfg)


def test_fill_missing_of_an_unknown_column_is_named(messy_churn, section):
    cfg = section("clean", fill_missing={"nope": 0})
    with pytest.raises(PipelineError, match=r"clean\.fill_missing .*: nope"):
        clean_table(messy_churn, churn_data(section), cfg)


def test_fill_missing_and_drop_missing_rows(messy_churn, section):
    filled = clean_table(
        messy_churn, churn_data(section), section("clean", fill_missing={"monthly_charges": 0})
    )
    assert filled.frame["monthly_charges"].iloc[3] == 0.0
    assert filled.report["missing_values"] == {"contract": 1}

    dropped = clean_table(
        messy_churn, churn_data(section), section("clean", drop_missing_rows=True)
    )
    assert dropped.report["dropped_missing_rows"] == 2
    assert not dropped.frame.isna().any().any()
    assert np.isin(["c4", "c7"], dropped.frame["customer_id"]).sum() == 0


# ------------------------------------------------------------- messy tables: one test each


def messy(n: int = 40, **extra) -> pd.DataFrame:
    """n distinct customers with a binary target and whatever columns a test adds."""
    frame = pd.DataFrame(
        {
            "tenure": (np.arange(n) * 7 % 97 + 1).astype("int64"),  # distinct, not 1..n
            "plan": ["basic", "pro"] * (n // 2) + ["basic"] * (n % 2),
            "churn": (["Yes", "No", "No"] * n)[:n],
        }
    )
    return frame.assign(**extra)


def test_numbers_as_text_with_spaces_separators_and_currency_are_noted(section, clean_cfg):
    raw = messy(4).assign(revenue=[" 1,234.50", "$12", "€ 3", "1 000"])
    result = clean_table(raw, section("data", target="churn"), clean_cfg)
    assert result.frame["revenue"].tolist() == [1234.5, 12.0, 3.0, 1000.0]
    assert "column 'revenue': numbers stored as text: converted to numbers" in result.notes


def test_labels_differing_in_case_or_spaces_become_one(section, clean_cfg):
    raw = messy(4).assign(plan=["Pro", " pro", "Pro ", "basic"])
    result = clean_table(raw, section("data", target="churn"), clean_cfg)
    assert result.frame["plan"].tolist() == ["Pro", "Pro", "Pro", "basic"]  # commonest spelling


def test_empty_and_constant_columns_are_dropped_with_a_note(section, clean_cfg):
    raw = messy(extra_empty=[None] * 40, country=["NZ"] * 40)
    result = clean_table(raw, section("data", target="churn"), clean_cfg)
    assert "extra_empty" not in result.frame.columns and "country" not in result.frame.columns
    assert result.report["dropped_columns"] == {
        "extra_empty": "empty (no values)",
        "country": "constant (every row is 'NZ')",
    }
    assert "column 'extra_empty': empty (no values): dropped" in result.notes
    assert "column 'country': constant (every row is 'NZ'): dropped" in result.notes


def test_empty_and_constant_columns_are_kept_when_switched_off(section):
    raw = messy(extra_empty=[None] * 40, country=["NZ"] * 40)
    cfg = section("clean", drop_empty_columns=False, drop_constant_columns=False)
    result = clean_table(raw, section("data", target="churn"), cfg)
    assert {"extra_empty", "country"} <= set(result.frame.columns)


def test_id_like_columns_are_kept_out_of_the_features_with_a_note(section, clean_cfg):
    raw = messy(customer=[f"C-{i:04d}" for i in range(40)], row=list(range(1, 41)))
    result = clean_table(raw, section("data", target="churn"), clean_cfg)
    assert result.columns["id_columns"] == ["customer", "row"]
    assert "customer" not in result.columns["categorical"]
    assert "row" not in result.columns["numeric"]
    assert result.report["id_columns_detected"] == {
        "customer": "text unique in every row",
        "row": "row numbers (consecutive integers, one per row)",
    }
    assert any(n.startswith("column 'customer': ID-like, text unique") for n in result.notes)
    assert "customer" in result.frame.columns  # kept in the table, out of the features


def test_unique_measurements_are_not_ids(section, clean_cfg):
    rng = np.random.default_rng(1)
    raw = messy(weight=rng.uniform(50, 90, 40), code=rng.permutation(1000)[:40])
    result = clean_table(raw, section("data", target="churn"), clean_cfg)
    assert {"weight", "code"} <= set(result.columns["numeric"])


def test_high_cardinality_categoricals_are_noted_and_rare_levels_grouped(section, clean_cfg):
    from tabpipe.core.features import build_transformer

    levels = [f"city{i}" for i in range(30)] * 2 + ["big"] * 40  # 31 levels, one common
    raw = messy(100, city=levels)
    cfg = section("clean", high_cardinality=20)
    result = clean_table(raw, section("data", target="churn"), cfg)
    assert result.report["high_cardinality"] == {"city": 31}
    assert any(n.startswith("column 'city': high cardinality (31 levels)") for n in result.notes)
    transformer = build_transformer(
        section("featurize", min_category_frequency=10), ["tenure"], ["plan", "city"]
    )
    out = transformer.fit_transform(result.frame.drop(columns=["churn"]), result.frame["churn"])
    city = [c for c in out.columns if c.startswith("city")]
    assert sorted(city) == ["city_big", "city_infrequent_sklearn"]  # 30 rare levels -> one


def test_missing_values_in_numeric_and_categorical_columns_are_imputed_later(section, clean_cfg):
    from tabpipe.core.features import build_transformer

    raw = messy().astype({"tenure": "float64"})
    raw.loc[[1, 2], "tenure"] = np.nan
    raw.loc[[3], "plan"] = None
    result = clean_table(raw, section("data", target="churn"), clean_cfg)
    assert result.report["missing_values"] == {"tenure": 2, "plan": 1}
    transformer = build_transformer(section("featurize"), ["tenure"], ["plan"])
    out = transformer.fit_transform(result.frame.drop(columns=["churn"]), result.frame["churn"])
    assert not out.isna().any().any()


def test_duplicate_rows_and_rows_without_target_are_dropped_with_a_note(section, clean_cfg):
    raw = messy()
    raw = pd.concat([raw, raw.iloc[[0, 1, 2]]], ignore_index=True)
    raw.loc[5, "churn"] = None
    result = clean_table(raw, section("data", target="churn"), clean_cfg)
    assert result.report["dropped_duplicates"] == 3
    assert result.report["dropped_missing_target"] == 1
    assert "table: duplicate rows: 3 dropped" in result.notes
    assert "column 'churn': missing target: 1 rows without a value dropped" in result.notes


# ---------------------------------------------------------------------------- tasks


@pytest.mark.parametrize(
    ("target", "expected", "why"),
    [
        (["a", "b"] * 20, "binary", "target 'y' has two values"),
        (["a", "b", "c", "d"] * 10, "multiclass", "target 'y' is text with 4 labels"),
        ([4, 6, 8, 6] * 10, "multiclass", "target 'y' holds 3 whole numbers"),
        (list(np.linspace(0, 100, 40)), "regression", "target 'y' is numeric with 40"),
        ([f"${v:,}" for v in range(1000, 41000, 1000)], "regression", "target 'y' is numeric"),
    ],
)
def test_auto_decides_the_task_and_says_why(section, clean_cfg, target, expected, why):
    raw = pd.DataFrame({"x": np.arange(40.0), "y": target})
    result = clean_table(raw, section("data", target="y"), clean_cfg)
    assert result.columns["task"] == expected
    assert result.notes[0].startswith(f"task: {expected} ({why}")


def test_regression_target_written_as_currency_becomes_numbers(section, clean_cfg):
    prices = [f"${v:,}" for v in range(1000, 41000, 1000)]  # "$1,000" ... "$40,000"
    raw = pd.DataFrame({"x": np.arange(40.0), "price": prices})
    result = clean_table(raw, section("data", target="price"), clean_cfg)
    assert result.frame["price"].dtype == "float64"
    assert result.frame["price"].iloc[-1] == 40000.0


def test_multiclass_keeps_text_labels_and_lists_the_classes(section, clean_cfg):
    raw = pd.DataFrame(
        {
            "x": np.arange(9.0),
            "y": [" Cat", "dog", "bird", "cat", "Dog", "bird", "cat", "dog", "bird"],
        }
    )
    result = clean_table(raw, section("data", target="y"), clean_cfg)
    assert result.columns["classes"] == ["bird", "cat", "dog"]
    assert sorted(result.frame["y"].unique()) == ["bird", "cat", "dog"]


@pytest.mark.parametrize(
    ("task", "target", "message"),
    [
        ("binary", ["a", "b", "c"] * 4, r"target 'y' has 3 classes; task=binary needs exactly two"),
        ("multiclass", ["a", "b"] * 6, r"target 'y' has 2 classes; task=multiclass needs three"),
        ("regression", ["low", "high"] * 6, r"target 'y' is not numeric \(e\.g\. 'low'\)"),
    ],
)
def test_a_task_that_does_not_fit_the_target_is_named(section, clean_cfg, task, target, message):
    raw = pd.DataFrame({"x": np.arange(12.0), "y": target})
    with pytest.raises(PipelineError, match=message):
        clean_table(raw, section("data", target="y"), clean_cfg, task)


@pytest.mark.parametrize(
    ("labels", "setting", "positive"),
    [
        (["Yes", "No", "No"], "yes", "Yes"),  # the setting's case does not matter
        (["yes", "no", "no"], "Yes", "yes"),
        (["good", "bad", "good"], None, "bad"),  # default: the minority class
        (["good", "bad", "good"], "good", "good"),
    ],
)
def test_binary_string_labels_and_the_positive_label(section, clean_cfg, labels, setting, positive):
    raw = pd.DataFrame({"x": np.arange(12.0), "y": labels * 4})
    result = clean_table(raw, section("data", target="y", positive_label=setting), clean_cfg)
    assert result.columns["positive_label"] == positive
    assert result.frame["y"].tolist() == [int(v == positive) for v in labels * 4]
