"""`tabpipe verify` (`make verify`): does this machine reproduce the committed results, and how?

Every output in the committed dvc.lock, and every metric and plot file Git holds, gets one of:
- identical: the same bytes (the contract on x86-64, docs/reproducibility.md);
- within tolerance: different bytes, but every number within `RELATIVE` of the committed one
  and, for a model, the same predictions to that tolerance and the same ranking of rows;
- different: the stage, the file and the first value that differs.
Without `--rerun` it judges the workspace (after `make run`); with `--rerun` it clones the
commit into a temporary folder, runs `dvc repro` there and judges that, leaving the workspace
alone. It prints the environment of each side and writes nothing tracked.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tabpipe import numerics
from tabpipe.errors import PipelineError

RELATIVE = 1e-9  # metrics, plot values and predictions: |a - b| <= RELATIVE * max(|a|, |b|)
ABSOLUTE = 1e-12  # ... or this close to zero
IDENTICAL, TOLERANCE, DIFFERENT = "identical", "within tolerance", "different"
RESULT_DIRS = ("metrics",)
LOCK = "dvc.lock"


@dataclass
class Verdict:
    path: str
    stage: str
    case: str  # IDENTICAL, TOLERANCE or DIFFERENT
    detail: str = ""

    def line(self) -> str:
        detail = f": {self.detail}" if self.detail else ""
        return f"  {self.case:<17} [{self.stage}] {self.path}{detail}"


# ----------------------------------------------------------------------------- comparing values


def close(a: float, b: float) -> bool:
    if a == b or (math.isnan(a) and math.isnan(b)):
        return True
    return abs(a - b) <= max(RELATIVE * max(abs(a), abs(b)), ABSOLUTE)


def first_difference(old: Any, new: Any, where: str = "") -> str | None:
    """None when equal within tolerance; otherwise where the first value differs and how."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in old.keys() | new.keys():
            if key not in old or key not in new:
                return f"{where}{key}: only in the {'commit' if key in old else 'new run'}"
        for key in old:
            miss = first_difference(old[key], new[key], f"{where}{key}.")
            if miss:
                return miss
        return None
    if isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            return f"{where.rstrip('.')}: {len(old)} items in the commit, {len(new)} here"
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            miss = first_difference(a, b, f"{where.rstrip('.')}[{i}].")
            if miss:
                return miss
        return None
    numbers = (int, float)
    if isinstance(old, numbers) and isinstance(new, numbers) and not isinstance(old, bool):
        if close(float(old), float(new)):
            return None
        return f"{where.rstrip('.')} = {old!r} in the commit, {new!r} here"
    if old != new:
        return f"{where.rstrip('.')} = {old!r} in the commit, {new!r} here"
    return None


NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def parse(path: str, data: bytes) -> Any:
    """A metric or plot file's values: JSON/YAML as data, other text as words and numbers."""
    text = data.decode("utf-8")
    if path.endswith(".json"):
        return json.loads(text)  # dvclive's ROC holds Infinity: Python's json reads it
    if path.endswith((".yaml", ".yml")):
        return yaml.safe_load(text)
    return [float(t) if NUMBER.fullmatch(t) else t for t in re.split(r"(\s+|\|)", text)]


def compare_file(path: str, committed: bytes, new: bytes) -> tuple[str, str]:
    if committed == new:
        return IDENTICAL, ""
    try:
        miss = first_difference(parse(path, committed), parse(path, new))
    except (ValueError, UnicodeDecodeError):
        return DIFFERENT, "binary contents differ"
    if miss is None:
        return TOLERANCE, f"every value within {RELATIVE:g} relative"
    return DIFFERENT, f"first difference: {miss}"


def compare_predictions(old: Any, new: Any) -> tuple[str, str]:
    """Two numeric prediction vectors (scores of the same rows)."""
    import numpy as np

    old, new = np.asarray(old, dtype="float64"), np.asarray(new, dtype="float64")
    scale = np.maximum(np.maximum(np.abs(old), np.abs(new)), ABSOLUTE / RELATIVE)
    worst = float(np.max(np.abs(old - new) / scale)) if len(old) else 0.0
    same_order = bool(
        np.array_equal(np.argsort(old, kind="stable"), np.argsort(new, kind="stable"))
    )
    if worst <= RELATIVE and same_order:
        return TOLERANCE, f"predictions within {worst:.1e} relative, same ranking of rows"
    i = int(np.argmax(np.abs(old - new) / scale))
    ranking = "same ranking" if same_order else "ranking of rows differs"
    return (
        DIFFERENT,
        f"prediction of row {i}: {old[i]!r} in the commit, {new[i]!r} here ({ranking})",
    )


