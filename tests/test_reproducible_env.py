"""Other machines, played on this one: the pipeline must write the committed bytes whatever
OpenBLAS kernel, thread count or NumPy dispatch the user's shell presents.

Each variant's variables go only into the environment of the pipeline under test (`dvc repro`
in a clean copy), never into this test runner's. The kernels tried are those this CPU can run,
read from its flags: the AVX-512 kernel where it exists is the one that broke the lock on a
fresh machine (FACTS.md); with the pinning removed (`TABPIPE_NUMERICS=native`) that variant
fails here (docs/reproducibility.md).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tabpipe import numerics
from tests.dvc_repo import copy_project, env, run

pytestmark = pytest.mark.slow

FLAGS = numerics.cpu_flags()
PINNED = set(numerics.pinned_environment())


def kernels() -> list[str]:
    """OpenBLAS core types this CPU runs, the most capable first."""
    found = [
        ("SkylakeX", "avx512f"),
        ("Haswell", "avx2"),
        ("Sandybridge", "avx"),
        ("Nehalem", "sse4_2"),
    ]
    return [kernel for kernel, flag in found if flag in FLAGS] or ["Prescott"]


def variants() -> list[dict[str, str | None]]:
    """Shell environments of other machines (None: the variable is unset)."""
    best, *others = kernels()
    conservative = others[-1] if others else best
    return [
        # the machine's own best kernel, many threads, NumPy free to use every SIMD level
        {
            "OPENBLAS_CORETYPE": best,
            "OPENBLAS_NUM_THREADS": "8",
            "OMP_NUM_THREADS": "8",
            "NPY_DISABLE_CPU_FEATURES": None,
            "MKL_NUM_THREADS": "8",
        },
        # an older kernel preset (as some machines do), two threads, dispatch set but empty
        {
            "OPENBLAS_CORETYPE": conservative,
            "OPENBLAS_NUM_THREADS": "2",
            "OMP_NUM_THREADS": "2",
            "NPY_DISABLE_CPU_FEATURES": "",
        },
        # nothing preset but one thread
        {
            "OPENBLAS_CORETYPE": None,
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "NPY_DISABLE_CPU_FEATURES": "AVX512_ICL",
        },
    ]


def with_variant(variant: dict[str, str | None]) -> dict[str, str]:
    out = env()
    for name in PINNED | set(variant):
        out.pop(name, None)
    out.update({k: v for k, v in variant.items() if v is not None})
    return out


def out_hashes(text: str) -> dict[str, str]:
    lock = yaml.safe_load(text)
    return {o["path"]: o["md5"] for s in lock["stages"].values() for o in s.get("outs", [])}


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    return copy_project(tmp_path_factory.mktemp("machines"), fast=False)  # the committed default


@pytest.mark.parametrize("index", range(3), ids=["best-kernel-8-threads", "old-kernel", "plain"])
def test_default_pipeline_writes_the_committed_bytes_under(repo, index):
    variant = variants()[index]
    if index == 0:
        shutil.rmtree(repo / "metrics")  # a truly cold first run
        command = ["dvc", "repro"]
    else:
        command = ["dvc", "repro", "--force"]
    run(command, repo, env_override=with_variant(variant))
    committed = run(["git", "show", "HEAD:dvc.lock"], repo).stdout
    assert out_hashes((repo / "dvc.lock").read_text()) == out_hashes(committed), variant
    assert run(["git", "status", "--porcelain"], repo).stdout == "", variant


@pytest.mark.parametrize("model", ["lightgbm", "random_forest", "hist_gradient_boosting"])
def test_tree_models_write_the_same_bytes_under_every_variant(repo, model):
    """Their bytes compare with a lock this test makes under the first variant."""
    run(
        [
            "python",
            "-c",
            "from tabpipe.project.conf_sync import compose; "
            f"compose(['model={model}', 'balance=smote'])",
        ],
        repo,
    )
    first, *rest = variants()
    run(["dvc", "repro"], repo, env_override=with_variant(first))
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
    run(["git", "checkout", "--", "."], repo)
    run(["dvc", "checkout", "--force"], repo)
