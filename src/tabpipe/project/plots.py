"""`tabpipe plots`: the declared plots as a page that draws offline, and as images.

`dvc plots show` (or `dvc plots diff` for revisions) writes `index.html` through an HTML
template whose Vega, Vega-Lite and Vega-Embed scripts are inlined from the copies vendored in
`vendor/` beside this file (pinned npm releases; `vendor/versions.json` holds each version,
the npm integrity of its tarball and the sha256 of the file). The page loads nothing from the
network, so it draws behind a firewall and from a downloaded CI artifact. Each plot is also
rendered offline by vl-convert (same Vega-Lite release as the page) to `images/<plot>.png` and
`.svg`, and its spec, data included, goes to `vega/<plot>.json`.

Plots that the task does not produce (the regression plots of a classifier) are left out and
named, instead of leaving empty charts on the page.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from html import escape
from io import BytesIO
from pathlib import Path
from typing import Any

import yaml

from tabpipe import io
from tabpipe.errors import PipelineError

PLOTS_DIR = Path("dvc_plots")
VENDOR_DIR = Path(__file__).with_name("vendor")
VERSIONS = VENDOR_DIR / "versions.json"
# npm package -> (version, file in the package). vega-lite's minor is also the version
# vl-convert renders the images with, so the page and the images come from one release.
PINS = {
    "vega": ("5.33.1", "build/vega.min.js"),
    "vega-lite": ("5.21.0", "build/vega-lite.min.js"),
    "vega-embed": ("6.29.0", "build/vega-embed.min.js"),
}
LICENSE_NAMES = ("LICENSE", "LICENSE.md", "LICENSE.txt", "LICENCE")
IMAGE_SCALE = 2  # PNG pixels per CSS pixel: sharp on high-density screens


def vl_version() -> str:
    """The Vega-Lite release (major.minor) vl-convert renders with: the vendored one's."""
    major, minor, _ = PINS["vega-lite"][0].split(".")
    return f"{major}.{minor}"


# ------------------------------------------------------------------------------- vendoring


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def vendored_scripts(vendor_dir: Path = VENDOR_DIR) -> list[tuple[str, str, str]]:
    """(package, version, source) of each vendored script, checked against versions.json."""
    versions = io.read_json(vendor_dir / "versions.json")
    scripts = []
    for name, (version, _) in PINS.items():
        entry = versions.get(name) or {}
        path = vendor_dir / f"{name}.min.js"
        if entry.get("version") != version or not path.exists():
            raise PipelineError(
                f"{path}: the vendored {name} is not the pinned {version}",
                fix="run `make vendor-plots` (npm pack of the pinned versions)",
            )
        data = path.read_bytes()
        if _sha256(data) != entry["sha256"]:
            raise PipelineError(
                f"{path}: sha256 differs from {vendor_dir / 'versions.json'}",
                fix="restore the file from Git, or `make vendor-plots`",
            )
        scripts.append((name, version, data.decode("utf-8")))
    return scripts


def _tarball_member(tar: tarfile.TarFile, name: str) -> bytes | None:
    try:
        member = tar.getmember(f"package/{name}")
    except KeyError:
        return None
    handle = tar.extractfile(member)
    return handle.read() if handle is not None else None


