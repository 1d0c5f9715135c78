"""The README's and the docs pages' commands work as a reader types them (tests/doc_commands.py
says how).

Every ```bash block of the README and every ```bash block and `$ ` transcript of docs/*.md runs
in one fresh copy of the project on the default data, unless it carries
`<!-- not run: REASON -->`: each README block from the committed state (its sections stand
alone), each page from the committed state and then top to bottom (a page is a path through a
task). `make run` must print the metrics the README shows and leave `git status` clean. A
transcript's printed lines must still be what the command prints.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.doc_commands import (
    MARK,
    blocks,
    page_blocks,
    ranked_experiments,
    reset,
    run_block,
    run_transcript,
)
from tests.dvc_repo import PROJECT, run
from tests.machines import variants, with_variant
from tests.prepared import clone
from tests.trained_project import running_server

PAGES = sorted((PROJECT / "docs").glob("*.md"))
README = PROJECT / "README.md"


def test_the_readme_lists_its_commands_in_bash_blocks():
    found = blocks(README)
    assert len(found) >= 4 and not any(b.not_run for b in found)
    assert [c for c, _ in found[0].commands()] == ["make run", "make test"]


def test_every_command_in_the_docs_is_in_a_bash_block_or_a_transcript():
    # a command shown any other way (```sh, ```console, ```shell) would escape the runner
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for lang in ("sh", "shell", "console", "zsh"):
            assert f"```{lang}\n" not in text, f"{page.name}: use ```bash for commands"
    assert sum(len(blocks(p)) for p in PAGES) >= 10


def test_each_block_left_out_says_why():
    left_out = [(b.page, b.not_run) for p in PAGES for b in page_blocks(p) if b.not_run]
    assert left_out, "the docs show cloud remotes and clusters: some blocks cannot run here"
    for page, reason in left_out:
        assert len(reason.split()) >= 3, f"{page}: say why the block is not run: {reason!r}"
    marked = {p.name: len(MARK.findall(p.read_text(encoding="utf-8"))) for p in PAGES}
    stray = [p.name for p in PAGES if marked[p.name] > sum(1 for b in page_blocks(p) if b.not_run)]
    assert not stray, f"a `not run` mark that is not right above a block: {stray}"


def dag() -> tuple[list[str], set[tuple[str, str]]]:
    """dvc.yaml's stages and edges, as `dvc dag --md` draws them."""
    drawn = run(["dvc", "dag", "--md"], PROJECT).stdout
    names = dict(re.findall(r'(node\d+)\["([^"]+)"\]', drawn))
    edges = {(names[a], names[b]) for a, b in re.findall(r"(node\d+)-->(node\d+)", drawn)}
    return sorted(names.values()), edges


