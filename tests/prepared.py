"""Projects run once per test session and copied by every slow test file that starts from one.

A prepared project is a copy of this one (tests/dvc_repo.py's copy_project) after a cold
`dvc repro`: a minute for the committed default (model=auto's search), half a minute for the
fast fixed model. The slow files used to build their own; now the first pytest-xdist worker to
ask builds each kind, under a file lock in the directory both workers share, and each test file
gets a copy of the result (its Git history, DVC cache and outputs), which takes a second.

- "default": the committed defaults; the cold run happens in another machine's shell (the first
  of tests/machines.py's variants) and must leave `git status` clean, i.e. reproduce the
  committed lock and metrics. Nothing is committed on top.
- "fast": the fast fixed model (tests/dvc_repo.py's FAST) as the default, run and committed.
- "trained": no Git, no DVC: params.yaml of the fast model and the outputs of its stages, run in
  the asking worker's process (tests/trained_project.py's build_project, a few seconds), for
  the serving, scoring and monitoring tests (tests/conftest.py's trained_project).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from tests.dvc_repo import PROJECT, VENV_BIN, copy_project, run
from tests.machines import variants, with_variant

KINDS = ("default", "fast", "trained")


@dataclass(frozen=True)
class Prepared:
    root: Path  # the built project: copy it, never run in it
    stdout: str  # what its cold `dvc repro` printed ("" for "trained")


def _shared_dir(tmp_path_factory) -> Path:
    base = tmp_path_factory.getbasetemp()
    # under pytest-xdist each worker's basetemp is a child of the session's directory
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def set_up_venv(root: Path) -> None:
    """A .venv in `root` for the README's `source .venv/bin/activate` and its `make` targets:
    a folder of links to the test runner's venv with a `make setup` stamp of its own.

    A link to the runner's venv itself shared the stamp (.venv/.synced): the copy's files are
    newer, so the first `make` typed in the copy ran `uv sync` there, which installed the copy's
    src/ as the runner's editable tabpipe (a temporary folder, gone after the session) and
    touched the runner's stamp, so `make setup` in the project no longer repaired it. Here the
    stamp is the copy's, and make's uv is the project's (.tools) when none is on PATH.
    Whatever rewrites the copy's files (tests/doc_commands.py's reset) touches the stamp."""
    venv = root / ".venv"
    venv.mkdir()
    for entry in VENV_BIN.parent.iterdir():
        if not entry.name.startswith("."):  # bin, lib, pyvenv.cfg, ...
            (venv / entry.name).symlink_to(entry)
    # a file, as uv writes it: DVC warns on stderr about a .gitignore that is a link
    (venv / ".gitignore").write_text("*\n", encoding="utf-8")
    (venv / ".synced").touch()
    if (PROJECT / ".tools").is_dir():
        (root / ".tools").symlink_to(PROJECT / ".tools")


def _build(kind: str, root: Path) -> str:
    if kind == "trained":
        from tests.dvc_repo import fast_params
        from tests.trained_project import build_project

        root.mkdir()
        build_project(root, fast_params(root.with_name(f"{root.name}-params.yaml")))
        return ""
    copy_project(root, fast=kind == "fast")
    set_up_venv(root)
    if kind == "default":
        shutil.rmtree(root / "metrics")  # committed metric files would let DVC skip evaluate
        result = run(["dvc", "repro"], root, env_override=with_variant(variants()[0]))
        status = run(["git", "status", "--porcelain"], root).stdout
        assert status == "", f"the default's cold run changed committed files:\n{status}"
    else:
        result = run(["dvc", "repro"], root)
        run(["git", "add", "-A"], root)
        run(["git", "commit", "-q", "-m", "the fast model's run"], root)
    return result.stdout


def prepared(kind: str, tmp_path_factory) -> Prepared:
    """The session's prepared project of `kind`, built by whichever worker asks first."""
    assert kind in KINDS, kind
    shared = _shared_dir(tmp_path_factory)
    root, record = shared / f"prepared-{kind}", shared / f"prepared-{kind}.json"
    with FileLock(shared / f"prepared-{kind}.lock"):
        if not record.exists():
            try:
                outcome = {"stdout": _build(kind, root)}
            except BaseException as error:  # every later asker fails the same way, at once
                outcome = {"error": f"{type(error).__name__}: {error}"}
                record.write_text(json.dumps(outcome), encoding="utf-8")
                raise
            record.write_text(json.dumps(outcome), encoding="utf-8")
    outcome = json.loads(record.read_text(encoding="utf-8"))
    if "error" in outcome:
        raise AssertionError(f"preparing the {kind} project failed: {outcome['error']}")
    return Prepared(root, outcome["stdout"])


def clone(kind: str, dest: Path, tmp_path_factory) -> tuple[Path, str]:
    """A private copy of the prepared project of `kind` at `dest`, and its cold run's output."""
    source = prepared(kind, tmp_path_factory)
    shutil.copytree(source.root, dest, symlinks=True)
    return dest, source.stdout
