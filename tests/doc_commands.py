"""Run the commands the README and the docs pages show, as a user types them.

A page's ```bash blocks are the commands a reader would type. Each one is either run by
tests/test_docs_commands.py in a fresh copy of the project on the default data, or carries
`<!-- not run: REASON -->` on the line before its fence, saying why it cannot run here (a cloud
remote, a cluster). Within a block:

- a line's trailing comment (`  # ...`) is not part of the command; `exit N` in it is the status
  the command must end with (e.g. `make monitor` on a drifted batch: exit 2);
- placeholders are filled in as a reader would (PLACEHOLDERS); lines a test cannot run
  (NOT_RUN) and budgets a test shortens (SHORTER) are listed with their reason.
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tests.dvc_repo import run

FENCE = re.compile(r"(?P<before>[^\n]*)\n```(?P<lang>\w*)\n(?P<body>.*?)```", re.S)
MARK = re.compile(r"<!-- not run: (?P<reason>.+?) -->")
EXIT = re.compile(r"\bexit (\d+)\b")

# lines no test runs, each with its reason
NOT_RUN = {"make test": "it starts the suite this test belongs to"}
# a documented budget the test shortens: the command is what can rot, not the search's length
SHORTER = {
    "-S tune=bayesian": "-S tune=bayesian -S tune.n_trials=3",
    "-S tune=random": "-S tune=random -S tune.n_trials=3",
}
# the default table exported as a user's CSV, with its target spelt as in the docs
USER_CSV = ("/data/exports/customers.csv", "customers.csv")
LABELLED_BATCH = ("path/to/labelled.parquet", "data/batches/churn-seed0.parquet")
# how docs/experiments.md ranks a sweep's experiments
RANKING = ("--sort-by", "metrics/evaluate/metrics.json:test.roc_auc", "--sort-order", "desc")


@dataclass(frozen=True)
class Block:
    """One command block of a page: its lines, and why it is not run (None: it is)."""

    page: str
    lang: str  # "bash", or "" for a transcript
    body: str
    not_run: str | None

    def commands(self) -> list[tuple[str, int]]:
        """(command, expected exit status) for each line, trailing comments stripped."""
        out = []
        for raw in self.body.replace("\\\n", " ").splitlines():  # continued lines: one command
            command, *comment = re.split(r"\s+#\s", raw, maxsplit=1)
            command = command.strip()
            if not command or command.startswith("#"):
                continue
            status = EXIT.search(comment[0]) if comment else None
            out.append((command, int(status[1]) if status else 0))
        return out


def blocks(path: Path, lang: str = "bash") -> list[Block]:
    """The page's blocks in `lang` (""; a transcript: a text block that starts with `$ `)."""
    return [b for b in page_blocks(path) if b.lang == lang]


def page_blocks(path: Path) -> list[Block]:
    """The page's bash blocks and transcripts, in the order a reader meets them."""
    found = []
    for match in FENCE.finditer("\n" + path.read_text(encoding="utf-8")):
        lang, body = match["lang"], match["body"]
        if lang == "bash" or (lang == "" and body.startswith("$ ")):
            mark = MARK.search(match["before"])
            found.append(Block(path.name, lang, body, mark["reason"] if mark else None))
    return found


def fill_in(line: str, repo: Path, port: int | None = None) -> str:
    """The line as a reader would type it in `repo`: placeholders replaced, budgets shortened."""
    for documented, shorter in SHORTER.items():
        if documented in line and "tune.n_trials" not in line:
            line = line.replace(documented, shorter)
    if USER_CSV[0] in line or "customers.csv" in line:
        line = line.replace(*USER_CSV)
        if not (repo / USER_CSV[1]).exists():
            table = pd.read_parquet(repo / "data/raw/data.parquet")
            table.rename(columns={"churn": "Churn"}).to_csv(repo / USER_CSV[1], index=False)
    line = line.replace(*LABELLED_BATCH)
    if "<winner>" in line:  # the top row of the ranking the page has just shown
        line = line.replace("<winner>", ranked_experiments(repo)[0]["Experiment"])
    # experiments of every commit: a page may commit a winner between two lines
    names = run("dvc exp ls -A --name-only", repo).stdout.split() if "<" in line else []
    for placeholder, index in (("<exp1>", -2), ("<exp2>", -1), ("<exp>", -1)):
        if placeholder in line:
            assert len(names) >= -index, f"`{line}` needs {-index} experiment(s): {names}"
            line = line.replace(placeholder, names[index])
    if port is not None:
        line = line.replace("localhost:8000", f"127.0.0.1:{port}")
    return line


