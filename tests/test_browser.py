"""The plot page and the drift report, opened in headless Chromium with the network cut off.

Each chart must draw (an SVG with shapes or a painted canvas), with no console error and no
attempt to load anything off this machine. DVC's own page, which loads Vega from a CDN, is the
broken case: the same check fails on it. Screenshots are kept in reports/browser/ (gitignored;
CI can upload the folder) and their paths printed (`pytest -s` shows them).

Without a browser the tests skip, unless TABPIPE_REQUIRE_BROWSER=1 (.ci/run sets it after
installing Debian's chromium), where a missing browser fails.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tabpipe.monitoring.monitor import write_reports
from tabpipe.project import browser
from tests.dvc_repo import PROJECT, run
from tests.plots_project import plots_repo
from tests.test_monitoring import check, table

SCREENSHOTS = Path(os.environ.get("TABPIPE_SCREENSHOTS", PROJECT / "reports" / "browser"))
PLOTS = ["ROC", "Precision-Recall", "Confusion-Matrix", "Calibration"]
PLOTS += ["Tuning-Trials", "Feature-Importance"]

if browser.find_browser() is None:
    if os.environ.get("TABPIPE_REQUIRE_BROWSER") == "1":
        raise RuntimeError("TABPIPE_REQUIRE_BROWSER=1 but no Chromium: apt-get install chromium")
    pytest.skip("no Chromium (apt-get install -y chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    return plots_repo(tmp_path_factory.mktemp("browser"))


@pytest.fixture(scope="module")
def plot_page(repo) -> Path:
    run(["tabpipe", "plots"], repo)
    return repo / "dvc_plots/index.html"


def opened(page: Path, name: str, timeout: float = 20) -> browser.PageCheck:
    result = browser.check_page(page, SCREENSHOTS / f"{name}.png", timeout=timeout)
    print(f"screenshot of {page}: {result.screenshot}")
    return result


def test_the_plot_page_draws_every_chart_offline(plot_page):
    result = opened(plot_page, "plots")
    assert result.ok, result.problems()
    assert [c["name"] for c in result.charts] == PLOTS
    assert result.requests == []  # nothing even tried to leave the machine
    assert result.screenshot.read_bytes().startswith(b"\x89PNG")


def test_the_report_plot_page_of_two_revisions_draws_offline(repo):
    run(["tabpipe", "plots", "--rev", "HEAD", "--out", "overlay"], repo)
    result = opened(repo / "overlay/index.html", "plots-overlay")
    assert result.ok, result.problems()
    assert len(result.charts) == len(PLOTS)


def test_dvcs_own_page_with_the_cdn_scripts_is_blank_offline(repo):
    run(["dvc", "plots", "show", *PLOTS, "-o", "cdn_plots"], repo)
    page = repo / "cdn_plots/index.html"
    assert "<script src=" in page.read_text()  # Vega from a CDN
    result = opened(page, "plots-cdn", timeout=5)
    assert not result.ok
    assert [c["drawn"] for c in result.charts] == [""] * len(PLOTS)
    assert any("vegaEmbed is not defined" in e for e in result.errors), result.errors
    assert any("ERR_PROXY_CONNECTION_FAILED" in e for e in result.errors), result.errors
    assert result.requests and all(r.startswith("https://") for r in result.requests)


def test_a_page_whose_vendored_script_broke_fails_the_check(plot_page, tmp_path):
    page = tmp_path / "index.html"
    text = plot_page.read_text()
    start = text.index("<script>/* vega-embed")
    page.write_text(
        text[:start]
        + "<script>/* vega-embed removed */</script>"
        + text[text.index("</script>", start) + len("</script>") :]
    )
    result = opened(page, "plots-broken", timeout=5)
    assert not result.ok and "vegaEmbed is not defined" in " ".join(result.errors)


def test_the_drift_report_draws_its_distributions_offline(tmp_path, section):
    report = check(
        table(3000, 0),
        table(500, 1, shift=1.3),
        section("monitor", min_rows=50),
        section("clean"),
    )
    report |= {"batch": "b.csv", "reference": "train.parquet", "model": "models/model.skops"}
    json_path, html_path = tmp_path / "b.json", tmp_path / "b.html"
    write_reports(report, json_path, html_path)
    result = opened(html_path, "monitor")
    assert result.ok, result.problems()
    assert len(result.charts) >= 2  # the score and the drifted column, each an inline SVG
    assert {c["drawn"] for c in result.charts} == {"svg"}
    assert result.requests == []
