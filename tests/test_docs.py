"""The docs site's reference pages say what the code says (tabpipe.project.docs)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from tabpipe import config
from tabpipe.cli import build_parser
from tabpipe.errors import PipelineError
from tabpipe.project import docs

PROJECT = Path(__file__).resolve().parents[1]


def test_every_schema_field_has_a_meaning_and_every_meaning_a_field():
    assert docs.undocumented() == []


def test_a_field_without_a_meaning_is_named(monkeypatch):
    @dataclasses.dataclass
    class Extra:
        """extra: a section.

        documented: yes
        """

        documented: int = 1
        forgotten: int = 2

    monkeypatch.setitem(config.SCHEMAS, "extra", Extra)
    assert docs.undocumented() == ["Extra.forgotten: no meaning"]


def test_committed_pages_are_what_the_code_generates():
    for path, text in docs.pages(build_parser(), PROJECT).items():
        assert (PROJECT / path).read_text(encoding="utf-8") == text, path


def test_pages_list_every_key_target_and_command():
    pages = {p.name: t for p, t in docs.pages(build_parser(), PROJECT).items()}
    assert "| `split.test_size` | float | `0.2` |" in pages["params.md"]
    assert "| `monitor.performance.max_drop` | float | `0.05` |" in pages["params.md"]
    assert "| `make verify` |" in pages["make.md"] and "| `make docs` |" in pages["make.md"]
    for command in ("verify", "docs", "predict", "monitor"):
        assert f"## `tabpipe {command}`" in pages["cli.md"]


def test_check_fails_on_a_stale_page_and_write_repairs_it(tmp_path):
    for name in ("conf", "Makefile", "docs"):
        source = PROJECT / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, tmp_path / name)
    page = tmp_path / "docs/reference/make.md"
    page.write_text(page.read_text().replace("list the targets", "old words"))
    with pytest.raises(PipelineError, match=r"docs/reference/make\.md differ from the code"):
        docs.write(build_parser(), tmp_path, check=True)
    assert docs.write(build_parser(), tmp_path).startswith("docs: 1 reference page(s) written")
    assert docs.write(build_parser(), tmp_path, check=True).endswith("up to date")


def test_the_pages_images_are_drawn_from_the_committed_metrics():
    assert docs.stale_images(PROJECT)[0] == []
    for name in docs.PAGE_PLOTS:
        assert f"images/{name}.png" in "".join(
            p.read_text() for p in (PROJECT / "docs").glob("*.md")
        )


def test_check_fails_on_an_image_of_other_data_and_write_redraws_it(tmp_path):
    for name in ("conf", "Makefile", "docs"):
        source = PROJECT / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, tmp_path / name)
    # the image as an older run drew it: another ROC curve's data hash
    sources = tmp_path / "docs/images/sources.json"
    sources.write_text(sources.read_text().replace('"ROC": "', '"ROC": "0'))
    (tmp_path / "docs/images/ROC.png").write_bytes(b"an older picture")
    with pytest.raises(PipelineError, match=r"docs/images/ROC\.png differ"):
        docs.write(build_parser(), tmp_path, check=True)
    assert docs.write(build_parser(), tmp_path).endswith("1 image(s) drawn")
    # drawn again from the metrics files: the committed picture, byte for byte
    committed = (PROJECT / "docs/images/ROC.png").read_bytes()
    assert (tmp_path / "docs/images/ROC.png").read_bytes() == committed
    assert docs.write(build_parser(), tmp_path, check=True).endswith("up to date")
