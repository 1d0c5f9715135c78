"""`tabpipe verify` and the numeric pinning: pure functions, and the command on a small repo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from tabpipe import numerics
from tabpipe.project import verify


def test_pinning_on_an_avx2_x86_machine_fixes_kernel_threads_and_dispatch():
    pinned = numerics.pinned_environment("x86_64", {"avx2", "fma", "avx512f"})
    assert pinned["OPENBLAS_CORETYPE"] == "Haswell"
    assert pinned["NPY_DISABLE_CPU_FEATURES"] == "X86_V4 AVX512_ICL AVX512_SPR"
    assert {pinned[v] for v in numerics.THREAD_VARIABLES} == {"1"}


def test_no_kernel_is_pinned_that_the_cpu_cannot_run():
    old_cpu = numerics.pinned_environment("x86_64", {"avx", "sse4_2"})
    arm = numerics.pinned_environment("aarch64", {"asimd"})
    for pinned in (old_cpu, arm):
        assert "OPENBLAS_CORETYPE" not in pinned and "NPY_DISABLE_CPU_FEATURES" not in pinned
        assert pinned["OMP_NUM_THREADS"] == "1"  # threads are pinned everywhere


def test_pin_overrides_what_the_shell_exports(monkeypatch):
    monkeypatch.setenv("OPENBLAS_CORETYPE", "SkylakeX")
    monkeypatch.setenv("OMP_NUM_THREADS", "8")
    monkeypatch.delenv(numerics.OFF_SWITCH, raising=False)
    numerics.pin()
    assert numerics.check() is None or "loaded before" in numerics.check()
    expected = numerics.pinned_environment()
    assert all(os.environ[k] == v for k, v in expected.items())


def test_a_stage_process_runs_the_pinned_kernel_whatever_the_shell_says():
    code = "import tabpipe, numpy; from tabpipe import numerics; print(numerics.describe()['blas'])"
    env = {"PATH": "/usr/bin:/bin", "OPENBLAS_CORETYPE": "Sandybridge", "OMP_NUM_THREADS": "8"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    if "OPENBLAS_CORETYPE" in numerics.pinned_environment():
        assert "kernel Haswell 1 thread(s)" in out and "Sandybridge" not in out


def test_values_within_one_billionth_are_within_tolerance():
    assert verify.first_difference({"a": [1.0, 2.0]}, {"a": [1.0, 2.0 + 1e-12]}) is None
    miss = verify.first_difference({"cv": {"auc": 0.842227}}, {"cv": {"auc": 0.842234}})
    assert miss == "cv.auc = 0.842227 in the commit, 0.842234 here"
    assert verify.first_difference([1, 2], [1, 2, 3]) == ": 2 items in the commit, 3 here"


def test_files_are_identical_within_tolerance_or_different():
    a = json.dumps({"roc": [{"fpr": 0.1, "threshold": float("inf")}]}).encode()
    b = json.dumps({"roc": [{"fpr": 0.1 + 1e-13, "threshold": float("inf")}]}).encode()
    c = json.dumps({"roc": [{"fpr": 0.2, "threshold": float("inf")}]}).encode()
    assert verify.compare_file("p.json", a, a)[0] == verify.IDENTICAL
    assert verify.compare_file("p.json", a, b)[0] == verify.TOLERANCE
    case, detail = verify.compare_file("p.json", a, c)
    assert case == verify.DIFFERENT and "roc[0].fpr = 0.1 in the commit, 0.2 here" in detail
    md_a, md_b = b"| trial | 0.8422 |\n", b"| trial | 0.8423 |\n"
    assert verify.compare_file("selection.md", md_a, md_b)[0] == verify.DIFFERENT


def test_models_compare_by_their_predictions_and_ranking():
    scores = np.array([0.1, 0.5, 0.3])
    assert verify.compare_predictions(scores, scores * (1 + 1e-12))[0] == verify.TOLERANCE
    case, detail = verify.compare_predictions(scores, np.array([0.1, 0.2, 0.3]))
    assert case == verify.DIFFERENT and "row 1" in detail and "ranking of rows differs" in detail


@pytest.fixture()
def committed_repo(tmp_path: Path) -> Path:
    lock = {
        "schema": "2.0",
        "stages": {
            "train": {
                "cmd": "x",
                "outs": [{"path": "metrics/train/metrics.json", "md5": "a", "size": 1}],
            }
        },
    }
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock))
    (tmp_path / "metrics/train").mkdir(parents=True)
    (tmp_path / "metrics/train/metrics.json").write_text('{"cv": {"roc_auc_mean": 0.842227}}\n')
    (tmp_path / "uv.lock").write_text('[[package]]\nname = "numpy"\nversion = "2.4.6"\n')
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "results"]):
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True
        )
    return tmp_path


def tabpipe_verify(repo: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tabpipe.cli", "verify"], cwd=repo, capture_output=True, text=True
    )


def test_verify_says_identical_and_prints_both_environments(committed_repo):
    result = tabpipe_verify(committed_repo)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "verify: identical (1 identical)"
    assert "versions (uv.lock) numpy 2.4.6" in result.stdout  # the commit's side
    assert "blas " in result.stdout and "pinning " in result.stdout  # this machine's side


def test_verify_names_the_stage_file_and_value_of_an_altered_output(committed_repo):
    path = committed_repo / "metrics/train/metrics.json"
    path.write_text('{"cv": {"roc_auc_mean": 0.842234}}\n')
    result = tabpipe_verify(committed_repo)
    assert result.returncode == 1
    assert (
        "different         [train] metrics/train/metrics.json: first difference: "
        "cv.roc_auc_mean = 0.842227 in the commit, 0.842234 here"
    ) in result.stdout
    path.write_text('{"cv": {"roc_auc_mean": 0.8422270000000001}}\n')
    result = tabpipe_verify(committed_repo)
    assert result.returncode == 3  # within tolerance
    assert result.stdout.splitlines()[-1] == "verify: within tolerance (1 within tolerance)"


def test_the_test_process_itself_runs_on_the_pinned_kernels():
    """Tests compare in-process results with those of stages and servers they start: both must
    compute with the same kernels (tests/__init__.py imports tabpipe before NumPy loads)."""
    assert numerics.check() is None
