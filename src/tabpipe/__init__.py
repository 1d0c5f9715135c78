"""tabpipe: a reproducible, data-versioned tabular ML pipeline (DVC stages, Hydra config)."""
