"""The scheduled monitor workflow: valid for GitHub, pinned actions, least privilege (offline)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from tests.dvc_repo import PROJECT

WORKFLOW = PROJECT / ".github/workflows/monitor.yaml"
BIN = Path(sys.executable).parent


def test_monitor_workflow_passes_the_schema_and_zizmor():
    schema = subprocess.run(
        [BIN / "check-jsonschema", "--builtin-schema", "vendor.github-workflows", WORKFLOW],
        capture_output=True,
        text=True,
    )
    assert schema.returncode == 0, schema.stdout + schema.stderr
    audit = subprocess.run([BIN / "zizmor", "--offline", WORKFLOW], capture_output=True, text=True)
    assert audit.returncode == 0, audit.stdout + audit.stderr


def test_monitor_workflow_is_scheduled_pinned_and_least_privileged():
    spec = yaml.safe_load(WORKFLOW.read_text())
    triggers = spec[True]  # YAML 1.1 reads the key `on` as True
    assert triggers["schedule"][0]["cron"] and "workflow_dispatch" in triggers
    assert spec["permissions"] == {}
    uses = re.findall(r"uses:\s*(\S+)", WORKFLOW.read_text())
    assert uses and all(re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", u) for u in uses)
    jobs = spec["jobs"]
    assert jobs["monitor"]["permissions"] == {"contents": "read"}
    assert jobs["open-retraining-issue"]["permissions"] == {"issues": "write"}
    assert "tabpipe monitor" in WORKFLOW.read_text()  # not `make monitor`: make maps 1 to 2
