"""The report's plot images on GitHub, tested up to the boundary: a fake Git Data API on
127.0.0.1 receives the commit to the orphan branch, and the comment body is built and checked."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tabpipe.project import ci, plots, report
from tests.dvc_repo import PROJECT

PNG = b"\x89PNG\r\n\x1a\n" + b"fake image "
NAMES = ["ROC", "Precision-Recall", "Calibration", "Feature-Importance"]


class FakeGitData(BaseHTTPRequestHandler):
    """Blobs, trees, commits and refs of one repository, as GitHub's Git Data API has them."""

    objects: dict[str, dict] = {}
    refs: dict[str, str] = {}
    status = 200

    def log_message(self, *args):  # quiet
        pass

    def _send(self, code: int, body) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _new(self, kind: str, body: dict) -> dict:
        sha = f"{len(self.objects) + 1:040x}"
        self.objects[sha] = {"kind": kind, **body}
        return {"sha": sha}

    def do_GET(self):
        path = self.path.removeprefix("/repos/team/tabpipe/git/")
        if path.startswith("ref/heads/"):
            name = path.removeprefix("ref/heads/")
            if name not in self.refs:
                return self._send(404, {"message": "Not Found"})
            return self._send(200, {"object": {"sha": self.refs[name]}})
        if path.startswith("commits/"):
            commit = self.objects[path.removeprefix("commits/")]
            return self._send(200, {"tree": {"sha": commit["tree"]}})
        self._send(404, {})

    def do_POST(self):
        assert self.headers["Authorization"] == "Bearer secret-token"
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.status != 200:
            return self._send(self.status, {"message": "Resource not accessible by integration"})
        kind = self.path.rsplit("/", 1)[-1]
        if kind == "refs":
            self.refs[body["ref"].removeprefix("refs/heads/")] = body["sha"]
            return self._send(201, {})
        self._send(201, self._new(kind, body))

    def do_PATCH(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        name = self.path.rsplit("/heads/", 1)[-1]
        if self.objects[body["sha"]]["parents"] != [self.refs[name]] and not body["force"]:
            return self._send(422, {"message": "Update is not a fast forward"})
        self.refs[name] = body["sha"]
        self._send(200, {})


@pytest.fixture
def github():
    FakeGitData.objects, FakeGitData.refs, FakeGitData.status = {}, {}, 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeGitData)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def workdir(tmp_path) -> Path:
    """What the publish job has: report.md (from report.py) and the dvc-plots artifact."""
    out = tmp_path / "dvc_plots"
    rendered = plots.Rendered(page=Path("dvc_plots/index.html"), revisions=["main", "workspace"])
    for name in NAMES:
        (out / "images").mkdir(parents=True, exist_ok=True)
        (out / "images" / f"{name}.png").write_bytes(PNG + name.encode())
        rendered.png[name] = Path(f"dvc_plots/images/{name}.png")
        rendered.specs[name] = Path(f"dvc_plots/vega/{name}.json")
    body = "\n\n".join([ci.MARKER, "## Pipeline report", report.plots_section(rendered)])
    (tmp_path / "report.md").write_text(body + "\n")
    return tmp_path


def publish(workdir: Path, github: str, run_id: str = "41") -> subprocess.CompletedProcess:
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(PROJECT / "src"),  # as the job runs it: standard library only
        "GITHUB_TOKEN": "secret-token",
        "GITHUB_REPOSITORY": "team/tabpipe",
        "GITHUB_API_URL": github,
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_RUN_ID": run_id,
        "GITHUB_OUTPUT": str(workdir / "output"),
        "GITHUB_STEP_SUMMARY": str(workdir / "summary.md"),
    }
    args = ["ci", "publish-plots", "--body", "report.md", "--out", "report-linked.md", "--pr", "7"]
    return subprocess.run(
        [sys.executable, "-S", "-m", "tabpipe.cli", *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )


def test_the_report_links_its_images_relatively_until_published(workdir):
    body = (workdir / "report.md").read_text()
    assert ci.image_sources(body) == [f"dvc_plots/images/{n}.png" for n in NAMES]
    assert "`main` and `workspace` overlaid in each plot" in body
    problems = ci.check_comment(body)
    assert len(problems) == len(NAMES) and "not an https:// URL" in problems[0]
    assert ci.check_comment(body.replace("dvc_plots/", "data:image/png;base64,"))  # refused too


def test_publish_commits_the_images_to_an_orphan_branch_and_links_them_by_commit(workdir, github):
    result = publish(workdir, github)
    assert "published 4 plot images to branch tabpipe-plots under pr-7/run-41-1/" in result.stdout
    commit = FakeGitData.refs[ci.PLOTS_BRANCH]
    assert FakeGitData.objects[commit]["parents"] == []  # the branch's first commit: an orphan
    tree = FakeGitData.objects[FakeGitData.objects[commit]["tree"]]
    files = {e["path"]: e["sha"] for e in tree["tree"]}
    assert sorted(files) == sorted(f"pr-7/run-41-1/{n}.png" for n in NAMES)
    for name in NAMES:  # the bytes that reached GitHub are the PNGs of the artifact
        blob = FakeGitData.objects[files[f"pr-7/run-41-1/{name}.png"]]
        assert base64.b64decode(blob["content"]) == PNG + name.encode()
    linked = (workdir / "report-linked.md").read_text()
    urls = [f"https://github.com/team/tabpipe/raw/{commit}/pr-7/run-41-1/{n}.png" for n in NAMES]
    assert ci.image_sources(linked) == urls
    assert ci.check_comment(linked) == []
    assert (workdir / "summary.md").read_text() == linked  # the job summary shows them too
    output = (workdir / "output").read_text()
    assert json.loads(output.removeprefix("images=")) == dict(
        zip([f"dvc_plots/images/{n}.png" for n in NAMES], urls, strict=True)
    )
    # the next run adds a commit on top: the first run's links stay valid
    publish(workdir, github, run_id="42")
    second = FakeGitData.refs[ci.PLOTS_BRANCH]
    assert FakeGitData.objects[second]["parents"] == [commit]
    paths = {e["path"] for e in FakeGitData.objects[FakeGitData.objects[second]["tree"]]["tree"]}
    assert "pr-7/run-42-1/ROC.png" in paths and FakeGitData.objects[second]["tree"] != tree


def test_a_fork_without_write_access_names_the_images_and_the_artifact(workdir, github):
    FakeGitData.status = 403
    result = publish(workdir, github)
    assert "could not publish the plot images (HTTP 403" in result.stdout
    linked = (workdir / "report-linked.md").read_text()
    assert ci.image_sources(linked) == [] and ci.check_comment(linked) == []
    assert "`ROC` `Precision-Recall` `Calibration` `Feature-Importance`" in linked
    assert linked.rstrip().endswith(ci.IMAGES_NOTE)
    assert json.loads((workdir / "output").read_text().removeprefix("images=")) == {}


def test_the_comment_body_gets_the_published_links(workdir):
    body = (workdir / "report.md").read_text()
    urls = {f"dvc_plots/images/{n}.png": f"https://github.com/t/t/raw/abc/{n}.png" for n in NAMES}
    linked = ci.link_images(body, urls, ci.IMAGES_NOTE)
    assert ci.check_comment(linked) == [] and ci.IMAGES_NOTE not in linked
    assert re.findall(r'width="(\d+)"', linked) == [str(report.IMAGE_WIDTH)] * len(NAMES)
    partly = ci.link_images(body, dict(list(urls.items())[:2]), ci.IMAGES_NOTE)
    assert len(ci.image_sources(partly)) == 2 and ci.IMAGES_NOTE in partly
