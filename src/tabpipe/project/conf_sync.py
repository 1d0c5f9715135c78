"""Keep conf/ (the source of truth) and params.yaml (what DVC tracks) equal.

DVC composes conf/ into params.yaml on `dvc exp run` only, never on `dvc repro`, and
`dvc exp apply` / `dvc exp branch` bring back an experiment's params.yaml but not conf/.
These functions close both gaps:

- `compose`: write params.yaml from conf/ exactly as `dvc exp run` does.
- `drift`: the keys where params.yaml and the composition of conf/ disagree.
- `sync`: what `make run` calls first: compose when only conf/ changed, refuse (naming the
  keys and both ways out) when params.yaml changed on its own.
- `adopt`: the way back: write params.yaml's values (an applied experiment's overrides,
  group choices included) into conf/, so that conf/ composes to params.yaml again.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

from tabpipe.errors import PipelineError

CONF_DIR = Path("conf")
PARAMS = Path("params.yaml")
CONFIG_NAME = "config"


def compose(
    overrides: list[str] | None = None, conf_dir: Path = CONF_DIR, output: Path = PARAMS
) -> Path:
    """Compose conf/ into `output` with DVC's own function: what `dvc exp run` writes, exactly."""
    from dvc.utils.hydra import compose_and_dump
    from hydra.errors import HydraException, OverrideParseException

    root = Path(conf_dir).resolve().parent
    try:
        compose_and_dump(
            str(output),
            str(Path(conf_dir).resolve()),
            None,
            CONFIG_NAME,
            str(root),
            overrides or [],
        )
    except OverrideParseException as err:
        raise PipelineError(
            f"cannot parse the override {str(err).splitlines()[0].split(': ', 1)[-1]!r}",
            fix="quote a value holding spaces or symbols: \"data.query='SELECT * FROM t'\"",
        ) from None
    except HydraException as err:
        import re

        text = str(err)
        added = re.search(r"use (\+\S+)", text)
        if added:  # a key no option of conf/ has: Hydra's fix is on its second line
            key = added.group(1)[1:].split("=", 1)[0]
            raise PipelineError(
                f"conf/: there is no key {key} to override",
                fix=f"check its spelling, or add it with a leading +: `-S {added.group(1)}` "
                f"(`tabpipe config compose {added.group(1)}`)",
            ) from None
        raise PipelineError(f"conf/: {text.splitlines()[0]}") from None
    return Path(output)


def composed(overrides: list[str] | None = None, conf_dir: Path = CONF_DIR) -> dict[str, Any]:
    """The composition of conf/ as plain data."""
    with tempfile.TemporaryDirectory() as tmp:
        out = compose(overrides, conf_dir, Path(tmp) / "params.yaml")
        return yaml.safe_load(out.read_text(encoding="utf-8"))


def _leaves(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict) and data:
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_leaves(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): data}


def diff(expected: dict, actual: dict) -> dict[str, tuple[Any, Any]]:
    """Leaf keys whose values differ: key -> (value in expected, value in actual)."""
    a, b = _leaves(expected), _leaves(actual)
    missing = object()
    return {
        key: (a.get(key), b.get(key))
        for key in sorted(set(a) | set(b))
        if a.get(key, missing) != b.get(key, missing)
    }


def drift(params: Path = PARAMS, conf_dir: Path = CONF_DIR) -> dict[str, tuple[Any, Any]]:
    """Keys where conf/ (first value) and params.yaml (second value) disagree."""
    current = (
        yaml.safe_load(Path(params).read_text(encoding="utf-8")) if Path(params).exists() else {}
    )
    return diff(composed(conf_dir=conf_dir), current or {})


def describe(changes: dict[str, tuple[Any, Any]], limit: int = 8) -> str:
    parts = [
        f"{k} (conf/: {a!r}, params.yaml: {b!r})" for k, (a, b) in list(changes.items())[:limit]
    ]
    more = len(changes) - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def _git_changed(paths: list[str]) -> set[str] | None:
    """Which of `paths` have uncommitted changes; None outside a Git work tree."""
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain", "--", *paths],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    changed = set()
    for line in out.splitlines():
        name = line[3:].strip().strip('"')
        changed.update(p for p in paths if name == p or name.startswith(p.rstrip("/") + "/"))
    return changed


def sync(params: Path = PARAMS, conf_dir: Path = CONF_DIR) -> str:
    """Bring params.yaml up to date with conf/, or refuse when that would lose its own values."""
    changes = drift(params, conf_dir)
    if not changes:
        return "params.yaml matches conf/"
    changed = _git_changed([str(conf_dir), str(params)])
    if changed is not None and str(params) not in changed:
        # conf/ was edited (or params.yaml is stale in Git): recompose, as `dvc exp run` would
        compose(conf_dir=conf_dir, output=params)
        return "params.yaml recomposed from conf/: " + describe(changes)
    raise PipelineError(
        f"params.yaml differs from conf/ at {describe(changes)}",
        fix="keep params.yaml's values with `make adopt` (writes them into conf/), "
        "or discard them with `make params` (recomposes params.yaml from conf/)",
    )


