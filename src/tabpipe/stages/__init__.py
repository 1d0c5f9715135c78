"""The pipeline's stage entry points, one module per DVC stage (`python -m tabpipe.stages.X`).

The numeric kernels and thread counts are pinned by the package itself (tabpipe.numerics),
before any stage imports NumPy.
"""