# ----------------------------------------------------------------------------- the two sides


def git(args: list[str], cwd: Path, binary: bool = False) -> Any:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=not binary)
    if result.returncode != 0:
        err = result.stderr if not binary else result.stderr.decode(errors="replace")
        raise PipelineError(f"git {' '.join(args)} failed: {err.strip()}", fix="run in the repo")
    return result.stdout


def lock_outs(lock: dict) -> dict[str, tuple[str, str]]:
    """Output path -> (stage, md5) from a parsed dvc.lock."""
    return {
        out["path"]: (stage, out.get("md5", ""))
        for stage, spec in (lock.get("stages") or {}).items()
        for out in spec.get("outs") or []
    }


def cached(repo: Path, md5: str) -> Path | None:
    """The file DVC's cache holds for `md5`, if this machine has it."""
    path = repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    return path if path.is_file() else None


def verify(
    repo: Path, rev: str = "HEAD", run: Path | None = None, score: Callable | None = None
) -> list[Verdict]:
    """Judge the results in `run` (default: the workspace `repo`) against commit `rev`."""
    run = run or repo
    committed_lock = yaml.safe_load(git(["show", f"{rev}:{LOCK}"], repo)) or {}
    lock_path = run / LOCK
    if not lock_path.exists():
        raise PipelineError(f"verify: no {LOCK} in {run}", fix="run `make run` first")
    new_outs = lock_outs(yaml.safe_load(lock_path.read_text(encoding="utf-8")) or {})
    tracked = set(git(["ls-tree", "-r", "--name-only", rev, "--", *RESULT_DIRS], repo).split())
    owners = {path: stage for path, (stage, _) in lock_outs(committed_lock).items()}

    def owner(path: str) -> str:
        return next((s for o, s in owners.items() if path == o or path.startswith(o + "/")), "?")

    verdicts = []
    for path, (stage, md5) in lock_outs(committed_lock).items():
        if any(t == path or t.startswith(path + "/") for t in tracked):
            continue  # Git holds it: judged file by file below
        new_md5 = new_outs.get(path, (stage, None))[1]
        if new_md5 == md5:
            verdicts.append(Verdict(path, stage, IDENTICAL))
            continue
        case, detail = DIFFERENT, f"md5 {md5[:8]}… in the commit, {str(new_md5)[:8]}… here"
        old_file = cached(repo, md5)
        if old_file is not None and (run / path).is_file():
            case, detail = compare_artifact(path, old_file, run / path, score)
        elif old_file is None:
            detail += " (the committed bytes are not in this machine's DVC cache: `dvc pull`)"
        verdicts.append(Verdict(path, stage, case, detail))
    for path in sorted(tracked):
        committed = git(["show", f"{rev}:{path}"], repo, binary=True)
        new_file = run / path
        if not new_file.is_file():
            verdicts.append(Verdict(path, owner(path), DIFFERENT, "missing here"))
            continue
        case, detail = compare_file(path, committed, new_file.read_bytes())
        verdicts.append(Verdict(path, owner(path), case, detail))
    return verdicts


def compare_artifact(path: str, old: Path, new: Path, score: Callable | None) -> tuple[str, str]:
    """A DVC-cached output whose bytes differ: tables by value, models by their predictions."""
    if path.endswith(".parquet"):
        import pandas as pd

        a, b = pd.read_parquet(old), pd.read_parquet(new)
        if list(a.columns) != list(b.columns) or len(a) != len(b):
            return DIFFERENT, f"shape {a.shape} in the commit, {b.shape} here"
        miss = first_difference(a.to_dict("list"), b.to_dict("list"))
        if miss is None:
            return TOLERANCE, f"every value within {RELATIVE:g} relative"
        return DIFFERENT, f"first difference: {miss}"
    if path.endswith(".skops") and score is not None:
        return compare_predictions(score(old), score(new))
    return DIFFERENT, "bytes differ"


