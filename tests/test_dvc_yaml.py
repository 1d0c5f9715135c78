"""dvc.yaml declares exactly what each stage uses: its code, its params, its outputs."""

from __future__ import annotations

import ast
from pathlib import Path

import yaml

from tabpipe import io
from tests.dvc_repo import PROJECT, STAGES

DVC_YAML = yaml.safe_load((PROJECT / "dvc.yaml").read_text())
SRC = PROJECT / "src"


def tabpipe_imports(path: Path) -> set[str]:
    """Modules of the tabpipe package that `path` imports, at any depth in the file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tabpipe"):
            for alias in node.names:  # `from tabpipe.core import cv` imports a module
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if is_module(submodule) else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("tabpipe."))
    return found


def is_module(module: str) -> bool:
    path = SRC / Path(*module.split("."))
    return path.is_dir() or path.with_suffix(".py").is_file()


def module_file(module: str) -> Path:
    path = SRC / Path(*module.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def has_code(path: Path) -> bool:
    """More than a docstring: a package __init__ that runs something on import."""
    body = ast.parse(path.read_text()).body
    return any(not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)) for n in body)


def import_closure(module: str) -> set[str]:
    """`module`, its tabpipe imports (recursively) and packages whose __init__ runs code."""
    seen, todo = set(), [module]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo.extend(tabpipe_imports(module_file(current)))
        package = current.rpartition(".")[0]
        if package and has_code(module_file(package)):
            todo.append(package)
    return seen


def test_stages_are_check_then_the_eight_in_order():
    assert list(DVC_YAML["stages"]) == ["check", *STAGES]


def test_each_stage_depends_on_exactly_the_code_it_imports():
    for name, stage in DVC_YAML["stages"].items():
        declared = {d for d in stage["deps"] if d.startswith("src/")}
        needed = {
            str(module_file(m).relative_to(PROJECT))
            for m in import_closure(f"tabpipe.stages.{name}")
            if module_file(m).name != "__init__.py" or has_code(module_file(m))
        }
        if any(d.startswith("models/") for d in stage["deps"]):
            # loading a saved pipeline imports the classes it holds, and model._target_ may
            # name a class of the zoo
            needed |= {"src/tabpipe/core/features.py", "src/tabpipe/core/zoo.py"}
        if name == "select":
            needed.add("src/tabpipe/core/zoo.py")  # model._target_ may name a class of the zoo
        assert declared == needed, f"{name}: declared {sorted(declared)} but uses {sorted(needed)}"
        assert stage["cmd"] == f"python -m tabpipe.stages.{name}"


def test_params_keys_exist_in_params_yaml():
    params = yaml.safe_load((PROJECT / "params.yaml").read_text())
    for name, stage in DVC_YAML["stages"].items():
        for key in stage.get("params", []):
            node = params
            for part in key.split("."):
                assert isinstance(node, dict) and part in node, f"{name}: {key} not in params.yaml"
                node = node[part]


def test_outputs_are_the_paths_io_owns():
    owned = {str(v) for v in vars(io).values() if isinstance(v, Path)}
    owned |= {str(io.split_path(s)) for s in io.SPLITS} | {
        str(io.features_path(s)) for s in io.SPLITS
    }
    live_dirs = (str(io.SELECT_LIVE_DIR), str(io.TRAIN_LIVE_DIR), str(io.EVALUATE_LIVE_DIR))
    for name, stage in DVC_YAML["stages"].items():
        for kind in ("outs", "metrics", "plots"):
            for entry in stage.get(kind, []):
                path = entry if isinstance(entry, str) else next(iter(entry))
                assert path in owned or path.startswith(live_dirs), f"{name}: {path} not in io.py"


def test_metric_and_plot_files_are_committed_not_cached():
    for name, stage in DVC_YAML["stages"].items():
        for kind in ("metrics", "plots"):
            for entry in stage.get(kind, []):
                options = next(iter(entry.values())) if isinstance(entry, dict) else {}
                assert options.get("cache") is False, f"{name}: {entry} should be cache: false"
