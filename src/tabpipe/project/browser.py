"""Open a page in headless Chromium with the network cut off, and check that its charts drew.

Standard library only: the DevTools protocol (CDP) runs over `--remote-debugging-pipe` (file
descriptors 3 and 4, one JSON message per NUL-terminated line), so no WebSocket client or
browser download is needed; Debian's `chromium` package is enough. The network is unavailable
to the page: every host name resolves to nothing (`--host-resolver-rules`) and every request
goes to a proxy where nothing listens. Only file:, data: and blob: loads can succeed.

A chart is a DVC plot `<div id=...>` holding a `<script>` (vega-embed swaps it for the chart and
marks the div `.vega-embed`), or a `<figure>` (the drift report):
it drew when it holds an SVG with shapes in it, or a canvas with at least one painted pixel.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tabpipe.errors import PipelineError

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:", "chrome-error:")
WIDTH = 1400

# Every chart's id (or position) and whether it drew; evaluated in the page.
CHARTS_JS = r"""
(() => {
  // a page still parsing shows only its first charts: not a verdict yet
  if (document.readyState !== 'complete') return null;
  const drew = (el) => {
    // not the icon of vega-embed's action menu: the chart's own SVG
    for (const svg of el.querySelectorAll('svg:not(.vega-actions svg):not(details svg)')) {
      if (svg.querySelectorAll('path, rect, line, circle, text').length > 2) return 'svg';
    }
    for (const canvas of el.querySelectorAll('canvas')) {
      if (!canvas.width || !canvas.height) continue;
      const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) return 'canvas';
    }
    return '';
  };
  // vega-embed replaces the div's script by the chart and marks the div .vega-embed
  const charts = [...document.querySelectorAll('div[id]')]
    .filter(d => d.classList.contains('vega-embed') || d.querySelector(':scope > script'))
    .concat([...document.querySelectorAll('figure')]);
  return charts.map((el, i) => ({name: el.id || ('figure ' + (i + 1)), drawn: drew(el)}));
})()
"""


@dataclass
class PageCheck:
    url: str
    charts: list[dict] = field(default_factory=list)  # {"name", "drawn": "svg"|"canvas"|""}
    errors: list[str] = field(default_factory=list)  # console errors, exceptions, failed loads
    requests: list[str] = field(default_factory=list)  # attempted loads off this machine
    screenshot: Path | None = None

    @property
    def ok(self) -> bool:
        return bool(self.charts) and all(c["drawn"] for c in self.charts) and not self.errors

    def problems(self) -> list[str]:
        out = [f"chart {c['name']} did not draw" for c in self.charts if not c["drawn"]]
        if not self.charts:
            out.append("no chart on the page")
        return out + [f"console: {e}" for e in self.errors]


def find_browser() -> str | None:
    """$CHROMIUM, else the first of BROWSERS on PATH."""
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


class _Pipe:
    """CDP over the two pipes: send a command, wait for its answer, keep the events."""

    def __init__(self, write_fd: int, read_fd: int) -> None:
        self.out = os.fdopen(write_fd, "wb", buffering=0)
        self.inp = os.fdopen(read_fd, "rb", buffering=0)
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict] = []

    def _read(self, deadline: float) -> dict:
        import select

        while b"\0" not in self.buffer:
            if not select.select([self.inp], [], [], max(0.0, deadline - time.monotonic()))[0]:
                raise TimeoutError("the browser did not answer in time")
            chunk = self.inp.read(1 << 16)
            if not chunk:
                raise EOFError("the browser closed the pipe")
            self.buffer += chunk
        message, _, self.buffer = self.buffer.partition(b"\0")
        return json.loads(message)

    def send(self, method: str, session: str | None = None, timeout: float = 30, **params):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        self.out.write(json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise PipelineError(f"CDP {method}: {reply['error'].get('message')}")
                return reply.get("result", {})
            self.events.append(reply)

    def pump(self, seconds: float) -> None:
        """Collect events for `seconds`."""
        deadline = time.monotonic() + seconds
        try:
            while True:
                self.events.append(self._read(deadline))
        except TimeoutError:
            pass


def _describe(event: dict) -> tuple[str | None, str | None]:
    """(error, off-machine request) that one CDP event reports, if any."""
    method, params = event.get("method"), event.get("params", {})
    if method == "Runtime.exceptionThrown":
        details = params.get("exceptionDetails", {})
        text = (details.get("exception") or {}).get("description") or details.get("text")
        return str(text).splitlines()[0], None
    if method == "Runtime.consoleAPICalled" and params.get("type") == "error":
        args = params.get("args") or []
        text = " ".join(str(a.get("value", a.get("description", ""))) for a in args)
        return text.splitlines()[0] if text else "console.error", None
    if method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
        entry = params["entry"]
        return f"{entry.get('text')} ({entry.get('url', '')})", None
    if method == "Network.requestWillBeSent":
        url = params.get("request", {}).get("url", "")
        if not url.startswith(LOCAL_SCHEMES):
            return None, url
    return None, None


def check_page(
    page: Path, screenshot: Path | None = None, browser: str | None = None, timeout: float = 30
) -> PageCheck:
    """Load `page` offline in headless Chromium; which charts drew, what went wrong."""
    browser = browser or find_browser()
    if browser is None:
        raise PipelineError(
            "no Chromium found", fix="`apt-get install -y chromium`, or set CHROMIUM=path"
        )
    if not Path(page).is_file():
        raise PipelineError(f"{page} does not exist", fix="write it first (`make plots`)")
    url = Path(page).resolve().as_uri()
    to_browser_r, to_browser_w = os.pipe()
    from_browser_r, from_browser_w = os.pipe()

    def child_fds() -> None:  # the browser reads fd 3, writes fd 4
        # through fresh copies: dup2 onto the same number would keep the close-on-exec flag
        read, write = os.dup(to_browser_r), os.dup(from_browser_w)
        os.dup2(read, 3)
        os.dup2(write, 4)

    with tempfile.TemporaryDirectory() as profile:
        process = subprocess.Popen(
            [
                browser,
                "--headless",
                "--no-sandbox",  # CI runs as root
                "--disable-gpu",
                "--no-first-run",
                "--disable-extensions",
                "--disable-background-networking",
                "--remote-debugging-pipe",
                f"--user-data-dir={profile}",
                "--host-resolver-rules=MAP * ~NOTFOUND",
                "--proxy-server=http://127.0.0.1:9",  # the discard port: nothing answers
                "--proxy-bypass-list=<-loopback>",
                f"--window-size={WIDTH},1000",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=False,
            preexec_fn=child_fds,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        cdp = _Pipe(to_browser_w, from_browser_r)
        result = PageCheck(url=url)
        try:
            target = cdp.send("Target.createTarget", url="about:blank", timeout=timeout)
            session = cdp.send("Target.attachToTarget", targetId=target["targetId"], flatten=True)[
                "sessionId"
            ]
            for domain in ("Runtime", "Log", "Network", "Page"):
                cdp.send(f"{domain}.enable", session)
            cdp.send("Page.navigate", session, url=url)
            deadline = time.monotonic() + timeout
            while True:  # until every chart drew (then a moment for late errors) or timeout
                cdp.pump(0.3)
                charts = (
                    cdp.send("Runtime.evaluate", session, expression=CHARTS_JS, returnByValue=True)[
                        "result"
                    ].get("value")
                    or []
                )
                if (charts and all(c["drawn"] for c in charts)) or time.monotonic() > deadline:
                    break
            cdp.pump(0.5)
            result.charts = (
                cdp.send("Runtime.evaluate", session, expression=CHARTS_JS, returnByValue=True)[
                    "result"
                ].get("value")
                or []
            )
            for event in cdp.events:
                error, request = _describe(event)
                if error:
                    result.errors.append(error)
                if request:
                    result.requests.append(request)
            if screenshot is not None:
                height = cdp.send(
                    "Runtime.evaluate",
                    session,
                    expression="document.documentElement.scrollHeight",
                    returnByValue=True,
                )["result"].get("value", 1000)
                cdp.send(
                    "Emulation.setDeviceMetricsOverride",
                    session,
                    width=WIDTH,
                    height=min(int(height), 8000),
                    deviceScaleFactor=1,
                    mobile=False,
                )
                shot = cdp.send("Page.captureScreenshot", session, format="png")
                screenshot = Path(screenshot)
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                screenshot.write_bytes(base64.b64decode(shot["data"]))
                result.screenshot = screenshot
            with contextlib.suppress(EOFError, TimeoutError, PipelineError, OSError):
                cdp.send("Browser.close", timeout=5)
        finally:
            for handle in (cdp.out, cdp.inp):
                handle.close()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    return result
