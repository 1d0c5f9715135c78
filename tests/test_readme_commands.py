"""The README's commands work as a user types them: each bash block runs in a fresh copy of
the project on the default data, line by line, and `make run` prints what the README shows.

Placeholders are filled in as a user would: `<exp>` is the newest experiment, and
`customers.csv` is the default table exported with its target named `Churn`.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest

from tests.dvc_repo import PROJECT, VENV_BIN, copy_project, run

BLOCK = re.compile(r"```(?P<lang>\w*)\n(?P<body>.*?)```", re.S)
# lines the test does not run, each with its reason
NOT_RUN = {"make test": "it starts the suite this test belongs to"}


def blocks(text: str, lang: str) -> list[str]:
    return [m["body"] for m in BLOCK.finditer(text) if m["lang"] == lang]


def commands(block: str) -> list[str]:
    """The block's command lines, comments stripped (`  # ...` after a command)."""
    lines = [re.split(r"\s+#\s", line)[0].strip() for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_the_readme_lists_its_commands_in_bash_blocks():
    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    assert len(blocks(readme, "bash")) >= 4
    assert commands(blocks(readme, "bash")[0]) == ["make run", "make test"]


@pytest.mark.slow
def test_every_readme_command_runs_and_make_run_prints_the_readme_metrics(tmp_path):
    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    repo = copy_project(tmp_path / "clone", fast=False)  # the README shows the default's run
    (repo / ".venv").symlink_to(VENV_BIN.parent)  # the set-up itself is `make setup`'s job
    shown_metrics = blocks(readme, "text")[0].strip()
    ran = []
    for block in blocks(readme, "bash"):
        # each block starts from the committed state, as a reader of that section would
        run("git reset -q --hard && git clean -fdq -e .venv -e customers.csv", repo)
        if (repo / "data/raw/data.parquet").exists():
            run(["bash", "-c", "source .venv/bin/activate && dvc checkout -q --force"], repo)
        for line in commands(block):
            if line in NOT_RUN:
                continue
            if "customers.csv" in line and not (repo / "customers.csv").exists():
                table = pd.read_parquet(repo / "data/raw/data.parquet")
                table.rename(columns={"churn": "Churn"}).to_csv(repo / "customers.csv", index=False)
            if "<exp>" in line:
                names = run("dvc exp ls --name-only", repo).stdout.split()
                line = line.replace("<exp>", names[-1])
            # each line in a shell with the venv active, as after `source .venv/bin/activate`
            result = run(["bash", "-c", f"source .venv/bin/activate && {line}"], repo, check=False)
            assert result.returncode == 0, (
                f"README command `{line}` failed ({result.returncode}):\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
            if line == "make run":
                assert shown_metrics in result.stdout, result.stdout[-2000:]
                assert run("git status --porcelain", repo).stdout == ""
            ran.append(line)
    assert "make run" in ran and any(line.startswith("dvc exp run") for line in ran)