# ---------------------------------------------------------------- adopt: params.yaml -> conf/


def _yaml():
    from ruamel.yaml import YAML

    handler = YAML()
    handler.preserve_quotes = True
    handler.width = 4096
    handler.indent(mapping=2, sequence=4, offset=2)
    return handler


def _groups(conf_dir: Path) -> dict[str, str]:
    """Config groups selected in conf/config.yaml's defaults: group -> option."""
    config = yaml.safe_load((Path(conf_dir) / f"{CONFIG_NAME}.yaml").read_text(encoding="utf-8"))
    groups = {}
    for entry in config.get("defaults", []):
        if isinstance(entry, dict):
            groups.update({str(k): str(v) for k, v in entry.items()})
    return groups


def _best_option(group: str, wanted: Any, conf_dir: Path) -> str:
    """The option of `group` whose composition differs from `wanted` in the fewest keys."""
    best, best_count = None, None
    for path in sorted((Path(conf_dir) / group).glob("*.yaml")):
        section = composed([f"{group}={path.stem}"], conf_dir).get(group)
        count = len(diff(section or {}, wanted or {}))
        target_matches = (
            isinstance(wanted, dict)
            and isinstance(section, dict)
            and (wanted.get("_target_") == section.get("_target_"))
        )
        rank = count - (1000 if target_matches else 0)
        if best_count is None or rank < best_count:
            best, best_count = path.stem, rank
    if best is None:
        raise PipelineError(f"conf/{group}/ has no options")
    return best


def _set_in_file(path: Path, dotted: str, value: Any, delete: bool = False) -> None:
    handler = _yaml()
    data = handler.load(path.read_text(encoding="utf-8")) if path.exists() else None
    if data is None:
        from ruamel.yaml.comments import CommentedMap

        data = CommentedMap()
    node = data
    keys = dotted.split(".") if dotted else []
    for key in keys[:-1]:
        if key not in node or not isinstance(node[key], dict):
            node[key] = {}
        node = node[key]
    if delete:
        node.pop(keys[-1], None)
    else:
        node[keys[-1]] = value
    with path.open("w", encoding="utf-8") as handle:
        handler.dump(data, handle)


def _set_default(conf_dir: Path, group: str, option: str) -> None:
    path = Path(conf_dir) / f"{CONFIG_NAME}.yaml"
    handler = _yaml()
    data = handler.load(path.read_text(encoding="utf-8"))
    for entry in data["defaults"]:
        if isinstance(entry, dict) and group in entry:
            entry[group] = option
    with path.open("w", encoding="utf-8") as handle:
        handler.dump(data, handle)


def adopt(params: Path = PARAMS, conf_dir: Path = CONF_DIR) -> list[str]:
    """Write params.yaml's values into conf/ so that conf/ composes to exactly params.yaml.

    Group choices go into conf/config.yaml's defaults; values go into the selected option's
    file (or conf/config.yaml for keys outside the groups). Returns what was changed.
    """
    conf_dir = Path(conf_dir)
    wanted = yaml.safe_load(Path(params).read_text(encoding="utf-8")) or {}
    done: list[str] = []
    groups = _groups(conf_dir)
    for group, option in groups.items():
        best = _best_option(group, wanted.get(group), conf_dir)
        if best != option:
            _set_default(conf_dir, group, best)
            groups[group] = best
            done.append(f"{group}={best}")
    # Shallowest keys first, recomposing in between: once `seed` is written, keys that
    # interpolate it (`split.seed: ${seed}`) agree again and keep their interpolation.
    for _ in range(20):
        changes = diff(composed(conf_dir=conf_dir), wanted)
        if not changes:
            return done
        depth = min(key.count(".") for key in changes)
        for key, (_, value) in changes.items():
            if key.count(".") != depth:
                continue
            head, _, rest = key.partition(".")
            if head in groups:
                path, dotted = conf_dir / head / f"{groups[head]}.yaml", rest
            else:
                path, dotted = conf_dir / f"{CONFIG_NAME}.yaml", key
            _set_in_file(path, dotted, value, delete=key not in _leaves(wanted))
            done.append(f"{key}={value!r}")
    left = diff(composed(conf_dir=conf_dir), wanted)
    if left:
        raise PipelineError(
            f"could not write these params.yaml values into conf/: {describe(left)}"
        )
    return done