@pytest.mark.parametrize("page", ["README.md", "docs/pipeline.md"])
def test_the_stages_shown_are_the_pipelines_in_an_order_they_can_run(page):
    stages, edges = dag()
    text = (PROJECT / page).read_text(encoding="utf-8")
    table = re.findall(r"^\| (\w+) \| .+ \| .+ \|$", text.split("| stage | does |")[1], re.M)
    shown = [table]
    if page == "docs/pipeline.md":  # the drawing at the top of the page
        shown.append(re.findall(r"\| (\w+) \|", text.split("```")[1]))
    for order in shown:
        assert sorted(order) == stages, f"{page} shows stages {order}; dvc.yaml has {stages}"
        late = [(a, b) for a, b in edges if order.index(a) > order.index(b)]
        assert not late, f"{page} shows a stage before one it depends on: {late}"


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A fresh copy of the project after `make run` (where a reader of every page starts)
    and its commit."""
    # the default's run (model=auto): the README and the pages show its figures
    repo, _ = clone("default", tmp_path_factory.mktemp("docs") / "clone", tmp_path_factory)
    return repo, run("git rev-parse HEAD", repo).stdout.strip()


@pytest.mark.slow
def test_every_readme_command_runs_and_make_run_prints_the_readme_metrics(prepared):
    repo, start = prepared
    readme = README.read_text(encoding="utf-8")
    shown_metrics = re.search(r"```text\n(.*?)```", readme, re.S)[1].strip()

    def check_make_run(command: str, stdout: str) -> None:
        if command == "make run":
            assert shown_metrics in stdout, stdout[-2000:]
            assert run("git status --porcelain", repo).stdout == ""

    ran = []
    for block in blocks(README):
        reset(repo, start)  # each README section stands alone
        ran += run_block(block, repo, after=check_make_run)
    assert "make run" in ran and any(line.startswith("dvc exp run") for line in ran)


class SweepChecks:
    """What docs/experiments.md's sweep must show, checked after each of its lines: four
    queued experiments, one per cell of the grid, ranked by test ROC-AUC with the CV columns
    beside it; the winner applied and written back into conf/, committed, then compared."""

    GRID = {
        ("sklearn.linear_model.LogisticRegression", "none"),
        ("sklearn.linear_model.LogisticRegression", "smote"),
        ("lightgbm.LGBMClassifier", "none"),
        ("lightgbm.LGBMClassifier", "smote"),
    }

    def __init__(self, repo: Path):
        self.repo, self.sweep, self.winner = repo, False, None

    def __call__(self, line: str, stdout: str) -> None:
        repo = self.repo
        if line.startswith("dvc queue start"):
            self.sweep = True  # the lines before are the page's first recipe
            status = run("dvc queue status", repo).stdout
            done = [row.split()[1] for row in status.splitlines() if row.endswith("Success")]
            assert len(done) == 4, status
            rows = {r["Experiment"]: r for r in ranked_experiments(repo)}
            cells = {(rows[n]["model._target_"], self.balance(rows[n])) for n in done}
            assert cells == self.GRID, cells
        elif not self.sweep:
            return
        elif line.startswith("dvc exp show --sort-by"):
            rows = ranked_experiments(repo)
            aucs = [float(r["test.roc_auc"]) for r in rows]
            assert aucs == sorted(aucs, reverse=True) and len(set(aucs)) > 1, aucs
            assert all(float(r["cv.roc_auc_mean"]) > 0.5 for r in rows)  # CV columns shown
            self.winner = rows[0]
            assert self.winner["Experiment"] in stdout
        elif line.startswith("dvc exp apply"):
            assert self.winner["Experiment"] in line
            run("tabpipe config check", repo)  # conf/ composes to the applied params.yaml
            params = yaml.safe_load((repo / "params.yaml").read_text(encoding="utf-8"))
            assert params["model"]["_target_"] == self.winner["model._target_"]
            assert run("dvc status", repo).stdout.strip().endswith("pipelines are up to date.")
        elif line.startswith("dvc metrics diff HEAD~1 HEAD"):
            # --all: the winner may be an earlier experiment with the commit's own scores
            diff = json.loads(run("dvc metrics diff HEAD~1 HEAD --all --json", repo).stdout)
            auc = diff["metrics/evaluate/metrics.json"]["test.roc_auc"]
            assert auc["new"] == float(self.winner["test.roc_auc"]), auc
        elif line.startswith("dvc plots diff") and "--targets" in line:
            page = (repo / "dvc_plots/index.html").read_text(encoding="utf-8")
            assert all(name in page for name in line.split()[3:5]), line

    @staticmethod
    def balance(row: dict[str, str]) -> str:
        return "smote" if "SMOTE" in (row["balance._target_"] or "") else "none"


# pages whose blocks are separate recipes, each from the committed state (like the README's);
# the others are one path through a task, top to bottom
BLOCKS_STAND_ALONE = {"experiments.md"}
# pages whose commands run in another machine's shell (tests/machines.py): their `make verify
# RERUN=1` is the cold run of the default tests/test_reproducible_env.py leaves to this test
OTHER_MACHINE = {"reproducibility.md": 2}

RUN_PAGES = [p.name for p in PAGES if any(b.not_run is None for b in page_blocks(p))]


@pytest.mark.slow
@pytest.mark.parametrize("page", RUN_PAGES)
def test_the_pages_commands_run(prepared, page, tmp_path):
    repo, start = prepared
    reset(repo, start)  # a reader follows a page from the top, from the committed state
    after = SweepChecks(repo) if page == "experiments.md" else None
    env = with_variant(variants()[OTHER_MACHINE[page]]) if page in OTHER_MACHINE else None
    ran = []
    for block in page_blocks(PROJECT / "docs" / page):
        if block.not_run is not None:
            continue
        if page in BLOCKS_STAND_ALONE:
            reset(repo, start)
        if block.lang == "":
            run_transcript(block, repo)
        elif "localhost:8000" in block.body:
            with running_server(repo, log_dir=tmp_path) as url:
                ran += run_block(block, repo, port=int(url.rsplit(":", 1)[1]))
        else:
            ran += run_block(block, repo, after=after, env=env)
    assert ran, f"{page}: no command ran"


def test_the_runner_covers_the_pages_that_matter():
    assert {"experiments.md", "own-data.md", "monitoring.md", "production.md"} <= set(RUN_PAGES)
