"""Helpers for tests that run DVC in a throw-away copy of the project."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
STAGES = ["fetch", "clean", "split", "select", "balance", "featurize", "train", "evaluate"]
# The fixed fast model most tests run (the default before model=auto): seconds, where the
# default's search takes a minute. Only tests of the committed default run model=auto.
FAST = {"model": "logistic_regression", "balance": "smote"}
FAST_OVERRIDES = [f"{group}={option}" for group, option in FAST.items()]


def env() -> dict[str, str]:
    out = dict(os.environ)
    out["PATH"] = f"{VENV_BIN}{os.pathsep}{out.get('PATH', '')}"
    out["DVC_NO_ANALYTICS"] = "1"
    out.pop("DVC_EXP_NAME", None)
    return out


def run(
    args: list[str] | str,
    cwd: Path,
    check: bool = True,
    env_override: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run `args` in `cwd` with the project's venv first on PATH (or in `env_override`)."""
    result = subprocess.run(
        args,
        cwd=cwd,
        env=env_override or env(),
        capture_output=True,
        text=True,
        shell=isinstance(args, str),
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{args} failed ({result.returncode}):\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    return result


def project_files() -> list[str]:
    """Files Git tracks or would track (tracked plus untracked, not ignored)."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line for line in out.splitlines() if (PROJECT / line).is_file()]


# What a run writes and Git holds: a copy takes them from the commit, never from the working
# tree, which the developer's own `make run` may just have rewritten on this machine.
RESULT_PATHS = ("dvc.lock", "metrics")


def committed_results(dest: Path, rev: str = "HEAD") -> None:
    """Put dvc.lock and metrics/ into `dest` exactly as commit `rev` of the project holds them."""
    for path in RESULT_PATHS:
        target = dest / path
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    listed = subprocess.run(
        ["git", "ls-tree", "-r", "--name-only", rev, "--", *RESULT_PATHS],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in listed:
        blob = subprocess.run(
            ["git", "show", f"{rev}:{name}"], cwd=PROJECT, capture_output=True, check=True
        ).stdout
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        (dest / name).write_bytes(blob)


def make_fast(root: Path) -> None:
    """Point the defaults of `root`'s conf/config.yaml at FAST and recompose its params.yaml."""
    from tabpipe.project.conf_sync import compose

    config = root / "conf/config.yaml"
    text = config.read_text(encoding="utf-8")
    for group, option in FAST.items():
        assert f"  - {group}: auto\n" in text, f"conf/config.yaml: {group} is not auto"
        text = text.replace(f"  - {group}: auto\n", f"  - {group}: {option}\n")
    config.write_text(text, encoding="utf-8")
    compose(conf_dir=root / "conf", output=root / "params.yaml")


@functools.cache
def _fast_params_text() -> str:
    import tempfile

    from tabpipe.project.conf_sync import compose

    with tempfile.TemporaryDirectory() as tmp:
        out = compose(FAST_OVERRIDES, conf_dir=PROJECT / "conf", output=Path(tmp) / "params.yaml")
        return out.read_text(encoding="utf-8")


def fast_params(dest: Path) -> Path:
    """params.yaml of the project's conf/ with FAST_OVERRIDES, written to `dest` (a file, or
    a directory to hold params.yaml)."""
    dest = Path(dest)
    if dest.is_dir():
        dest = dest / "params.yaml"
    dest.write_text(_fast_params_text(), encoding="utf-8")
    return dest


def copy_project(dest: Path, fast: bool = True) -> Path:
    """Copy the project (no outputs, no cache) into `dest` as a new Git repository: the code as
    in the working tree, the results (dvc.lock, metrics/) as committed. With `fast` its
    defaults are the FAST model (see make_fast); the committed lock then is model=auto's."""
    for name in project_files():
        if name.split("/")[0] in RESULT_PATHS:
            continue
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PROJECT / name, target)
    committed_results(dest)
    if fast:
        make_fast(dest)
    run(["git", "init", "-q", "-b", "main"], dest)
    run(["git", "config", "user.email", "test@example.com"], dest)
    run(["git", "config", "user.name", "test"], dest)
    run(["git", "add", "-A"], dest)
    run(["git", "commit", "-q", "-m", "project copy"], dest)
    return dest


def affected_stages(output: str) -> list[str]:
    """Stages DVC ran or restored from the run cache, read from its own output."""
    ran = re.findall(r"Running stage '([^']+)'", output)
    restored = re.findall(r"Stage '([^']+)' is cached - skipping run", output)
    return [s for s in STAGES if s in ran or s in restored]


def back_to_head(repo: Path) -> None:
    """The working tree, index and DVC outputs as commit HEAD holds them, by content.

    The index goes first: with it, `git reset --hard` and `git checkout` trust its timestamps
    (seconds) and keep a same-size rewrite made within their second (CI saw a params.yaml
    survive that way); without it every file is written."""
    (repo / ".git/index").unlink(missing_ok=True)
    run(["git", "reset", "-q", "--hard", "HEAD"], repo)
    run(["dvc", "checkout", "-q", "--force"], repo)
