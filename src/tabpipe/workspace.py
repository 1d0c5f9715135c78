"""The workspace between runs: one run at a time, and a failed run puts the last commit back.

DVC deletes a stage's outputs before it runs the stage, and a `cache: false` output (every
metrics file) cannot come back with `dvc checkout`. So when a stage run by DVC fails or is
interrupted, `restore_committed` puts back what the last commit holds: `params.yaml`,
`dvc.lock`, the Git-tracked outputs (metrics, plots) from Git, and the DVC-tracked ones
(data, models) from DVC's cache by the md5 the committed `dvc.lock` records. That is
`git checkout HEAD -- params.yaml dvc.lock metrics && dvc checkout`, done from inside the
stage (DVC holds its repository lock around the stage, so `dvc checkout` cannot run there).

DVC releases its repository lock (`.dvc/tmp/lock`) while a stage command runs; a second
`dvc exp run` started then would recompose `params.yaml` under the first run. A stage run by
DVC therefore takes that same lock for as long as it runs (`hold_run_lock`): DVC holds it
between stages, the stage during, so a second run is refused at once.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

from tabpipe.errors import Interrupted, PipelineError
from tabpipe.io import LOCK, PARAMS, atomic_path

DVC_DIR = Path(".dvc")
DVC_LOCK = DVC_DIR / "tmp" / "lock"
# under .dvc/tmp: the PID of a `dvc exp run` in this workspace (DVC's WorkspaceQueue)
EXP_RUN_INFO = Path("exps", "run", "workspace", "workspace.json")
# set in a stage holding DVC's lock, so its own child processes (joblib, Ray) do not try again
HELD_ENV = "TABPIPE_RUN_LOCK_PID"
QUEUE_FIX = (
    "wait for it to finish, or queue this run instead: "
    "`dvc exp run --queue -S ...`, then `dvc queue start`"
)

_held = None  # the zc.lockfile.LockFile of this process, kept open while the stage runs


# ------------------------------------------------------------------ one run at a time


def lock_holder(root: Path = Path(".")) -> str:
    """Who holds DVC's lock: 'PID 123 (dvc exp run ...)', from the lock file."""
    try:
        pid = (Path(root) / DVC_LOCK).read_text(encoding="utf-8").split()[0]
    except (OSError, IndexError):
        return "another process"
    return _describe(pid)


def _describe(pid: int | str) -> str:
    """'PID 123 (dvc exp run ...)', the command line from /proc."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        words = cmdline.split()
        # python .../bin/dvc exp run ... -> dvc exp run ...
        while words and not Path(words[0]).name.startswith(("dvc", "tabpipe")):
            words = words[1:]
        shown = (" ".join(words)[:80] or cmdline[:80]).split()
    except OSError:
        return f"PID {pid}"
    if not shown:  # a process still starting has no command line yet
        return f"PID {pid}"
    return f"PID {pid} ({Path(shown[0]).name} {' '.join(shown[1:])})".strip()


def _acquire(root: Path):
    import zc.lockfile

    path = Path(root) / DVC_LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    return zc.lockfile.LockFile(str(path))


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _runner_pids(root: Path) -> list[int]:
    """Live processes DVC records as running in this workspace, lock or no lock.

    DVC's repository lock has gaps: DVC lets go of it before a stage's command starts (the
    stage takes it back a moment later) and while `dvc exp run` hands over to its executor.
    What covers them: `.dvc/tmp/rwlock`, where DVC lists the running stage's dependencies and
    outputs with its PID, and `.dvc/tmp/exps/run/workspace/workspace.json`, the PID of a
    `dvc exp run` in this workspace, from its start to its cleanup.
    """
    tmp = Path(root) / DVC_DIR / "tmp"
    pids: list[object] = []
    try:
        rwlock = json.loads((tmp / "rwlock").read_text(encoding="utf-8"))
        pids += [info.get("pid") for info in rwlock.get("write", {}).values()]
        pids += [info.get("pid") for infos in rwlock.get("read", {}).values() for info in infos]
    except (OSError, ValueError, AttributeError):
        pass
    try:
        exp_run = json.loads((tmp / EXP_RUN_INFO).read_text(encoding="utf-8"))
        pids.append(exp_run.get("pid"))
    except (OSError, ValueError, AttributeError):
        pass
    return sorted({pid for pid in pids if _alive(pid)})


def busy(root: Path = Path(".")) -> str | None:
    """None when no DVC run uses this workspace; else who does."""
    import zc.lockfile

    if not (Path(root) / DVC_DIR).is_dir() or os.environ.get(HELD_ENV):
        return None
    try:
        _acquire(root).close()
    except zc.lockfile.LockError:
        return lock_holder(root)
    running = _runner_pids(root)
    return _describe(running[0]) if running else None


def refuse_if_busy(what: str, root: Path = Path(".")) -> None:
    """Stop `what` (e.g. `make run`) with one line when another run uses this workspace."""
    holder = busy(root)
    if holder:
        raise PipelineError(
            f"another run is using this workspace ({holder}); {what} would change params.yaml "
            "and the outputs under it",
            fix=QUEUE_FIX,
        )


def hold_run_lock(stage: str, root: Path = Path(".")) -> None:
    """Take DVC's repository lock for the rest of this process (a stage run by DVC)."""
    import zc.lockfile

    global _held
    if os.environ.get(HELD_ENV) or not (Path(root) / DVC_DIR).is_dir():
        return
    try:
        _held = _acquire(root)
    except zc.lockfile.LockError:
        raise PipelineError(
            f"stage {stage} cannot start: another run is using this workspace "
            f"({lock_holder(root)})",
            fix=QUEUE_FIX,
        ) from None
    os.environ[HELD_ENV] = str(os.getpid())


