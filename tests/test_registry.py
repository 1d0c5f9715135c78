"""Promotion: the quality gate (pure), and GTO registration in a temporary Git repository."""

from __future__ import annotations

import json

import pytest
import yaml

from tabpipe.errors import PipelineError
from tabpipe.project.registry import Rule, choose_rule, judge, side_by_side
from tests.dvc_repo import run
from tests.prepared import clone

AUC = Rule("roc_auc", higher_is_better=True, limit=0.8, tolerance=0.005)
RMSE = Rule("rmse", higher_is_better=False, limit=10.0, tolerance=0.5)


@pytest.mark.parametrize(
    ("rule", "candidate", "current", "passed", "words"),
    [
        (AUC, 0.84, None, True, "no current version"),
        (AUC, 0.79, None, False, "below the limit 0.8000"),
        (AUC, 0.836, 0.84, True, "within the gate"),  # worse, but within the tolerance
        (AUC, 0.83, 0.84, False, "0.0100 below prod"),
        (AUC, 0.85, 0.84, True, "within the gate"),
        (RMSE, 10.5, None, False, "above the limit 10.0000"),
        (RMSE, 9.4, 9.0, True, "within the gate"),
        (RMSE, 9.6, 9.0, False, "0.6000 above prod"),
        (RMSE, 8.0, 9.0, True, "within the gate"),
    ],
)
def test_gate(rule, candidate, current, passed, words):
    verdict = judge(candidate, current, rule, "prod v0.0.1")
    assert verdict.passed is passed
    assert words in verdict.reason


def test_the_rule_follows_the_metrics_the_candidate_has():
    gates = {
        "roc_auc": {"higher_is_better": True, "limit": 0.8, "tolerance": 0.01},
        "rmse": {"higher_is_better": False, "limit": None, "tolerance": 0.0},
    }
    assert choose_rule({"roc_auc": 0.8, "f1": 0.6}, gates).metric == "roc_auc"
    assert choose_rule({"rmse": 3.0, "mae": 2.0}, gates) == Rule("rmse", False, None, 0.0)
    with pytest.raises(PipelineError, match="no rule for any test metric"):
        choose_rule({"accuracy": 0.9}, gates)


def test_side_by_side_shows_both_versions_and_the_change():
    table = side_by_side(
        {"roc_auc": 0.84, "f1": 0.6}, {"roc_auc": 0.83, "f1": 0.62}, "prod v1", "cand"
    )
    lines = table.splitlines()
    assert "prod v1" in lines[0] and "cand" in lines[0]
    assert lines[2].split() == ["roc_auc", "0.8400", "0.8300", "-0.0100"]
    assert side_by_side(None, {"roc_auc": 0.83}, "prod: none", "cand").splitlines()[2].split() == [
        "roc_auc",
        "-",
        "0.8300",
    ]


def gto_prod(repo) -> str | None:
    from gto import api

    found = api.find_versions_in_stage(str(repo), "churn-model", "prod")
    return found[0].version if found else None


def roc_auc_of(repo) -> float:
    return json.loads((repo / "metrics/evaluate/metrics.json").read_text())["test"]["roc_auc"]


@pytest.mark.slow
def test_promote_registers_a_better_model_and_refuses_a_worse_one(tmp_path, tmp_path_factory):
    repo, _ = clone("fast", tmp_path / "repo", tmp_path_factory)  # run and committed

    first = run(["tabpipe", "promote"], repo)
    assert "registered churn-model@v0.0.1" in first.stdout
    assert gto_prod(repo) == "v0.0.1"
    assert "v0.0.1" in run(["gto", "show"], repo).stdout
    assert "onnx: models/model.onnx" in first.stdout and (repo / "models/model.onnx").exists()
    card = (repo / "models/model_card.md").read_text()
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    raw_md5 = next(
        o["md5"] for o in lock["stages"]["fetch"]["outs"] if o["path"].startswith("data/")
    )
    assert "# Model card: churn-model v0.0.1" in card and raw_md5 in card and "prod" in card

    # a better model (test ROC-AUC 0.8422 against 0.8421) replaces it in prod
    prod_auc = roc_auc_of(repo)
    run(["dvc", "exp", "run", "-S", "model.C=3"], repo)
    run(["git", "commit", "-qam", "C=3"], repo)
    better = roc_auc_of(repo)
    assert better > prod_auc
    second = run(["tabpipe", "promote", "--no-onnx"], repo)
    assert "prod v0.0.1" in second.stdout  # the side-by-side table names the current version
    assert gto_prod(repo) == "v0.0.2"

    # a much more regularised model (0.829) is refused: more than 0.005 below prod
    run(["dvc", "exp", "run", "-S", "model.C=0.0001"], repo)
    uncommitted = run(["tabpipe", "promote", "--no-onnx"], repo, check=False)
    assert uncommitted.returncode == 1 and "uncommitted results" in uncommitted.stderr
    run(["git", "commit", "-qam", "C=0.0001"], repo)
    tags = run(["git", "tag"], repo).stdout
    worse = run(["tabpipe", "promote", "--no-onnx"], repo, check=False)
    assert worse.returncode == 1
    [line] = worse.stderr.strip().splitlines()
    assert line.startswith("error: [promote] churn-model ") and " refused: test roc_auc 0.8" in line
    assert "below prod v0.0.2" in line
    candidate = roc_auc_of(repo)
    assert candidate < better - 0.005
    assert f"{candidate:.4f}" in worse.stdout and f"{better:.4f}" in worse.stdout  # side by side
    assert gto_prod(repo) == "v0.0.2"
    assert run(["git", "tag"], repo).stdout == tags  # nothing registered or assigned