def vendor(vendor_dir: Path = VENDOR_DIR, npm: str = "npm") -> dict[str, Any]:
    """Download the pinned packages with `npm pack`, check them, copy script and licence.

    A package whose tarball has no licence file (vega ships none) keeps the licence file
    already in vendor_dir; versions.json says where each licence text comes from.
    """
    manifest_path = vendor_dir / "versions.json"
    old = io.read_json(manifest_path) if manifest_path.exists() else {}
    versions: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        specs = [f"{name}@{version}" for name, (version, _) in PINS.items()]
        result = subprocess.run(
            [npm, "pack", *specs, "--json", "--pack-destination", tmp],
            capture_output=True,
            text=True,
            cwd=tmp,
        )
        if result.returncode != 0:
            raise PipelineError(
                f"`npm pack {' '.join(specs)}` failed: {result.stderr.strip()[-300:]}",
                fix="check that npm is installed and reaches its registry",
            )
        packed = {p["name"]: p for p in json.loads(result.stdout)}
        for name, (version, member) in PINS.items():
            info = packed[name]
            tarball = (Path(tmp) / info["filename"]).read_bytes()
            algorithm, _, digest = info["integrity"].partition("-")
            if base64.b64encode(hashlib.new(algorithm, tarball).digest()).decode() != digest:
                raise PipelineError(f"{name}@{version}: tarball does not match its integrity")
            with tarfile.open(fileobj=BytesIO(tarball)) as tar:
                script = _tarball_member(tar, member)
                licence = next(
                    (text for n in LICENSE_NAMES if (text := _tarball_member(tar, n))), None
                )
                manifest = json.loads(_tarball_member(tar, "package.json") or b"{}")
            if script is None:
                raise PipelineError(f"{name}@{version} has no {member}")
            io.write_bytes(script, vendor_dir / f"{name}.min.js")
            licence_file = f"LICENSE.{name}"
            if licence is not None:
                io.write_bytes(licence, vendor_dir / licence_file)
                source = "the npm package's own licence file"
            else:
                if not (vendor_dir / licence_file).exists():
                    raise PipelineError(f"{name}@{version} ships no licence file and none is kept")
                kept = (old.get(name) or {}).get("license_source")
                source = kept or "kept from an earlier vendoring"
            versions[name] = {
                "version": version,
                "file": member,
                "sha256": _sha256(script),
                "npm_integrity": info["integrity"],
                "license": manifest.get("license", "?"),
                "license_file": licence_file,
                "license_source": source,
            }
    io.write_json(versions, vendor_dir / "versions.json")
    return versions


