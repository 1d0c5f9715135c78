"""Promote a trained model: a quality gate, then GTO registration and stage assignment.

GTO keeps the registry in annotated Git tags (`churn-model@v0.0.2` registers a version of a
commit, `churn-model#prod#2` assigns it a stage). A version is a commit, so the candidate is
HEAD: its results must be committed and its model file must be the one `dvc.lock` records.
The version now in the stage is compared through the metrics file committed at its commit.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tabpipe import io
from tabpipe.errors import PipelineError
from tabpipe.io import locked_md5

# Results that must be committed before HEAD can stand for the candidate.
RESULT_FILES = ("dvc.lock", "params.yaml", "metrics")


@dataclass(frozen=True)
class Rule:
    metric: str
    higher_is_better: bool
    limit: float | None
    tolerance: float


@dataclass
class Verdict:
    passed: bool
    reason: str


def choose_rule(test_metrics: dict[str, float], gates: dict[str, Any]) -> Rule:
    """The first configured rule whose metric the candidate's test results hold."""
    for metric, gate in gates.items():
        if metric in test_metrics:
            return Rule(
                metric=str(metric),
                higher_is_better=bool(gate["higher_is_better"]),
                limit=None if gate["limit"] is None else float(gate["limit"]),
                tolerance=float(gate["tolerance"] or 0.0),
            )
    raise PipelineError(
        f"registry.gates has no rule for any test metric ({', '.join(test_metrics)})",
        fix="add a rule for one of them to conf/registry/",
    )


def judge(candidate: float, current: float | None, rule: Rule, current_name: str = "") -> Verdict:
    """Apply the gate: the limit first, then the tolerance against the current version."""
    sign = 1.0 if rule.higher_is_better else -1.0
    worse, bound = ("below", "at least") if rule.higher_is_better else ("above", "at most")
    if rule.limit is not None and sign * (candidate - rule.limit) < 0:
        return Verdict(
            False,
            f"test {rule.metric} {candidate:.4f} is {worse} the limit {rule.limit:.4f} "
            f"(registry.gates.{rule.metric}.limit: must be {bound} this)",
        )
    if current is not None and sign * (candidate - current) < -rule.tolerance - 1e-12:
        return Verdict(
            False,
            f"test {rule.metric} {candidate:.4f} is {abs(candidate - current):.4f} {worse} "
            f"{current_name} ({current:.4f}); the tolerance is {rule.tolerance:g} "
            f"(registry.gates.{rule.metric}.tolerance)",
        )
    if current is None:
        return Verdict(
            True, f"test {rule.metric} {candidate:.4f} meets the limit; no current version"
        )
    return Verdict(
        True, f"test {rule.metric} {candidate:.4f} vs {current_name} {current:.4f}: within the gate"
    )


def side_by_side(
    current: dict[str, float] | None,
    candidate: dict[str, float],
    current_name: str,
    candidate_name: str,
) -> str:
    """Both versions' test metrics as a table, with the difference."""
    names = list(candidate) + [k for k in (current or {}) if k not in candidate]
    width = max(len(n) for n in names + ["metric"])
    cell = max(10, len(current_name), len(candidate_name))
    head = f"{'metric':<{width}}  {current_name:>{cell}}  {candidate_name:>{cell}}  {'change':>8}"
    lines = [head, "-" * len(head)]
    for name in names:
        old = (current or {}).get(name)
        new = candidate.get(name)
        cells = [
            f"{v:>{cell}.4f}" if isinstance(v, int | float) else f"{'-':>{cell}}"
            for v in (old, new)
        ]
        change = f"{new - old:>+8.4f}" if old is not None and new is not None else ""
        lines.append(f"{name:<{width}}  {cells[0]}  {cells[1]}  {change}".rstrip())
    return "\n".join(lines)


# ----------------------------------------------------------------------------- Git and GTO


def _git(args: list[str], repo: Path) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=repo, capture_output=True, text=True, check=True
        ).stdout
    except FileNotFoundError:
        raise PipelineError(
            "git is not installed", fix="install Git; GTO keeps the registry in Git tags"
        ) from None
    except subprocess.CalledProcessError as err:
        raise PipelineError(
            f"git {' '.join(args)} failed: {err.stderr.strip().splitlines()[-1:]}"
        ) from None


