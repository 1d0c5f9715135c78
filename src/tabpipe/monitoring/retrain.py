"""`make retrain NEW=path`: train on a labelled batch and promote the result only if it is better.

1. The batch is checked (the source table's columns, every row labelled with a known label,
   values that clean like the training data's) and added as data/incoming/<name>.parquet,
   tracked by DVC: the raw data gets a new version (`fetch` appends the batch).
2. The pipeline reruns as a DVC experiment (`dvc exp run -n retrain-<name>`).
3. The run is committed and handed to the registry's quality gate (`tabpipe promote`,
   tabpipe.project.registry): it registers and assigns the new version to prod only when the gate
   passes. When the gate refuses, the commit is undone (`git reset --keep`), the batch file is
   removed and the workspace's outputs go back to production's (`dvc checkout`); the run stays
   listed as an experiment (`dvc exp show`) to inspect or `dvc exp apply` later.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tabpipe import io
from tabpipe.errors import PipelineError

# What a retrain run changes; they must be committed before it starts, so undoing is exact.
RESULT_PATHS = ("dvc.lock", "params.yaml", "metrics", str(io.INCOMING_DIR))


@dataclass
class Outcome:
    promoted: bool
    reason: str
    experiment: str
    version: str | None = None


def _env() -> dict[str, str]:
    """Stage commands run `python`: it must be this environment's, as the Makefile arranges."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _run(args: list[str], repo: Path, capture: bool = True) -> str:
    try:
        result = subprocess.run(
            args, cwd=repo, env=_env(), capture_output=capture, text=True, check=False
        )
    except FileNotFoundError:
        raise PipelineError(f"{args[0]} is not installed", fix="run `make setup`") from None
    if result.returncode != 0:
        last = (result.stderr or result.stdout or "").strip().splitlines()[-1:] if capture else []
        raise PipelineError(
            f"`{' '.join(args)}` failed (exit {result.returncode})"
            + (f": {last[0]}" if last else "; see its output above")
        )
    return result.stdout or ""


def batch_name(path: Path) -> str:
    """A file and experiment name from the batch's file name (letters, digits, - _ .)."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(path).name.split(".")[0]).strip("-.")
    return name or "batch"


def check_labelled_batch(batch, raw_columns: list[str], where: str, repo: Path) -> None:
    """The batch has the source table's columns, and every row a label training knows."""
    from tabpipe.config import load_params, load_section
    from tabpipe.core import drift

    missing = [c for c in raw_columns if c not in batch.columns]
    extra = [c for c in batch.columns if c not in raw_columns]
    if missing or extra:
        detail = "; ".join(
            f"{label} {', '.join(map(str, cols))}"
            for label, cols in (("missing", missing), ("not in the training data", extra))
            if cols
        )
        raise PipelineError(
            f"{where}: the batch's columns differ from the training data's ({detail})",
            fix=f"send rows with the columns of {io.RAW}",
        )
    params = load_params(repo / io.PARAMS)
    data_cfg, clean_cfg = load_section("data", params=params), load_section("clean", params=params)
    columns = io.read_json(repo / io.COLUMNS)
    prepared = drift.prepare_rows(
        batch, columns, clean_cfg, where=where, drop=[str(c) for c in data_cfg.drop]
    )
    if prepared.target is None or prepared.target.isna().any():
        unlabelled = len(batch) if prepared.target is None else int(prepared.target.isna().sum())
        raise PipelineError(
            f"{where}: {unlabelled} row(s) have no '{columns['target']}' label; retraining "
            "needs the true outcomes",
            fix="send the batch once its outcomes are known (monitor it before: `make monitor`)",
        )


def add_batch(new: Path, repo: Path) -> Path:
    """Check the batch and add it as data/incoming/<name>.parquet, tracked by DVC."""
    for needed in (io.RAW, io.COLUMNS):
        if not (repo / needed).exists():
            raise PipelineError(f"{needed} does not exist", fix="run the pipeline: `make run`")
    import pyarrow.parquet as pq

    raw_columns = list(pq.read_schema(repo / io.RAW).names)
    batch = io.read_table(new)
    check_labelled_batch(batch, raw_columns, str(new), repo)
    dest = io.INCOMING_DIR / f"{batch_name(new)}.parquet"
    if (repo / dest).exists() or (repo / f"{dest}.dvc").exists():
        raise PipelineError(
            f"{dest} already exists: this batch is already in the training data",
            fix="give the new batch another file name",
        )
    io.write_parquet(batch[raw_columns], repo / dest)
    _run(["dvc", "add", str(dest)], repo)
    return dest


def undo(repo: Path, head: str, dest: Path) -> None:
    """Back to production: our commit undone, the batch removed, outputs checked out again."""
    if _run(["git", "rev-parse", "HEAD"], repo).strip() != head:
        _run(["git", "reset", "-q", "--keep", head], repo)  # only files our commit changed
    _run(["git", "reset", "-q", head, "--", str(io.INCOMING_DIR)], repo)  # unstage `dvc add`
    for path in (repo / dest, repo / f"{dest}.dvc"):
        path.unlink(missing_ok=True)
    gitignore = (io.INCOMING_DIR / ".gitignore").as_posix()
    exists = subprocess.run(
        ["git", "cat-file", "-e", f"{head}:{gitignore}"], cwd=repo, capture_output=True
    )
    if exists.returncode == 0:
        _run(["git", "checkout", head, "--", gitignore], repo)
    else:
        (repo / gitignore).unlink(missing_ok=True)
    _run(["git", "checkout", head, "--", *RESULT_PATHS[:3]], repo)
    _run(["dvc", "checkout", "--force", "--quiet"], repo)


def retrain(
    new: Path,
    promote: Callable[..., str],
    repo: Path = Path("."),
    echo: Callable[[str], None] = print,
) -> Outcome:
    """Add the batch, rerun the pipeline as an experiment, promote through the gate or undo.

    `promote(repo, echo=...)` is the registry's quality gate and promotion
    (`tabpipe.project.registry.promote`), passed in by the CLI so that monitoring and the
    project's tooling stay independent products.
    """
    repo = Path(repo)
    dirty = _run(["git", "status", "--porcelain", "--", *RESULT_PATHS], repo).splitlines()
    if dirty:
        raise PipelineError(
            f"uncommitted changes in {', '.join(line[3:] for line in dirty[:4])}: retraining "
            "starts from the committed production state",
            fix="commit or discard them first (`git status`)",
        )
    head = _run(["git", "rev-parse", "HEAD"], repo).strip()
    dest = add_batch(Path(new), repo)
    name = batch_name(new)
    experiment = f"retrain-{name}"
    echo(f"retrain: added {new} as {dest} (DVC-tracked); running experiment {experiment}")
    try:
        _run(["dvc", "exp", "run", "-n", experiment], repo, capture=False)
        _run(["git", "add", "--", *RESULT_PATHS], repo)
        _run(["git", "commit", "-q", "-m", f"Retrain on {name}: add {dest} to the data"], repo)
    except PipelineError:
        undo(repo, head, dest)
        raise

    try:
        version = promote(repo, echo=echo)
    except PipelineError as err:  # the gate refused (or could not judge): production stays
        undo(repo, head, dest)
        return Outcome(False, err.message, experiment)
    except Exception as err:
        undo(repo, head, dest)
        raise PipelineError(f"promotion failed: {type(err).__name__}: {err}") from None
    return Outcome(True, f"promoted {version}", experiment, version)
