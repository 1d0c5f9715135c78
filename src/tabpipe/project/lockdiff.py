"""What changed between two `dvc.lock` files, stage by stage.

`dvc.lock` records, for every stage that ran, the hash of each dependency, the value of each
params key it reads and the hash of each output. Two locks (a base commit and the head, or the
commit and the workspace after `dvc repro`) therefore tell which stages ran again and why,
without running anything. Used by `tabpipe report` (stages that reran) and
`tabpipe ci check-lock` (stages whose committed results are stale).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tabpipe.errors import PipelineError

LOCK = Path("dvc.lock")
PARAMS_FILE = "params.yaml"


@dataclass
class StageChange:
    """How one stage's lock entry differs between an old and a new `dvc.lock`."""

    stage: str
    added: bool = False  # in the new lock only: the stage ran for the first time
    removed: bool = False  # in the old lock only
    cmd: bool = False
    params: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # key -> (old, new)
    deps: list[str] = field(default_factory=list)
    outs: list[str] = field(default_factory=list)

    @property
    def inputs_changed(self) -> bool:
        """The stage had a reason to run: new, or its command, params or dependencies moved."""
        return self.added or self.cmd or bool(self.params) or bool(self.deps)

    def reason(self, limit: int = 3) -> str:
        """Why the stage ran, in a few words: `params model.C 1.0 -> 0.3; deps models/m.joblib`."""
        if self.added:
            return "new stage (not in the base lock)"
        if self.removed:
            return "stage removed"
        parts = []
        if self.cmd:
            parts.append("command changed")
        if self.params:
            parts.append(
                "params "
                + _cut([f"{k} {o!r} -> {n!r}" for k, (o, n) in self.params.items()], limit)
            )
        if self.deps:
            parts.append("deps " + _cut(self.deps, limit))
        if not parts and self.outs:
            parts.append("same inputs, different outputs: " + _cut(self.outs, limit))
        return "; ".join(parts)


def _cut(items: list[str], limit: int) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def flatten(data: Any, prefix: str) -> dict[str, Any]:
    """Flatten nested params (a whole section such as `balance`) into dotted keys."""
    if isinstance(data, dict) and data:
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: data}


def _params(entry: dict) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for file, values in (entry.get("params") or {}).items():
        for key, value in (values or {}).items():
            name = key if file == PARAMS_FILE else f"{file}:{key}"
            flat.update(flatten(value, name))
    return flat


def _files(entries: list[dict] | None) -> dict[str, dict]:
    """path -> the entry without its path (hash name, hash, size, ...)."""
    return {e["path"]: {k: v for k, v in e.items() if k != "path"} for e in entries or []}


def _changed(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


def pipeline_order(cwd: Path | None = None) -> list[str]:
    """The stages as dvc.yaml lists them (the order they run in); [] without a dvc.yaml."""
    file = Path(cwd or ".") / "dvc.yaml"
    if not file.exists():
        return []
    return list((yaml.safe_load(file.read_text(encoding="utf-8")) or {}).get("stages") or {})


def compare(
    old: dict | None, new: dict | None, order: list[str] | None = None
) -> list[StageChange]:
    """Stages whose lock entries differ, in `order` (dvc.yaml's: `pipeline_order`), then in
    the order of the new lock (DVC appends a stage added later at its end), then removed ones."""
    changes = _compare(old, new)
    rank = {name: i for i, name in enumerate(order or [])}
    return sorted(changes, key=lambda c: rank.get(c.stage, len(rank)))


def _compare(old: dict | None, new: dict | None) -> list[StageChange]:
    old_stages = (old or {}).get("stages") or {}
    new_stages = (new or {}).get("stages") or {}
    changes = []
    for name in [*new_stages, *(s for s in old_stages if s not in new_stages)]:
        if name not in old_stages:
            changes.append(
                StageChange(name, added=True, outs=sorted(_files(new_stages[name].get("outs"))))
            )
            continue
        if name not in new_stages:
            changes.append(StageChange(name, removed=True))
            continue
        a, b = old_stages[name], new_stages[name]
        pa, pb = _params(a), _params(b)
        change = StageChange(
            name,
            cmd=a.get("cmd") != b.get("cmd"),
            params={k: (pa.get(k), pb.get(k)) for k in _changed(pa, pb)},
            deps=_changed(_files(a.get("deps")), _files(b.get("deps"))),
            outs=_changed(_files(a.get("outs")), _files(b.get("outs"))),
        )
        if change.inputs_changed or change.outs:
            changes.append(change)
    return changes


def load(rev: str | None = None, path: Path = LOCK, cwd: Path | None = None) -> dict | None:
    """`dvc.lock` of a Git revision, or of the workspace when `rev` is None; None when absent."""
    if rev is None:
        file = Path(cwd or ".") / path
        return yaml.safe_load(file.read_text(encoding="utf-8")) if file.exists() else None
    result = subprocess.run(
        ["git", "show", f"{rev}:{path.as_posix()}"], cwd=cwd, capture_output=True, text=True
    )
    if result.returncode != 0:
        if "exists on disk, but not in" in result.stderr or "does not exist in" in result.stderr:
            return None
        raise PipelineError(
            f"cannot read {path} at Git revision '{rev}': {result.stderr.strip().splitlines()[-1]}",
            fix="pass a commit, branch or tag that exists (`git log --oneline`)",
        )
    return yaml.safe_load(result.stdout)
