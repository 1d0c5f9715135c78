"""The README's commands work as a user types them: each bash block runs in a fresh copy of
the project on the default data, line by line, and `make run` prints what the README shows.

How lines are run and placeholders filled in (`<exp>`: the newest experiment;
`customers.csv`: the default table exported with its target named `Churn`) is
tests/doc_commands.py's, shared with the docs pages' test.
"""

from __future__ import annotations

import re

import pytest

from tests.doc_commands import blocks, reset, run_block
from tests.dvc_repo import PROJECT, VENV_BIN, copy_project, run

README = PROJECT / "README.md"


def test_the_readme_lists_its_commands_in_bash_blocks():
    found = blocks(README)
    assert len(found) >= 4 and not any(b.not_run for b in found)
    assert [c for c, _ in found[0].commands()] == ["make run", "make test"]


@pytest.mark.slow
def test_every_readme_command_runs_and_make_run_prints_the_readme_metrics(tmp_path):
    readme = README.read_text(encoding="utf-8")
    shown_metrics = re.search(r"```text\n(.*?)```", readme, re.S)[1].strip()
    repo = copy_project(tmp_path / "clone", fast=False)  # the README shows the default's run
    (repo / ".venv").symlink_to(VENV_BIN.parent)  # the set-up itself is `make setup`'s job

    def check_make_run(command: str, stdout: str) -> None:
        if command == "make run":
            assert shown_metrics in stdout, stdout[-2000:]
            assert run("git status --porcelain", repo).stdout == ""

    ran = []
    for block in blocks(README):
        reset(repo)  # each block starts from the committed state, as a reader of that section
        ran += run_block(block, repo, after=check_make_run)
    assert "make run" in ran and any(line.startswith("dvc exp run") for line in ran)
