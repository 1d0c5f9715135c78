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

import re

import pytest

from tests.doc_commands import MARK, blocks, page_blocks, reset, run_block, run_transcript
from tests.dvc_repo import PROJECT, run
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


# pages whose blocks are separate recipes, each from the committed state (like the README's);
# the others are one path through a task, top to bottom
BLOCKS_STAND_ALONE = {"experiments.md"}

RUN_PAGES = [p.name for p in PAGES if any(b.not_run is None for b in page_blocks(p))]


@pytest.mark.slow
@pytest.mark.parametrize("page", RUN_PAGES)
def test_the_pages_commands_run(prepared, page, tmp_path):
    repo, start = prepared
    reset(repo, start)  # a reader follows a page from the top, from the committed state
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
            ran += run_block(block, repo)
    assert ran, f"{page}: no command ran"


def test_the_runner_covers_the_pages_that_matter():
    assert {"experiments.md", "own-data.md", "monitoring.md", "production.md"} <= set(RUN_PAGES)
