"""`make report` and `tabpipe ci check-lock` on a real pull request's history.

A throw-away copy of the project gets two commits: the pipeline's results, then a change of
`model.C`. The second is first committed without its results (the mistake CI must catch:
`dvc repro` regenerates them and check-lock names the stale stages and the fix), then with
them; `make report BASE=HEAD~1` must show both test ROC-AUCs and the changed parameter.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.dvc_repo import affected_stages, run
from tests.prepared import clone

pytestmark = pytest.mark.slow


def commit(repo: Path, message: str, *, amend: bool = False) -> None:
    run(["git", "add", "-A"], repo)
    run(
        ["git", "commit", "-q", "--allow-empty", "-m", message, *(["--amend"] if amend else [])],
        repo,
    )


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> Path:
    return clone("fast", tmp_path_factory.mktemp("report") / "repo", tmp_path_factory)[0]


def test_a_stale_lock_fails_with_the_stages_and_the_fix(history):
    conf = history / "conf/model/logistic_regression.yaml"
    conf.write_text(re.sub(r"(?m)^C: .*$", "C: 0.3", conf.read_text()))
    run(["tabpipe", "config", "compose"], history)
    commit(history, "model.C=0.3, results forgotten")
    result = run(["dvc", "repro"], history)
    assert affected_stages(result.stdout) == ["select", "train", "evaluate"]
    check = run(["tabpipe", "ci", "check-lock"], history, check=False)
    assert check.returncode == 1
    lines = check.stderr.strip().splitlines()
    assert len(lines) == 1, check.stderr
    assert (  # in the pipeline's order
        "out of date: check (params model.C 1.0 -> 0.3); select (params model.C 1.0 -> 0.3); "
        "train (deps data/select/choice.json); "
        "evaluate (deps data/select/oof.parquet, models/model.skops)" in lines[0]
    )
    assert lines[0].endswith("Fix: run `make run`, then commit dvc.lock and metrics/")
    # the author follows the fix: the commit now holds its results and the check passes
    commit(history, "model.C=0.3", amend=True)
    assert run(["tabpipe", "ci", "check-lock"], history).returncode == 0


def metric(repo: Path, rev: str) -> float:
    text = run(["git", "show", f"{rev}:metrics/evaluate/metrics.json"], repo).stdout
    return json.loads(text)["test"]["roc_auc"]


def test_make_report_shows_both_metrics_the_parameter_and_the_stages(history):
    # `-o setup`: the copy has no .venv of its own; the test's venv is on PATH
    result = run(["make", "-o", "setup", "report", "BASE=HEAD~1"], history)
    report = (history / "report.md").read_text()
    assert report in result.stdout  # printed and written
    old, new = metric(history, "HEAD~1"), metric(history, "HEAD")
    assert old != new
    assert f"| roc_auc | {old:.4f} | {new:.4f} | {new - old:+.4f} |" in report
    assert "| `model.C` | 1.0 | 0.3 |" in report
    stages = re.findall(r"^\| `(\w+)` \|", report.split("### Stages that reran")[1], re.M)
    # check reads every params key, so it reruns on any change (its output stays the same)
    assert sorted(stages) == ["check", "evaluate", "select", "train"]
    assert "| `select` | params model.C 1.0 -> 0.3 |" in report  # train follows its choice
    assert f"test ROC-AUC {old:.4f} → {new:.4f}" in report
    # the plots: one page with everything, one Vega-Lite spec per plot declared in dvc.yaml
    assert (history / "dvc_plots/index.html").exists()
    for name in ("ROC", "Precision-Recall", "Confusion-Matrix", "Calibration"):
        spec = history / "dvc_plots/vega" / f"{name}.json"
        assert f"`dvc_plots/vega/{name}.json`" in report
        revs = {row["rev"] for row in json.loads(spec.read_text())["data"]["values"]}
        assert revs == {"HEAD~1", "workspace"}, name


def test_report_between_two_commits_and_a_bad_base(history):
    text = run(["tabpipe", "report", "--base", "HEAD~1", "--head", "HEAD", "--quiet"], history)
    assert text.stdout == ""
    report = (history / "report.md").read_text()
    assert "| `model.C` | 1.0 | 0.3 |" in report
    bad = run(["tabpipe", "report", "--base", "no-such-branch"], history, check=False)
    assert bad.returncode == 1
    assert bad.stderr.strip() == (
        "error: [report] Git revision 'no-such-branch' does not exist here. Fix: pass an "
        "existing commit, branch or tag: `make report BASE=HEAD~1`; in a shallow clone fetch "
        "the history first (`git fetch --unshallow`)"
    )
