"""The pipeline's logic: functions of DataFrames, config sections and estimators.

Nothing here knows about DVC, stages, serving, monitoring or the CLI (import-linter checks it,
`make lint`); file paths and formats belong to tabpipe.io, one floor down.
"""