# ------------------------------------------------------------------ interrupts


def raise_on_signals() -> None:
    """SIGINT and SIGTERM raise Interrupted, so `finally` blocks remove temporary files."""

    def handler(signum, _frame):
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # one interrupt is enough
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Interrupted(signal.Signals(signum).name)

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


# ------------------------------------------------------------------ the last commit back


def _git(root: Path, *args: str, input_text: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, input=input_text
    )


def cache_dir(root: Path) -> Path:
    """DVC's local cache: `[cache] dir` of .dvc/config(.local), else .dvc/cache."""
    found = Path(root) / DVC_DIR / "cache"
    for name in ("config", "config.local"):
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        try:
            parser.read(Path(root) / DVC_DIR / name, encoding="utf-8")
        except configparser.Error:
            continue
        if parser.has_option("cache", "dir"):
            found = (Path(root) / DVC_DIR / parser.get("cache", "dir").strip("'\"")).resolve()
    return found


def cache_file(cache: Path, md5: str) -> Path:
    return Path(cache) / "files" / "md5" / md5[:2] / md5[2:]


def md5_of(path: Path) -> str | None:
    if not Path(path).is_file():
        return None
    digest = hashlib.md5()  # noqa: S324 (DVC's content hash, not a security check)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def lock_outputs(lock: dict) -> list[tuple[str, str | None]]:
    """(path, md5) of every stage output a dvc.lock records, in stage order."""
    return [
        (out["path"], out.get("md5"))
        for stage in (lock or {}).get("stages", {}).values()
        for out in stage.get("outs", [])
    ]


def _put(source: Path, target: Path) -> None:
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)


def _from_cache(root: Path, cache: Path, path: str, md5: str) -> tuple[bool, bool]:
    """Put one DVC-tracked output back from the cache: (changed, available)."""
    target = Path(root) / path
    if md5.endswith(".dir"):
        manifest = cache_file(cache, md5)
        if not manifest.is_file():
            return False, False
        changed = False
        for entry in json.loads(manifest.read_text(encoding="utf-8")):
            file_changed, ok = _from_cache(root, cache, f"{path}/{entry['relpath']}", entry["md5"])
            if not ok:
                return changed, False
            changed |= file_changed
        return changed, True
    if md5_of(target) == md5:
        return False, True
    source = cache_file(cache, md5)
    if not source.is_file():
        return False, False
    _put(source, target)
    return True, True