def model_scores(run: Path) -> Callable[[Path], Any]:
    """Scores of the test split's rows under a model file (how two model files are compared)."""

    def score(model_file: Path):
        from tabpipe import io

        pipeline = io.load_model(model_file)
        columns = json.loads((run / io.COLUMNS).read_text(encoding="utf-8"))
        rows = io.read_parquet(run / io.split_path("test")).drop(columns=[columns["target"]])
        if hasattr(pipeline, "predict_proba"):
            try:
                return pipeline.predict_proba(rows).ravel()
            except (AttributeError, ValueError):
                pass
        try:
            return pipeline.predict(rows)
        except (AttributeError, ValueError, TypeError):  # a transformer: its features
            import numpy as np

            return np.asarray(pipeline.transform(rows), dtype="float64").ravel()

    return score


def summary(verdicts: list[Verdict]) -> str:
    for case in (DIFFERENT, TOLERANCE):
        if any(v.case == case for v in verdicts):
            break
    else:
        case = IDENTICAL
    counts = {c: sum(v.case == c for v in verdicts) for c in (IDENTICAL, TOLERANCE, DIFFERENT)}
    figures = ", ".join(f"{n} {c}" for c, n in counts.items() if n)
    return f"verify: {case} ({figures})"


def overall(verdicts: list[Verdict]) -> str:
    cases = {v.case for v in verdicts}
    return DIFFERENT if DIFFERENT in cases else TOLERANCE if TOLERANCE in cases else IDENTICAL


# ----------------------------------------------------------------------------- environments


def committed_versions(repo: Path, rev: str) -> str:
    """The versions uv.lock pins at `rev`: what the committed side was made with."""
    try:
        lock = git(["show", f"{rev}:uv.lock"], repo)
    except PipelineError:
        return "unknown (no uv.lock)"
    pins = dict(re.findall(r'\[\[package\]\]\nname = "([^"]+)"\nversion = "([^"]+)"', lock))
    return ", ".join(f"{p} {pins[p]}" for p in numerics.VERSIONED if p in pins)


def environment_lines(repo: Path, rev: str, here: dict[str, str]) -> list[str]:
    sha = git(["rev-parse", "--short", rev], repo).strip()
    lines = [f"environment of the commit ({rev} = {sha}): not recorded in Git (results only)"]
    lines.append(f"  versions (uv.lock) {committed_versions(repo, rev)}")
    lines.append("environment here:")
    lines += [f"  {key:<18} {value}" for key, value in here.items()]
    return lines


def environment_of_stages(run: Path) -> dict[str, str]:
    """describe() in a fresh interpreter of the project's venv, as a stage would start."""
    code = "import json; from tabpipe import numerics; print(json.dumps(numerics.describe()))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=run, capture_output=True, text=True, env=dict(os.environ)
    )
    if result.returncode != 0:
        return {"error": result.stderr.strip().splitlines()[-1:]}
    return json.loads(result.stdout)


# ----------------------------------------------------------------------------- the command


def rerun(repo: Path, rev: str, echo: Callable[[str], None]) -> Path:
    """Clone `rev` into a temporary folder and run the pipeline there (the workspace untouched)."""
    where = Path(tempfile.mkdtemp(prefix="tabpipe-verify-"))
    git(["clone", "--quiet", "--no-checkout", str(repo.resolve()), str(where)], repo)
    git(
        ["checkout", "--quiet", rev if rev != "HEAD" else git(["rev-parse", rev], repo).strip()],
        where,
    )
    env = dict(os.environ, DVC_NO_ANALYTICS="1")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    echo(f"verify: running the pipeline in {where} (dvc repro)")
    result = subprocess.run(["dvc", "repro"], cwd=where, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise PipelineError(f"verify: the rerun failed: {' | '.join(tail)}", fix=f"see {where}")
    return where


def main(
    repo: Path = Path("."),
    rev: str = "HEAD",
    do_rerun: bool = False,
    echo: Callable[[str], None] = print,
) -> str:
    """Print every verdict and both environments; return the overall case."""
    run = rerun(repo, rev, echo) if do_rerun else repo
    verdicts = verify(repo, rev, run, model_scores(run))
    echo(f"verify: results in {'a fresh rerun' if do_rerun else 'the workspace'} vs commit {rev}")
    shown = [v for v in verdicts if v.case != IDENTICAL]
    for verdict in shown:
        echo(verdict.line())
    if len(shown) < len(verdicts):
        echo(f"  {IDENTICAL:<17} the other {len(verdicts) - len(shown)} outputs")
    for line in environment_lines(repo, rev, environment_of_stages(run)):
        echo(line)
    echo(summary(verdicts))
    return overall(verdicts)
