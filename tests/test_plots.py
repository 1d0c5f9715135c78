"""`tabpipe plots`: vendored scripts as pinned, a page that needs no network, plot images."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

import pytest
import vl_convert

from tabpipe.project import plots
from tests.dvc_repo import PROJECT, run
from tests.plots_project import plots_repo

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> tuple[Path, str]:
    repo = plots_repo(tmp_path_factory.mktemp("plots"))
    result = run(["make", "-f", str(PROJECT / "Makefile"), "-o", "setup", "plots"], repo)
    return repo, result.stdout


def test_vendored_scripts_are_the_pinned_releases_with_their_licences():
    versions = json.loads(plots.VERSIONS.read_text())
    assert set(versions) == set(plots.PINS)
    for name, (version, member) in plots.PINS.items():
        entry = versions[name]
        assert (entry["version"], entry["file"]) == (version, member)
        data = (plots.VENDOR_DIR / f"{name}.min.js").read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert entry["npm_integrity"].startswith("sha512-")
        assert entry["license"] == "BSD-3-Clause"
        assert "Redistribution and use" in (plots.VENDOR_DIR / entry["license_file"]).read_text()
    # the images come from the same Vega-Lite release as the page
    assert plots.vl_version() in vl_convert.get_vegalite_versions()


def test_a_tampered_script_is_refused(tmp_path):
    for path in plots.VENDOR_DIR.iterdir():
        (tmp_path / path.name).write_bytes(path.read_bytes())
    (tmp_path / "vega-embed.min.js").write_text("/* not vega-embed */")
    with pytest.raises(Exception, match="sha256 differs"):
        plots.page_template(["workspace"], [], vendor_dir=tmp_path)


def test_the_template_inlines_the_scripts_and_names_what_is_left_out():
    page = plots.page_template(["main", "workspace"], ["Residuals"])
    assert "{plot_divs}" in page and "{scripts}" not in page  # DVC adds no CDN tags
    assert not re.search(r"<script[^>]*\bsrc=", page)
    # one opening and one closing tag per vendored script: nothing inside ends one early
    assert page.count("<script>") == page.count("</script>") == len(plots.PINS)
    assert "Not drawn (no data for this task): <code>Residuals</code>" in page
    assert "vega-lite 5.21.0" in page


def test_make_plots_writes_a_page_without_network_and_images_of_each_plot(rendered):
    repo, stdout = rendered
    out = repo / "dvc_plots"
    page = (out / "index.html").read_text()
    assert not re.search(r"<script[^>]*\bsrc=", page)
    assert "cdn." not in page.split("<body>")[0].split("</script>")[-1]
    drawn = ["ROC", "Precision-Recall", "Confusion-Matrix", "Calibration"]
    drawn += ["Tuning-Trials", "Feature-Importance"]
    for name in drawn:
        assert f"vegaEmbed('#{name}'" in page
        assert (out / "images" / f"{name}.png").read_bytes().startswith(PNG_SIGNATURE)
        assert (out / "images" / f"{name}.svg").read_text().startswith("<svg")
        spec = json.loads((out / "vega" / f"{name}.json").read_text())
        assert spec["data"]["values"], name
        assert f"{name}: dvc_plots/images/{name}.png" in stdout
    # a binary classifier has no regression plots: left out and named, not drawn empty
    assert "vegaEmbed('#Residuals'" not in page
    assert "not drawn (no data for this task): Predicted-vs-Actual, Residuals" in stdout


def test_plots_of_two_revisions_overlay_both(rendered):
    repo, _ = rendered
    out = repo / "overlay"
    run(["tabpipe", "plots", "--rev", "HEAD", "--rev", "workspace", "--out", str(out)], repo)
    values = json.loads((out / "vega" / "ROC.json").read_text())["data"]["values"]
    assert {row["rev"] for row in values} == {"HEAD", "workspace"}
    page = (out / "index.html").read_text()
    assert "Revisions: <code>HEAD</code>, <code>workspace</code>" in page


FAKE_NPM = """
import base64, hashlib, io, json, sys, tarfile
from pathlib import Path
specs = [a for a in sys.argv[1:] if "@" in a]
dest = Path(sys.argv[sys.argv.index("--pack-destination") + 1])
out = []
for spec in specs:
    name, version = spec.rsplit("@", 1)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        files = {"package/package.json": json.dumps({"license": "BSD-3-Clause"}),
                 f"package/build/{name}.min.js": f"/* {name} {version} */"}
        if name != "vega":
            files["package/LICENSE"] = f"{name} licence: Redistribution and use"
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    filename = f"{name}-{version}.tgz"
    (dest / filename).write_bytes(buf.getvalue())
    digest = base64.b64encode(hashlib.sha512(buf.getvalue()).digest()).decode()
    out.append({"name": name, "version": version, "filename": filename,
                "integrity": "sha512-" + digest})
print(json.dumps(out))
"""


def test_vendor_checks_the_tarballs_and_keeps_a_licence_npm_does_not_ship(tmp_path):
    npm = tmp_path / "npm"
    npm.write_text(f"#!{sys.executable}\n{FAKE_NPM}")
    npm.chmod(0o755)
    vendor = tmp_path / "vendor"
    vendor.mkdir()
    (vendor / "LICENSE.vega").write_text("kept: Redistribution and use")
    versions = plots.vendor(vendor, npm=str(npm))
    assert (vendor / "vega-lite.min.js").read_text() == "/* vega-lite 5.21.0 */"
    assert (vendor / "LICENSE.vega").read_text() == "kept: Redistribution and use"
    assert versions["vega-embed"]["license_source"] == "the npm package's own licence file"
    page = plots.page_template(["workspace"], [], vendor_dir=vendor)
    assert "/* vega-embed 6.29.0 */" in page
    # a tarball that does not match the integrity npm reported is refused
    npm.write_text(npm.read_text().replace('"sha512-" + digest', '"sha512-AAAA"'))
    with pytest.raises(Exception, match="does not match its integrity"):
        plots.vendor(vendor, npm=str(npm))
