"""`tabpipe ci ...`: the logic of the CI workflow, kept here so that it is testable.

- `remote-status`: is a DVC remote configured, are its credentials present, does it answer?
  Exactly one line either way; anything but "ready" means CI reruns the pipeline in full.
- `pull` / `push`: `dvc pull --run-cache` / `dvc push --run-cache` when the remote is ready.
- `check-lock`: after `dvc repro`, fail when dvc.lock or a metric file differs from the commit,
  naming the stages that are out of date and the fix.
- `comment`: post the report on the pull request as one comment, updated in place.
- `publish-plots`: commit the report's plot images to the orphan branch `tabpipe-plots` and
  rewrite the report's image links to them (GitHub shows no relative or data: image).
- `check-yaml`: every YAML file parses (a pre-commit hook and `make lint`).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from tabpipe.errors import PipelineError

MARKER = "<!-- tabpipe-report -->"  # the hidden line that finds the report comment to update
FALLBACK = "CI falls back to a full rerun (`dvc repro` of every stage)"
RESULT_PATHS = ("dvc.lock", "metrics")
FIX = "run `make run`, then commit dvc.lock and metrics/"

# ------------------------------------------------------------------------------- remote


@dataclass
class RemoteStatus:
    state: str  # "ready", "none", "no-credentials" or "unreachable"
    name: str | None = None
    url: str | None = None
    detail: str = ""

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    def line(self, fallback: str = FALLBACK) -> str:
        """One line for a person reading the CI log."""
        where = f"DVC remote '{self.name}' ({self.url})" if self.name else "DVC remote"
        if self.state == "none":
            return f"no DVC remote configured (`dvc remote add -d NAME URL`): {fallback}"
        if self.state == "ready":
            return f"{where} is reachable and its credentials are present"
        return f"{where}: {self.detail}: {fallback}"


def _set(env: Mapping[str, str], *names: str) -> bool:
    """All of `names` are set to a non-empty value (a fork's missing secret is an empty string)."""
    return all(env.get(n, "").strip() for n in names)


def missing_credentials(scheme: str, conf: Mapping, env: Mapping[str, str]) -> str | None:
    """What to set when no credentials for this kind of remote are visible; None if some are.

    Looks at the remote's config (`.dvc/config.local` included), the environment variables the
    storage clients read, and their default credential files.
    """
    home = Path(env.get("HOME", str(Path.home())))
    if scheme == "s3":
        if conf.get("allow_anonymous_login") or (
            conf.get("access_key_id") and conf.get("secret_access_key")
        ):
            return None
        if conf.get("profile") or conf.get("credentialpath"):
            return None
        if _set(env, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY") or _set(env, "AWS_PROFILE"):
            return None
        if _set(env, "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"):  # OIDC role in CI
            return None
        if (home / ".aws" / "credentials").exists():
            return None
        return (
            "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (repository secrets)"
        )
    if scheme in ("gs", "gcs"):
        if conf.get("credentialpath") or _set(env, "GOOGLE_APPLICATION_CREDENTIALS"):
            return None
        if (home / ".config" / "gcloud" / "application_default_credentials.json").exists():
            return None
        return "no credentials: set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file"
    if scheme in ("azure", "az"):
        keys = (
            "connection_string",
            "account_key",
            "sas_token",
            "client_secret",
            "allow_anonymous_login",
        )
        if any(conf.get(k) for k in keys):
            return None
        names = ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS_TOKEN")
        if any(_set(env, n) for n in names) or _set(env, "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"):
            return None
        return "no credentials: set AZURE_STORAGE_CONNECTION_STRING (repository secret)"
    if scheme == "ssh":
        if conf.get("keyfile") or conf.get("password") or _set(env, "SSH_AUTH_SOCK"):
            return None
        if any((home / ".ssh" / f"id_{kind}").exists() for kind in ("ed25519", "rsa", "ecdsa")):
            return None
        return "no credentials: load a key into ssh-agent or set keyfile in .dvc/config.local"
    return None  # local paths, HTTP and others: nothing to look for before trying


BUCKET_SCHEMES = ("s3", "gs", "gcs", "azure", "az")


def _probe(repo, name: str, scheme: str, timeout: float) -> str | None:
    """Ask the remote whether its location exists; None when it answers, else why not."""
    outcome: dict[str, object] = {}

    def attempt() -> None:
        try:
            remote = repo.cloud.get_remote(name)
            if scheme in BUCKET_SCHEMES:
                # An empty prefix is fine (the first push creates it), a missing bucket is not.
                # `ls` rather than `exists`: s3fs's exists() answers False on connection errors.
                bucket = remote.path.split("/")[0]
                try:
                    remote.fs.fs.ls(bucket, detail=False)
                except FileNotFoundError:
                    outcome["missing"] = bucket
                    return
            else:
                remote.fs.exists(remote.path)
            outcome["ok"] = True
        except Exception as err:  # noqa: BLE001 - any failure means "not usable", reported in one line
            outcome["error"] = err

    # A daemon thread: a client that keeps retrying cannot hold up the CI job past the timeout.
    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        return f"unreachable: no answer within {timeout:g} s"
    if "ok" in outcome:
        return None
    if "missing" in outcome:
        bucket = outcome["missing"]
        return f"unreachable: bucket '{bucket}' does not exist (create it, or fix the URL)"
    err = outcome["error"]
    text = " ".join(str(err).split()) or type(err).__name__
    if _refused(err, text):
        return f"credentials rejected ({text[:160]})"
    return f"unreachable ({type(err).__name__}: {text[:160]})"


# what a store that was reached says when it refuses the key, as whole words: the endpoint's
# URL in a connection error may hold the same digits (port 40312 is not HTTP 403)
REFUSED = re.compile(r"\b(InvalidAccessKeyId|SignatureDoesNotMatch|AccessDenied|Forbidden|403)\b")


def _refused(err: BaseException, text: str) -> bool:
    """True when the remote answered and refused the credentials; False when it was never
    reached (a connection error, botocore's included) or failed otherwise."""
    for cause in (err, err.__cause__, err.__context__):
        if isinstance(cause, ConnectionError) or "Connect" in type(cause).__name__:
            return False
    return isinstance(err, PermissionError) or REFUSED.search(text) is not None


def remote_status(
    root: Path = Path("."), env: Mapping[str, str] | None = None, timeout: float = 30.0
) -> RemoteStatus:
    """Whether CI can use the default DVC remote of the repository at `root`."""
    env = os.environ if env is None else env
    try:
        from dvc.repo import Repo

        repo = Repo(str(root))
    except Exception as err:  # noqa: BLE001
        raise PipelineError(
            f"{root}: not a DVC repository ({err})", fix="run from the project root"
        ) from None
    try:
        name = repo.config["core"].get("remote")
        if not name:
            return RemoteStatus("none")
        conf = repo.config["remote"].get(name)
        if conf is None:
            return RemoteStatus(
                "unreachable", name, "?", f"core.remote names '{name}', which is not defined"
            )
        url = str(conf.get("url", ""))
        scheme = urlparse(url).scheme if "://" in url else "local"
        missing = missing_credentials(scheme, conf, env)
        if missing:
            return RemoteStatus("no-credentials", name, url, missing)
        problem = _probe(repo, name, scheme, timeout)
        if problem is None:
            return RemoteStatus("ready", name, url)
        state = "no-credentials" if problem.startswith("credentials") else "unreachable"
        return RemoteStatus(state, name, url, problem)
    finally:
        repo.close()


def write_github_output(**values: str) -> None:
    """Expose step outputs to later steps when running in GitHub Actions."""
    path = os.environ.get("GITHUB_OUTPUT")
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.writelines(f"{k}={v}\n" for k, v in values.items())


def _dvc(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(["dvc", *args], capture_output=True, text=True)


def _last_line(text: str) -> str:
    lines = [" ".join(line.split()) for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR")]
    return (errors or lines or ["no output"])[-1]


def pull(status: RemoteStatus) -> str:
    """`dvc pull --run-cache` if the remote is ready. Never fails: repro reruns what is missing."""
    if not status.ready:
        return status.line()
    result = _dvc(["pull", "--run-cache"])
    if result.returncode == 0:
        return (
            f"pulled data, outputs and the run cache from '{status.name}' "
            f"({_last_line(result.stdout)}): `dvc repro` reruns only the stages this change touched"
        )
    return (
        f"`dvc pull --run-cache` from '{status.name}' got only part of it "
        f"({_last_line(result.stderr)}): "
        "`dvc repro` reruns the stages whose results are missing"
    )


def push(status: RemoteStatus) -> str:
    """`dvc push --run-cache` so the next pull request starts warm."""
    if not status.ready:
        return status.line("nothing pushed; the next pull request reruns the pipeline in full")
    result = _dvc(["push", "--run-cache"])
    if result.returncode != 0:
        raise PipelineError(
            f"`dvc push --run-cache` to '{status.name}' failed: {_last_line(result.stderr)}",
            fix="check the remote's permissions (the credentials need write access)",
        )
    return f"pushed outputs and the run cache to '{status.name}' ({_last_line(result.stdout)})"


# ------------------------------------------------------------------------------- check-lock


def _changed_paths(paths: tuple[str, ...] = RESULT_PATHS) -> list[str]:
    """Files under `paths` that differ from HEAD, untracked ones included."""
    result = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all", "--", *paths],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise PipelineError(
            f"git status failed: {result.stderr.strip()}", fix="run inside the Git work tree"
        )
    return sorted(
        line[3:].strip().strip('"').split(" -> ")[-1] for line in result.stdout.splitlines()
    )


def _owners(dvc_yaml: Path = Path("dvc.yaml")) -> dict[str, str]:
    """Output path (file or directory) -> the stage in dvc.yaml that writes it."""
    import yaml

    data = yaml.safe_load(dvc_yaml.read_text(encoding="utf-8")) or {}
    owners = {}
    for stage, spec in (data.get("stages") or {}).items():
        for kind in ("outs", "metrics", "plots"):
            for entry in spec.get(kind) or []:
                path = next(iter(entry)) if isinstance(entry, dict) else entry
                owners[str(path).rstrip("/")] = stage
    return owners


def _owner(path: str, owners: dict[str, str]) -> str | None:
    for out, stage in owners.items():
        if path == out or path.startswith(out + "/"):
            return stage
    return None


def check_lock(rev: str = "HEAD") -> str:
    """After `dvc repro`: fail, in one line, when dvc.lock or metrics/ differ from the commit."""
    from tabpipe.project import lockdiff, verify

    changed = _changed_paths()
    if not changed:
        return (
            f"case: {verify.IDENTICAL}: dvc.lock and metrics/ match the commit byte for byte, "
            "the committed results reproduce"
        )
    # the same rule as `tabpipe verify`: which of its three cases is this?
    verdicts = verify.verify(Path("."), rev, score=verify.model_scores(Path(".")))
    case = verify.overall(verdicts)
    firsts = [v for v in verdicts if v.case == verify.DIFFERENT][:1] or [
        v for v in verdicts if v.case == verify.TOLERANCE
    ][:1]
    stale, unreproducible, reasons = [], [], {}
    order = lockdiff.pipeline_order()
    for change in lockdiff.compare(lockdiff.load(rev), lockdiff.load(None), order=order):
        if change.removed:
            continue
        (stale if change.inputs_changed else unreproducible).append(change.stage)
        reasons[change.stage] = change.reason(limit=2)
    owners = _owners()
    for path in changed:
        stage = _owner(path, owners)
        if stage and stage not in reasons:
            # dvc.lock agrees but the file does not: it was edited, or left out of the commit
            stale.append(stage)
            reasons[stage] = f"{path} differs from the committed file"
    parts = [f"{s} ({reasons[s]})" for s in stale]
    message = f"case: {case}: dvc.lock and metrics/ differ from what the commit holds ("
    message += (
        ", ".join(changed[:4]) + (f" and {len(changed) - 4} more" if len(changed) > 4 else "") + ")"
    )
    if parts:
        message += "; out of date: " + "; ".join(parts)
    if unreproducible:
        message += "; not reproducible (same inputs, new outputs): " + "; ".join(
            f"{s} ({reasons[s]})" for s in unreproducible
        )
    if firsts:
        message += f"; first: [{firsts[0].stage}] {firsts[0].path}: {firsts[0].detail}"
    fix = FIX
    if unreproducible and not stale:
        fix = "make those stages deterministic (seed every random step), then " + FIX
    if case == verify.TOLERANCE and not stale:
        fix = (
            "the numbers agree to 1e-9 but not bit for bit: this machine's numeric kernels differ "
            "from the committing machine's (`make verify` prints both environments; README "
            '"Reproducibility")'
        )
    raise PipelineError(message, fix=fix)


# ------------------------------------------------------------------------------- comment

MAX_COMMENT = 65_000  # GitHub refuses comment bodies over 65,536 characters


def _api(method: str, url: str, token: str, body: dict | None = None) -> object:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Accept", "application/vnd.github+json")
    request.add_header("X-GitHub-Api-Version", "2022-11-28")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def post_comment(
    body: str, repo: str, pr: int, token: str, api: str = "https://api.github.com", marker: str = ""
) -> str:
    """Create the pull-request comment that carries `marker`, or update it if it exists."""
    if len(body) > MAX_COMMENT:
        body = body[:MAX_COMMENT] + "\n\n… (cut; the whole report is in the workflow artifact)\n"
    base = f"{api.rstrip('/')}/repos/{repo}"
    try:
        existing = None
        page = 1
        while existing is None:
            comments = _api("GET", f"{base}/issues/{pr}/comments?per_page=100&page={page}", token)
            if not comments:
                break
            existing = next(
                (c for c in comments if marker and marker in (c.get("body") or "")), None
            )
            page += 1
        if existing is not None:
            _api("PATCH", f"{base}/issues/comments/{existing['id']}", token, {"body": body})
            return f"updated the report comment on pull request #{pr} (comment {existing['id']})"
        created = _api("POST", f"{base}/issues/{pr}/comments", token, {"body": body})
        return f"posted the report on pull request #{pr} (comment {created['id']})"
    except urllib.error.HTTPError as err:
        if err.code in (403, 404):
            # a pull request from a fork gets a read-only token: not worth failing the run
            return (
                f"could not comment on pull request #{pr} (HTTP {err.code}: the token cannot write "
                "to pull requests, as for a fork): the report is in the job summary and artifact"
            )
        raise PipelineError(f"GitHub API answered HTTP {err.code} for pull request #{pr}") from None
    except (urllib.error.URLError, OSError) as err:
        raise PipelineError(f"GitHub API at {api} unreachable ({err})") from None


def pr_number(env: Mapping[str, str]) -> int | None:
    """The pull request number from the event GitHub Actions describes in GITHUB_EVENT_PATH."""
    path = env.get("GITHUB_EVENT_PATH")
    if path and Path(path).exists():
        event = json.loads(Path(path).read_text(encoding="utf-8"))
        number = (event.get("pull_request") or {}).get("number")
        return int(number) if number else None
    return None


def report_base(env: Mapping[str, str]) -> str:
    """The Git revision CI compares with: the pull request's target branch, or the previous
    tip of the branch for a push (`github.event.before`, all zeros for a new branch)."""
    event = env.get("GITHUB_EVENT_NAME", "")
    if event.startswith("pull_request") and env.get("GITHUB_BASE_REF"):
        return f"origin/{env['GITHUB_BASE_REF']}"
    before = env.get("BEFORE_SHA", "").strip()
    if event == "push" and before and set(before) != {"0"}:
        known = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", f"{before}^{{commit}}"], capture_output=True
        )
        if known.returncode == 0:
            return before
    return "HEAD~1"


# ------------------------------------------------------------------------------- yaml


def yaml_files() -> list[Path]:
    """YAML files Git tracks or would track (dvc.lock and *.dvc are YAML too)."""
    out = subprocess.run(
        [
            "git",
            "ls-files",
            "--cached",
            "--others",
            "--exclude-standard",
            "--",
            "*.yaml",
            "*.yml",
            "dvc.lock",
            "*.dvc",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [Path(p) for p in out.splitlines() if Path(p).is_file()]


def stale_code(root: Path = Path(".")) -> list[str]:
    """Dependencies Git tracks (code, conf/, schemas) whose md5 is not the one dvc.lock records:
    `stage: path` for each. Needs no data, so `make lint` catches a commit that changed code
    without re-locking, which a fresh clone's `make run` would otherwise rerun and rewrite."""
    import hashlib
    import subprocess

    import yaml

    from tabpipe.io import LOCK

    root = Path(root)
    lock = yaml.safe_load((root / LOCK).read_text(encoding="utf-8")) or {}
    tracked = set(
        subprocess.run(
            ["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.splitlines()
    )
    stale = []
    for stage, entry in lock.get("stages", {}).items():
        for dep in entry.get("deps", []):
            path, recorded = dep.get("path", ""), dep.get("md5")
            if path not in tracked or not recorded:
                continue
            digest = hashlib.md5((root / path).read_bytes()).hexdigest()  # noqa: S324 (DVC's hash)
            if digest != recorded:
                stale.append(f"{stage}: {path}")
    return stale


def check_yaml(paths: list[Path]) -> list[str]:
    """One line per file that is not valid YAML: `path:line:column: problem`."""
    import yaml

    problems = []
    for path in paths:
        try:
            list(yaml.safe_load_all(Path(path).read_text(encoding="utf-8")))
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
            problems.append(f"{where}: {getattr(err, 'problem', None) or err}")
        except (OSError, UnicodeDecodeError) as err:
            problems.append(f"{path}: {err}")
    return problems


# ------------------------------------------------------------------------------- plot images
# GitHub shows no data: URI and no relative path in a comment or a job summary, so CI commits
# the report's PNGs to an orphan branch of the repository itself (Git Data API, the job's own
# token, no extra secret) and links them by commit SHA: a later push never changes an old link.

PLOTS_BRANCH = "tabpipe-plots"
IMAGES_NOTE = (
    "Plot images: not published for this run (a fork's token cannot write); they are in the "
    "`dvc-plots` artifact, with a page that draws them offline (`index.html`)."
)
IMG_TAG = re.compile(r'<img src="([^"]+)" alt="([^"]*)"[^>]*>')


def image_sources(body: str) -> list[str]:
    """The `src` of every <img> tag the report holds, in order."""
    return [m.group(1) for m in IMG_TAG.finditer(body)]


def link_images(body: str, urls: Mapping[str, str], note: str = "") -> str:
    """Point each <img> at its published URL; an image without one becomes its name in
    backticks, and `note` (where to find the images) follows the report when any is missing."""
    missing = []

    def swap(match: re.Match) -> str:
        src, alt = match.group(1), match.group(2)
        if src in urls:
            return match.group(0).replace(f'src="{src}"', f'src="{urls[src]}"', 1)
        missing.append(alt)
        return f"`{alt}`"

    out = IMG_TAG.sub(swap, body)
    if missing and note:
        out = out.rstrip("\n") + "\n\n" + note + "\n"
    return out


def check_comment(body: str) -> list[str]:
    """What would not render on GitHub: relative or data: image sources, a body too long."""
    problems = [
        f"image {src} is not an https:// URL (GitHub shows no relative path or data: URI)"
        for src in image_sources(body)
        if not src.startswith("https://")
    ]
    if len(body) > MAX_COMMENT:
        problems.append(f"{len(body)} characters: GitHub refuses more than 65,536")
    return problems


def _get_ref(base: str, branch: str, token: str) -> str | None:
    try:
        ref = _api("GET", f"{base}/git/ref/heads/{branch}", token)
    except urllib.error.HTTPError as err:
        if err.code in (404, 409):  # no such branch yet; 409: the repository is empty
            return None
        raise
    return ref["object"]["sha"]


def publish_images(
    files: Mapping[str, Path],
    repo: str,
    token: str,
    prefix: str,
    api: str = "https://api.github.com",
    server: str = "https://github.com",
    branch: str = PLOTS_BRANCH,
    attempts: int = 3,
) -> dict[str, str]:
    """Commit `files` (report src -> local file) under `prefix/` on `branch`, created as an
    orphan branch if missing; returns report src -> image URL pinned to the new commit."""
    import base64

    base = f"{api.rstrip('/')}/repos/{repo}"
    blobs = {
        src: _api(
            "POST",
            f"{base}/git/blobs",
            token,
            {"content": base64.b64encode(Path(path).read_bytes()).decode(), "encoding": "base64"},
        )["sha"]
        for src, path in files.items()
    }
    paths = {src: f"{prefix}/{Path(path).name}" for src, path in files.items()}
    for attempt in range(attempts):
        parent = _get_ref(base, branch, token)
        tree: dict = {
            "tree": [
                {"path": paths[src], "mode": "100644", "type": "blob", "sha": sha}
                for src, sha in blobs.items()
            ]
        }
        if parent:
            tree["base_tree"] = _api("GET", f"{base}/git/commits/{parent}", token)["tree"]["sha"]
        tree_sha = _api("POST", f"{base}/git/trees", token, tree)["sha"]
        commit = _api(
            "POST",
            f"{base}/git/commits",
            token,
            {
                "message": f"plots of {prefix}",
                "tree": tree_sha,
                "parents": [parent] if parent else [],
            },
        )["sha"]
        try:
            if parent:
                _api(
                    "PATCH",
                    f"{base}/git/refs/heads/{branch}",
                    token,
                    {"sha": commit, "force": False},
                )
            else:
                _api(
                    "POST",
                    f"{base}/git/refs",
                    token,
                    {"ref": f"refs/heads/{branch}", "sha": commit},
                )
        except urllib.error.HTTPError as err:
            # 422: another run moved the branch meanwhile (not a fast-forward): try again
            if err.code == 422 and attempt + 1 < attempts:
                continue
            raise
        return {src: f"{server.rstrip('/')}/{repo}/raw/{commit}/{paths[src]}" for src in files}
    raise AssertionError("unreachable")


def publish_report_images(
    body: str, root: Path, repo: str, token: str, prefix: str, api: str, server: str
) -> tuple[dict[str, str], str]:
    """Publish the images `body` links (paths relative to `root`); (urls, one line for the log).

    Never fails the run: a fork's read-only token (HTTP 403/404) or an unreachable API leaves
    the urls empty, and the comment names the images and the artifact instead."""
    files = {src: root / src for src in image_sources(body) if (root / src).is_file()}
    if not files:
        return {}, "no plot images to publish"
    try:
        urls = publish_images(files, repo, token, prefix, api, server)
    except urllib.error.HTTPError as err:
        return {}, (
            f"could not publish the plot images (HTTP {err.code}: the token cannot write to "
            "the repository, as for a fork): the comment names them instead"
        )
    except (urllib.error.URLError, OSError) as err:
        return {}, f"could not publish the plot images ({err}): the comment names them instead"
    return urls, f"published {len(urls)} plot images to branch {PLOTS_BRANCH} under {prefix}/"