def restore_committed(root: Path = Path(".")) -> tuple[list[str], list[str], str] | None:
    """Put params.yaml, dvc.lock and every output back as the last commit (HEAD) holds them.

    Returns (paths put back, outputs the cache lacks, short commit), or None outside a Git
    repository whose HEAD holds a dvc.lock. Files already equal to the commit are not touched.
    """
    import yaml

    root = Path(root)
    head = _git(root, "rev-parse", "--short", "HEAD")
    shown = _git(root, "show", f"HEAD:{LOCK}")
    if head.returncode != 0 or shown.returncode != 0:
        return None
    outputs = lock_outputs(yaml.safe_load(shown.stdout))
    tracked = set(_git(root, "ls-tree", "-r", "--name-only", "HEAD").stdout.splitlines())

    def in_git(path: str) -> bool:
        return path in tracked or any(name.startswith(path.rstrip("/") + "/") for name in tracked)

    git_paths = [str(PARAMS), str(LOCK)] + [p for p, _ in outputs if in_git(p)]
    changed = differs_from_head(root, git_paths)
    for path in changed:
        # the blob itself, not `git restore`: git trusts the index's timestamps (seconds) and
        # skipped a params.yaml rewritten within the second DVC's stash apply stamped the
        # index. The index (what `git commit` would take) stays as the user left it.
        _put_blob(root, path)
    extra = _git(root, "ls-files", "--others", "--exclude-standard", "--", *git_paths).stdout
    if extra.strip():  # files a different run added under an output directory
        _git(root, "clean", "-fq", "--", *git_paths)
        changed += extra.split()
    restored = [_top(p, outputs) for p in changed]
    cache, missing = cache_dir(root), []
    for path, md5 in outputs:
        if in_git(path) or not md5:
            continue
        was_changed, available = _from_cache(root, cache, path, md5)
        if was_changed:
            restored.append(path)
        if not available:
            missing.append(path)
    return list(dict.fromkeys(restored)), missing, head.stdout.strip()


def _put_blob(root: Path, path: str) -> None:
    blob = subprocess.run(
        ["git", "cat-file", "blob", f"HEAD:{path}"], cwd=root, capture_output=True, check=True
    ).stdout
    target = Path(root) / path
    with atomic_path(target) as tmp:
        tmp.write_bytes(blob)
        tmp.chmod(0o644)


def differs_from_head(root: Path, paths: list[str] | None = None) -> list[str]:
    """Files Git tracks under `paths` (all: None) whose content differs from HEAD's, by blob
    id, not by timestamps: a same-size rewrite within the second of the index's last update
    escapes `git status` and `git diff`."""
    listed = _git(root, "ls-tree", "-r", "HEAD", "--", *(paths or [])).stdout.splitlines()
    blobs = {line.split("\t", 1)[1]: line.split()[2] for line in listed if "\t" in line}
    names = list(blobs)
    present = [n for n in names if (Path(root) / n).is_file()]
    hashed = _git(
        root, "hash-object", "--no-filters", "--stdin-paths", input_text="\n".join(present)
    )
    actual = dict(zip(present, hashed.stdout.split(), strict=False))
    return [n for n in names if actual.get(n) != blobs[n]]


def _top(changed: str, outputs: list[tuple[str, str | None]]) -> str:
    """A changed file named by the output directory it belongs to (metrics/train/plots/...)."""
    for path, _ in outputs:
        if changed == path or changed.startswith(path.rstrip("/") + "/"):
            return path
    return changed


def restore_line(stage: str, root: Path = Path(".")) -> str | None:
    """Restore the last commit's outputs and say so in one line (None: nothing to say)."""
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        outcome = restore_committed(root)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if outcome is None:
        return None
    restored, missing, head = outcome
    if not restored and not missing:
        return None
    line = f"restored: [{stage}] the run failed; put back as in the last commit ({head}): "
    line += ", ".join(restored) if restored else "nothing"
    if missing:
        line += f"; not in DVC's cache (rebuild with `dvc repro`): {', '.join(missing)}"
    return line


def enter_stage(stage: str) -> None:
    """What a stage run by DVC does first: take the run lock, catch signals, restore on failure."""
    from tabpipe import errors

    if os.environ.get(HELD_ENV):  # a child process of a stage (joblib, Ray): nothing to do
        return
    hold_run_lock(stage)  # refused: the other run owns the workspace, so nothing is restored
    errors.ON_FAILURE.append(restore_line)
    raise_on_signals()


__all__ = [
    "Interrupted",
    "busy",
    "enter_stage",
    "hold_run_lock",
    "refuse_if_busy",
    "restore_committed",
    "restore_line",
]
