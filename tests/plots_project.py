"""A throw-away DVC repository holding the project's dvc.yaml and committed metrics/, for
`tabpipe plots` without running the pipeline (about 3 s)."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.dvc_repo import PROJECT, committed_results, run


def plots_repo(dest: Path) -> Path:
    """`dest` as a Git + DVC repository with dvc.yaml, params.yaml and HEAD's metrics/."""
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy2(PROJECT / name, dest / name)
    committed_results(dest)
    run(["git", "init", "-q", "-b", "main"], dest)
    run(["dvc", "init", "-q"], dest)
    run(["git", "add", "-A"], dest)
    run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "results"],
        dest,
    )
    return dest
