"""The pipeline's stage entry points, one module per DVC stage.

Linear-algebra libraries split work across threads in an order that can change the last bits
of a float result; pinning them to one thread keeps every output bit-for-bit reproducible on
any machine (the committed dvc.lock holds their hashes). Set before NumPy is imported.
"""

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")