def ranked_experiments(repo: Path) -> list[dict[str, str]]:
    """`dvc exp show` of the workspace's commit as rows, best test ROC-AUC first, as the
    experiments page sorts them (RANKING); only the experiments, not the commit's own row."""
    table = run(["dvc", "exp", "show", "--csv", *RANKING], repo).stdout
    rows = csv.DictReader(io.StringIO(table))
    return [r for r in rows if r["Experiment"] and r["test.roc_auc"]]


def reset(repo: Path, rev: str = "HEAD") -> None:
    """Back to commit `rev` with its outputs checked out: where a reader of a page starts.

    Commits and registry tags a page made (`make retrain`, `git commit`) go, and so do the
    labelled batches it added to data/incoming/ (fetch reads every file there)."""
    (repo / ".git/index").unlink(missing_ok=True)  # every file written: see back_to_head
    run(f"git reset -q --hard {rev} && git clean -fdq -e .venv -e customers.csv", repo)
    run("git clean -fdqx -- data/incoming && git tag -l | xargs -r git tag -d >/dev/null", repo)
    if (repo / "data/raw/data.parquet").exists():
        run(["bash", "-c", "source .venv/bin/activate && dvc checkout -q --force"], repo)
    (repo / ".venv/.synced").touch()  # set up after the files: see tests/prepared.py set_up_venv


def run_block(
    block: Block,
    repo: Path,
    port: int | None = None,
    after: Callable[[str, str], None] | None = None,
    env: dict[str, str] | None = None,
) -> list[str]:
    """Run the block's lines in `repo`, each in a shell with the venv active (in `env`, another
    machine's shell, when given); the lines run. `after(line, stdout)` checks each line's
    result, the line as it ran (placeholders filled in)."""
    ran = []
    for command, status in block.commands():
        if command in NOT_RUN:
            continue
        line = fill_in(command, repo, port)
        result = run(
            ["bash", "-c", f"source .venv/bin/activate && {line}"],
            repo,
            check=False,
            env_override=env,
        )
        assert result.returncode == status, (
            f"{block.page}: `{command}` (run as `{line}`) ended with {result.returncode}, "
            f"not {status}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
        if line.startswith("dvc queue start"):
            wait_for_queue(repo)  # as the reader does before looking at the results
        if after:
            after(line, result.stdout)
        ran.append(command)
    return ran


def wait_for_queue(repo: Path, timeout: float = 900) -> None:
    """Until `dvc queue status` shows no experiment Queued or Running."""
    deadline = time.monotonic() + timeout
    while re.search(r"\b(Queued|Running)\b", run("dvc queue status", repo).stdout):
        assert time.monotonic() < deadline, run("dvc queue status", repo).stdout
        time.sleep(2)
    failed = run("dvc queue status", repo).stdout
    assert "Failed" not in failed, failed


def transcript(body: str) -> list[tuple[str, int, list[str]]]:
    """A text block of `$ command` lines, each followed by lines of what it prints:
    (command, expected status, printed lines); `...` stands for lines left out."""
    steps: list[tuple[str, int, list[str]]] = []
    for raw in body.splitlines():
        if raw.startswith("$ "):
            command, *comment = re.split(r"\s+#\s", raw[2:], maxsplit=1)
            status = EXIT.search(comment[0]) if comment else None
            steps.append((command.strip(), int(status[1]) if status else 0, []))
        elif steps and raw.strip() and raw.strip() != "...":
            steps[-1][2].append(raw.strip())
    return steps


def run_transcript(block: Block, repo: Path) -> None:
    """Run each `$` line and check it prints the lines the page shows under it."""
    for command, status, shown in transcript(block.body):
        line = fill_in(command, repo)
        result = run(["bash", "-c", f"source .venv/bin/activate && {line}"], repo, check=False)
        printed = {out.strip() for out in (result.stdout + result.stderr).splitlines()}
        assert result.returncode == status, (
            f"{block.page}: `{command}` ended with {result.returncode}, not {status}:\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
        missing = [s for s in shown if s not in printed]
        assert not missing, (
            f"{block.page}: `{command}` no longer prints {missing}; it printed:\n"
            + "\n".join(sorted(printed))[-3000:]
        )
