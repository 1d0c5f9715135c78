"""The test suite. Importing tabpipe here, before any test module imports NumPy, pins the
numeric kernels (tabpipe.numerics) in the test process as in every stage and server it starts:
otherwise this process computes with the machine's own kernels and its last bits differ."""

import tabpipe  # noqa: F401
