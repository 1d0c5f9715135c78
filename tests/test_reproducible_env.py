"""Other machines, played on this one: the pipeline must write the committed bytes whatever
OpenBLAS kernel, thread count or NumPy dispatch the user's shell presents.

Each variant's variables go only into the environment of the pipeline under test (`dvc repro`
in a clean copy), never into this test runner's. The kernels tried are those this CPU can run,
read from its flags: the AVX-512 kernel where it exists is the one that broke the lock on a
fresh machine (FACTS.md); with the pinning removed (`TABPIPE_NUMERICS=native`) that variant
fails here (docs/reproducibility.md).

The committed default runs under the first variant (the prepared project's cold run) and the
second (here); the third is the shell tests/test_docs_commands.py runs docs/reproducibility.md
in, whose `make verify RERUN=1` runs the pipeline from scratch and must say "identical".
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.dvc_repo import PROJECT, back_to_head, run
from tests.machines import variants, with_variant
from tests.prepared import clone

pytestmark = pytest.mark.slow


def out_hashes(text: str) -> dict[str, str]:
    lock = yaml.safe_load(text)
    return {o["path"]: o["md5"] for s in lock["stages"].values() for o in s.get("outs", [])}


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """The committed default after its cold run in the first variant's shell (tests/prepared.py)."""
    return clone("default", tmp_path_factory.mktemp("machines") / "repo", tmp_path_factory)[0]


@pytest.mark.parametrize("index", range(2), ids=["best-kernel-8-threads", "old-kernel"])
def test_default_pipeline_writes_the_committed_bytes_under(repo, index):
    variant = variants()[index]
    if index > 0:  # the first variant's run is the prepared project's cold run
        run(["dvc", "repro", "--force"], repo, env_override=with_variant(variant))
    committed = run(["git", "show", "HEAD:dvc.lock"], repo).stdout
    assert out_hashes((repo / "dvc.lock").read_text()) == out_hashes(committed), variant
    assert run(["git", "status", "--porcelain"], repo).stdout == "", variant


# each tree model with 30 trees: they are built as 300 are, in a tenth of the time
TREE_MODELS = {
    "lightgbm": "model.n_estimators=30",
    "random_forest": "model.n_estimators=30",
    "hist_gradient_boosting": "model.max_iter=30",
}
# the committed default's model (an ensemble's members): its runs above compare its bytes
_CHOSEN = json.loads((PROJECT / "metrics/select/metrics.json").read_text(encoding="utf-8"))
IN_THE_DEFAULT = set(_CHOSEN.get("ensemble") or [_CHOSEN["family"]])


@pytest.mark.parametrize("model", sorted(set(TREE_MODELS) - IN_THE_DEFAULT))
def test_tree_models_write_the_same_bytes_under_every_variant(repo, model):
    """Their bytes compare with a lock this test makes under the first variant. A tree model
    that is a member of the committed default's ensemble is checked by the default's runs.

    Only train is run again under the other variant, so the reference run stops at train
    (evaluate's permutation importance would only be thrown away), its select stage
    cross-validates with 2 folds and the model has 30 trees: what is compared is the model
    train fits."""
    overrides = [f"model={model}", TREE_MODELS[model], "balance=smote", "cv.folds=2"]
    run(
        [
            "python",
            "-c",
            f"from tabpipe.project.conf_sync import compose; compose({overrides!r})",
        ],
        repo,
    )
    first, *rest = variants()
    run(["dvc", "repro", "train"], repo, env_override=with_variant(first))
    reference = out_hashes((repo / "dvc.lock").read_text())
    metrics = (repo / "metrics/train/metrics.json").read_bytes()
    for variant in rest[:1]:  # the most different preset: another kernel and thread count
        run(
            ["dvc", "repro", "--force", "--single-item", "train"],
            repo,
            env_override=with_variant(variant),
        )
        assert out_hashes((repo / "dvc.lock").read_text()) == reference, (model, variant)
        assert (repo / "metrics/train/metrics.json").read_bytes() == metrics, (model, variant)
    back_to_head(repo)
