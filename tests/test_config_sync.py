"""conf/ is the source of truth; params.yaml must always be its composition."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tabpipe.errors import PipelineError
from tabpipe.project import conf_sync
from tests.dvc_repo import PROJECT, make_fast


def test_committed_params_yaml_is_the_composition_of_conf():
    changes = conf_sync.drift(PROJECT / "params.yaml", PROJECT / "conf")
    assert changes == {}, f"params.yaml drifted from conf/: {conf_sync.describe(changes)}"


def test_drift_names_the_key_that_differs(tmp_path):
    params = tmp_path / "params.yaml"
    shutil.copy(PROJECT / "params.yaml", params)
    data = yaml.safe_load(params.read_text())
    data["model"]["candidates"]["logistic_regression"]["C"] = 0.7
    params.write_text(yaml.safe_dump(data))
    key = "model.candidates.logistic_regression.C"  # model=auto composes every candidate
    assert conf_sync.drift(params, PROJECT / "conf") == {key: (1.0, 0.7)}


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    shutil.copytree(PROJECT / "conf", tmp_path / "conf")
    make_fast(tmp_path)  # the fixed model as the default: its keys are model.C, ...
    for args in (
        ["init", "-q"],
        ["add", "-A"],
        ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "init"],
    ):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_adopt_writes_an_experiments_overrides_back_into_conf(project):
    overrides = [
        "model=random_forest",
        "model.min_samples_leaf=3",
        "seed=7",
        "split.test_size=0.25",
    ]
    conf_sync.compose(overrides)  # what `dvc exp apply` leaves: params.yaml from an experiment
    done = conf_sync.adopt()
    assert "model=random_forest" in done
    assert conf_sync.drift() == {}
    config = (project / "conf/config.yaml").read_text()
    assert "- model: random_forest" in config
    assert "seed: ${seed}" in config  # interpolations survive: only `seed` itself was written
    assert "# share of all rows held out" in config  # comments survive
    forest = yaml.safe_load((project / "conf/model/random_forest.yaml").read_text())
    assert forest["min_samples_leaf"] == 3


def test_sync_recomposes_params_when_only_conf_changed(project):
    path = project / "conf/model/logistic_regression.yaml"  # the default model
    path.write_text(path.read_text().replace("C: 1.0", "C: 0.5"))
    message = conf_sync.sync()
    assert "model.C" in message
    assert yaml.safe_load((project / "params.yaml").read_text())["model"]["C"] == 0.5


def test_sync_refuses_to_overwrite_params_changed_on_their_own(project):
    conf_sync.compose(["model.C=0.3"])  # e.g. `dvc exp apply` of an experiment
    with pytest.raises(PipelineError, match=r"model\.C .*make adopt.*make params"):
        conf_sync.sync()
    assert yaml.safe_load((project / "params.yaml").read_text())["model"]["C"] == 0.3