# ------------------------------------------------------------------------------- the page

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }
.plots { display: flex; flex-wrap: wrap; gap: 1.5rem; align-items: flex-start; }
.plots > div { min-width: 320px; }
code { background: #f3f3f3; padding: 0 .2rem; }
"""


def _inline(source: str) -> str:
    # a literal "</script" inside the code would end the element early
    return re.sub(r"</(script)", r"<\\/\1", source, flags=re.IGNORECASE)


def page_template(revisions: list[str], left_out: list[str], vendor_dir: Path = VENDOR_DIR) -> str:
    """A `dvc plots --html-template` with the vendored scripts inlined (no `{scripts}`, so
    DVC adds no CDN tags)."""
    scripts = "\n".join(
        f"<script>/* {name} {version} (vendored from npm; tabpipe/project/vendor) */\n"
        f"{_inline(source)}\n</script>"
        for name, version, source in vendored_scripts(vendor_dir)
    )
    versions = ", ".join(f"{n} {v}" for n, (v, _) in PINS.items())
    revs = ", ".join(f"<code>{escape(r)}</code>" for r in revisions)
    missing = ""
    if left_out:
        missing = (
            "<p>Not drawn (no data for this task): "
            + ", ".join(f"<code>{escape(n)}</code>" for n in left_out)
            + ".</p>"
        )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
{{refresh_tag}}
<title>tabpipe plots</title>
<style>{STYLE}</style>
{scripts}
</head>
<body>
<h1>Plots</h1>
<p>Revisions: {revs}. Drawn with {versions}, bundled in this page: it loads nothing from the
network.</p>
{missing}
<div class="plots">
{{plot_divs}}
</div>
</body>
</html>
"""


# ------------------------------------------------------------------------------- rendering


@dataclass
class Rendered:
    """What `render` wrote: the page, and per plot its spec and images."""

    page: Path
    specs: dict[str, Path] = field(default_factory=dict)
    png: dict[str, Path] = field(default_factory=dict)
    svg: dict[str, Path] = field(default_factory=dict)
    left_out: list[str] = field(default_factory=list)
    revisions: list[str] = field(default_factory=list)


def declared_plots(dvc_yaml: Path = Path("dvc.yaml")) -> list[str]:
    """Names of the top-level plots in dvc.yaml (ROC, Precision-Recall, ...), in order."""
    data = yaml.safe_load(dvc_yaml.read_text(encoding="utf-8")) or {}
    names = []
    for entry in data.get("plots") or []:
        names.extend(entry if isinstance(entry, dict) else [entry])
    return [str(n) for n in names]


def finite(value: Any) -> Any:
    """Replace NaN and infinities (dvclive's ROC threshold) so the spec is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def run_dvc(args: list[str]) -> str:
    """`dvc <args>`'s output; a failure in one line with DVC's last message."""
    result = subprocess.run(["dvc", *args], capture_output=True, text=True)
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        raise PipelineError(
            f"`dvc {' '.join(args)}` failed: {lines[-1] if lines else 'no message'}",
            fix="run it by hand to see the details (`source .venv/bin/activate` first)",
        )
    return result.stdout


def _has_data(spec: Any) -> bool:
    values = (spec or {}).get("data", {}).get("values") if isinstance(spec, dict) else None
    return bool(values)


def to_images(spec: dict, png: Path, svg: Path) -> None:
    """One Vega-Lite spec to PNG and SVG, offline (vl-convert bundles its own Vega)."""
    import vl_convert

    spec = finite(spec)
    image = vl_convert.vegalite_to_png(spec, vl_version=vl_version(), scale=IMAGE_SCALE)
    io.write_bytes(image, png)
    io.write_text(vl_convert.vegalite_to_svg(spec, vl_version=vl_version()), svg)


def render(revs: list[str] | None = None, out_dir: Path = PLOTS_DIR) -> Rendered:
    """The declared plots of the workspace (`revs` empty) or of `revs` overlaid (`dvc plots
    diff`): `out_dir/index.html`, `vega/<plot>.json`, `images/<plot>.png` and `.svg`."""
    revs = list(revs or [])
    names = declared_plots()
    if not names:
        raise PipelineError("dvc.yaml declares no plots", fix="add a top-level `plots:` section")
    # `plots diff` takes --targets, `plots show` takes the targets as arguments
    command = ["plots", "diff", *revs, "--targets"] if revs else ["plots", "show"]
    shown = json.loads(run_dvc([*command, *names, "--json"]) or "{}")
    data = shown.get("data") or {}
    drawn, left_out = [], []
    for name in names:
        plots = [p for p in data.get(name) or [] if p.get("type") == "vega"]
        (drawn if plots and all(_has_data(p.get("content")) for p in plots) else left_out).append(
            name
        )
    if not drawn:
        raise PipelineError(
            "no declared plot has data: " + ", ".join(names), fix="run the pipeline: `make run`"
        )
    # remove only what an earlier run wrote: out_dir may hold other files
    (out_dir / "index.html").unlink(missing_ok=True)
    for sub in ("vega", "images"):
        shutil.rmtree(out_dir / sub, ignore_errors=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    # `dvc plots diff REV` alone compares REV with the workspace
    revisions = revs + ["workspace"] if len(revs) == 1 else revs or ["workspace"]
    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp) / "template.html"
        template.write_text(page_template(revisions, left_out), encoding="utf-8")
        run_dvc([*command, *drawn, "-o", str(out_dir), "--html-template", str(template)])
    out = Rendered(page=out_dir / "index.html", left_out=left_out, revisions=revisions)
    for name in drawn:
        for i, plot in enumerate(p for p in data[name] if p.get("type") == "vega"):
            stem = slug(name) + (f"-{i}" if i else "")
            spec = out_dir / "vega" / f"{stem}.json"
            io.write_json(finite(plot["content"]), spec)
            png, svg = out_dir / "images" / f"{stem}.png", out_dir / "images" / f"{stem}.svg"
            to_images(plot["content"], png, svg)
            if i == 0:
                out.specs[name], out.png[name], out.svg[name] = spec, png, svg
    return out
