"""evaluate above evaluate.importance_max_rows: importance on a sample, metrics on every row."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import yaml

from tests.test_stage_errors import run_stage


def test_importance_runs_on_a_sample_and_the_metrics_on_every_row(trained_project, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(trained_project, project)
    before = json.loads((project / "metrics/evaluate/metrics.json").read_text())
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["evaluate"]["importance_max_rows"] = 300
    (project / "params.yaml").write_text(yaml.safe_dump(params))

    result = run_stage("evaluate", project)

    assert result.returncode == 0, result.stderr
    assert "1,409 test rows > evaluate.importance_max_rows=300" in result.stdout
    after = json.loads((project / "metrics/evaluate/metrics.json").read_text())
    assert after["test"] == before["test"]  # the metrics still see all 1,409 test rows
    plot = project / "metrics/evaluate/plots/custom/importance.json"
    features = {row["feature"] for row in json.loads(plot.read_text())}
    test = pd.read_parquet(project / "data/split/test.parquet")
    assert "rownames" in test.columns  # an id column: the model never sees it, so no importance
    assert features == set(test.columns) - {params["data"]["target"], "rownames"}
