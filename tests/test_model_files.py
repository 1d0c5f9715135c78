"""Model files: skops (no pickle), byte-for-byte reproducible, loaded with a trusted-type list."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin

from tabpipe import io
from tabpipe.errors import PipelineError

# Fits a small pipeline with the project's own transformer and saves it: run in two processes
# with different hash seeds, the files must be identical (DVC hashes them).
SAVE_SCRIPT = """
import sys
import numpy as np, pandas as pd
from sklearn.linear_model import LogisticRegression
from tabpipe import io
from tabpipe.config import load_section
from tabpipe.core.features import build_transformer
from tabpipe.core.models import inference_pipeline

rng = np.random.default_rng(0)
X = pd.DataFrame({"a": rng.normal(size=60), "b": rng.choice(["x", "y", "z"], 60)})
y = (X["a"] > 0).astype(int)
cfg = load_section("featurize", params={"featurize": {"min_category_frequency": 1}})
transformer = build_transformer(cfg, ["a"], ["b"]).fit(X, y)
model = LogisticRegression().fit(transformer.transform(X), y)
io.save_model(inference_pipeline(transformer, model), sys.argv[1])
"""


def test_saved_model_is_byte_identical_across_processes(tmp_path):
    paths = []
    for seed in ("1", "2"):
        path = tmp_path / f"model-{seed}.skops"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, "-c", SAVE_SCRIPT, str(path)], check=True, env=env)
        paths.append(path)
    first, second = (p.read_bytes() for p in paths)
    assert first == second
    # the fix is needed: skops alone names entries after memory addresses and stamps the time
    names = zipfile.ZipFile(paths[0]).namelist()
    assert "schema.json" in names
    assert all(
        info.date_time == (1980, 1, 1, 0, 0, 0) for info in zipfile.ZipFile(paths[0]).infolist()
    )


def test_saved_pipeline_loads_and_predicts_the_same(tmp_path):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = np.linspace(-1, 1, 40).reshape(-1, 2)
    y = (X[:, 0] > 0).astype(int)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    path = io.save_model(pipeline, tmp_path / "model.skops")
    loaded = io.load_model(path)
    assert np.array_equal(loaded.predict_proba(X), pipeline.predict_proba(X))
    assert not path.with_suffix(".joblib").exists()
    assert path.read_bytes()[:2] == b"PK"  # a zip archive of JSON and .npy: no pickle inside


class Untrusted(TransformerMixin, BaseEstimator):
    """A type no trusted list names: loading a file that holds it must be refused."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return X


def one_line(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert "\n" not in text
    return text


def test_untrusted_type_is_refused_with_its_name(tmp_path):
    from sklearn.pipeline import make_pipeline

    path = io.save_model(make_pipeline(Untrusted()).fit([[1.0]]), tmp_path / "model.skops")
    with pytest.raises(PipelineError) as err:
        io.load_model(path)
    assert "not on the trusted list: tests.test_model_files.Untrusted" in one_line(err)


def test_missing_truncated_and_foreign_files_give_one_line(tmp_path):
    with pytest.raises(PipelineError, match="does not exist"):
        io.load_model(tmp_path / "absent.skops")

    from sklearn.preprocessing import StandardScaler

    good = io.save_model(StandardScaler().fit([[1.0], [2.0]]), tmp_path / "good.skops")
    truncated = tmp_path / "truncated.skops"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(PipelineError) as err:
        io.load_model(truncated)
    assert "is not a readable skops model file" in one_line(err)

    foreign = tmp_path / "model.joblib.skops"
    import joblib

    joblib.dump(StandardScaler(), foreign)  # a pickle under the wrong name: never unpickled
    with pytest.raises(PipelineError) as err:
        io.load_model(foreign)
    assert "is not a readable skops model file" in one_line(err)


def test_a_failed_save_leaves_the_previous_file_intact(tmp_path):
    from sklearn.preprocessing import StandardScaler

    path = io.save_model(StandardScaler().fit([[1.0], [2.0]]), tmp_path / "model.skops")
    before = path.read_bytes()
    with pytest.raises(TypeError):  # skops cannot store a generator
        io.save_model({"scaler": StandardScaler(), "rows": (i for i in range(3))}, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.skops"]
