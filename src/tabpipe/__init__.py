"""tabpipe: a reproducible, data-versioned tabular ML pipeline (DVC stages, Hydra config).

Importing the package pins the numeric kernels (tabpipe.numerics) before NumPy loads, so every
stage and command computes the same bits on every x86-64 machine.
"""

from tabpipe import numerics

numerics.pin()