def committed_metrics(repo: Path, commit: str) -> dict[str, float] | None:
    """Test metrics of the metrics file committed at `commit`, or None if it has none."""
    result = subprocess.run(
        ["git", "show", f"{commit}:{io.EVALUATE_METRICS.as_posix()}"],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        return None
    return json.loads(result.stdout).get("test")


def check_candidate(repo: Path, model_path: str) -> str:
    """HEAD's commit, once its results are committed and the model file matches dvc.lock."""
    import yaml

    head = _git(["rev-parse", "HEAD"], repo).strip()
    dirty = _git(["status", "--porcelain", "--", *RESULT_FILES], repo).splitlines()
    if dirty:
        names = ", ".join(line[3:] for line in dirty[:5])
        raise PipelineError(
            f"uncommitted results ({names}); a registered version is a commit",
            fix="commit the run first (`git add dvc.lock params.yaml metrics && git commit`)",
        )
    lock_text = _git(["show", "HEAD:dvc.lock"], repo)
    expected = locked_md5(yaml.safe_load(lock_text) or {}, model_path)
    model = repo / model_path
    if expected is None:
        raise PipelineError(
            f"dvc.lock at HEAD records no {model_path}", fix="run `make run` and commit"
        )
    if not model.exists() or io.file_digest(model, "md5") != expected:
        raise PipelineError(
            f"{model_path} is not the model HEAD's dvc.lock records",
            fix="`dvc checkout` restores it (or `dvc repro` and commit)",
        )
    return head


def artifact_path(repo: Path, artifact: str) -> str:
    """The path `artifacts:` in dvc.yaml gives the artifact."""
    import yaml

    spec = yaml.safe_load((repo / "dvc.yaml").read_text(encoding="utf-8")) or {}
    entry = (spec.get("artifacts") or {}).get(artifact)
    if not entry or "path" not in entry:
        raise PipelineError(
            f"dvc.yaml declares no artifact '{artifact}' (registry.artifact)",
            fix=f"use one of: {', '.join(spec.get('artifacts') or {}) or 'none declared'}",
        )
    return str(entry["path"])


def current_version(repo: Path, artifact: str, stage: str) -> tuple[str, str] | None:
    """(version, commit) of the artifact's version now in `stage`, or None."""
    from gto import api
    from gto.exceptions import ArtifactNotFound

    try:
        found = api.find_versions_in_stage(str(repo), artifact, stage)
    except ArtifactNotFound:  # nothing registered yet
        return None
    if not found:
        return None
    latest = found[0] if isinstance(found, list) else found
    return latest.version, latest.commit_hexsha


def registered_version(repo: Path, artifact: str, commit: str) -> str | None:
    """The version registered for `commit`, if any."""
    from gto import api
    from gto.exceptions import ArtifactNotFound

    try:
        rows = api.show(str(repo), artifact)
    except ArtifactNotFound:
        return None
    for row in rows:
        if row.get("commit_hexsha") == commit and row.get("registrations"):
            return row["version"]
    return None


# ----------------------------------------------------------------------------- promote


def promote(repo: Path = Path("."), echo=print) -> str:
    """Gate the candidate (HEAD) against the config and the current version; register and assign.

    Returns the promoted version; raises PipelineError (one line) when the gate refuses.
    """
    from tabpipe.config import load_section

    repo = Path(repo)
    cfg = load_section("registry", path=repo / io.PARAMS)
    artifact, stage = cfg.artifact, cfg.stage
    model_path = artifact_path(repo, artifact)
    head = check_candidate(repo, model_path)
    candidate = committed_metrics(repo, head)
    if not candidate:
        raise PipelineError(
            f"HEAD has no committed {io.EVALUATE_METRICS}", fix="run `make run` and commit"
        )
    rule = choose_rule(candidate, cfg.gates)

    current = current_version(repo, artifact, stage)
    current_metrics, current_name = None, f"{stage}: none"
    if current is not None:
        version, commit = current
        current_name = f"{stage} {version} {commit[:7]}"
        current_metrics = committed_metrics(repo, commit)
        if current_metrics is None:
            raise PipelineError(
                f"{artifact} {version} in {stage} (commit {commit[:7]}) has no committed "
                f"{io.EVALUATE_METRICS} to compare with",
                fix=f"assign a version with metrics (`gto assign {artifact} --stage {stage} "
                "--version <v>`) or remove the stage (`gto unassign`)",
            )
    echo(f"{artifact}: candidate {head[:7]} vs {stage}; gate on test {rule.metric}")
    echo(side_by_side(current_metrics, candidate, current_name, f"candidate {head[:7]}"))

    verdict = judge(
        candidate[rule.metric],
        None if current_metrics is None else current_metrics.get(rule.metric),
        rule,
        current_name,
    )
    if not verdict.passed:
        raise PipelineError(
            f"{artifact} {head[:7]} refused: {verdict.reason}",
            fix="improve the model, or change the gate in conf/registry/",
        )
    echo(f"gate passed: {verdict.reason}")

    from gto import api

    if current is not None and current[1] == head:
        echo(f"{artifact} {current[0]} ({head[:7]}) is already in {stage}")
        return current[0]
    version = registered_version(repo, artifact, head)
    if version is None:
        tag = api.register(str(repo), artifact, ref=head)
        version = tag.version
        echo(f"registered {artifact}@{version} (commit {head[:7]})")
    api.assign(str(repo), artifact, stage, version=version)
    echo(f"assigned {artifact} {version} to {stage}; see `gto show`")
    return version
